"""Email delivery through a real SMTP server on loopback (aiosmtpd), with STARTTLS and SSL, and every
way it can fail, as the "Send test email" button shows it."""
import datetime
import html
import ipaddress
import re
import socket
import ssl
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.conftest import csrf_token, free_port, post_form, sign_in
from tfa import delivery
from tfa.delivery import DeliveryError, mail, messages

MAIL_PASSWORD = "smtp-password-123"


@pytest.fixture
def admin_client(client, admin):
    sign_in(client, admin.email)
    return client


def configure_mail(client, port, security="none", username="", password="", host="127.0.0.1", timeout="5"):
    """Save the mail server settings through the admin page."""
    response = post_form(client, "/admin/mail", {
        "host": host, "port": str(port), "security": security, "username": username,
        "password": password, "sender": "tfa@example.com", "timeout": timeout,
    })
    assert response.status_code == 303, response.get_data(as_text=True)


def send_test_email(client, recipient="admin-inbox@example.com", htmx=False):
    if htmx:
        token = csrf_token(client.get("/admin/mail"))
        return client.post("/admin/mail/test", data={"recipient": recipient},
                           headers={"HX-Request": "true", "X-CSRFToken": token})
    return post_form(client, "/admin/mail/test", {"recipient": recipient}, page_url="/admin/mail")


def shown_error(response):
    match = re.search(r'<p class="flash flash-error" role="alert">([^<]*)</p>', response.get_data(as_text=True))
    return html.unescape(match.group(1)) if match else None


# --- Servers -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1 (its own authority), as PEM files."""
    directory = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tfa test mail server")])
    now = datetime.datetime.now(datetime.timezone.utc)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                    x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                       critical=False)
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def server_context(certificate):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


class Inbox:
    def __init__(self):
        self.messages = []
        self.logins = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos),
                              message_from_bytes(envelope.original_content or envelope.content, policy=policy.default),
                              server.transport.get_extra_info("ssl_object") is not None))
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("nobody@"):
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"


def check_login(server, session, envelope, mechanism, auth_data):
    ok = auth_data.login == b"mailer" and auth_data.password == MAIL_PASSWORD.encode()
    return AuthResult(success=ok, handled=False)


def start(controller):
    controller.start()
    return controller.port


@pytest.fixture
def starttls_server(certificate):
    """An SMTP server that requires STARTTLS, with a self-signed certificate, and a login."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), tls_context=server_context(certificate),
                            require_starttls=True, authenticator=check_login, auth_require_tls=True)
    inbox.port = start(controller)
    yield inbox
    controller.stop()


@pytest.fixture
def ssl_server(certificate):
    """An SMTP server on implicit TLS (SMTPS)."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), ssl_context=server_context(certificate))
    inbox.port = start(controller)
    yield inbox
    controller.stop()


@pytest.fixture
def plain_server_with_checks():
    """A plain SMTP server that refuses some recipients and checks a login."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), authenticator=check_login, auth_require_tls=False)
    inbox.port = start(controller)
    yield inbox
    controller.stop()


@pytest.fixture
def closed_port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


@pytest.fixture
def silent_port():
    """A port that accepts connections and never says a word."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    yield sock.getsockname()[1]
    sock.close()


# --- Sending -----------------------------------------------------------------------------------

def test_test_email_arrives_at_the_smtp_server(admin_client, smtp_server):
    configure_mail(admin_client, smtp_server.port)
    response = send_test_email(admin_client)
    assert response.status_code == 303
    assert "Test email sent to admin-inbox@example.com" in admin_client.get("/admin/mail").get_data(as_text=True)
    received = smtp_server.last_to("admin-inbox@example.com")
    assert received.sender == "tfa@example.com"
    assert received.subject == "Test email from tfa"
    assert "the mail server settings work" in received.text


def test_test_email_over_htmx_shows_the_result_in_place(admin_client, smtp_server):
    configure_mail(admin_client, smtp_server.port)
    response = send_test_email(admin_client, htmx=True)
    assert response.status_code == 200
    fragment = response.get_data(as_text=True)
    assert fragment.lstrip().startswith('<form id="test-email-form"')
    assert "Test email sent to admin-inbox@example.com" in fragment
    assert len(smtp_server.messages) == 1


def test_starttls_with_a_trusted_certificate_and_a_login(app, admin_client, starttls_server, certificate):
    app.config["MAIL_CA_FILE"] = str(certificate[0])
    configure_mail(admin_client, starttls_server.port, "starttls", "mailer", MAIL_PASSWORD)
    assert send_test_email(admin_client).status_code == 303
    sender, recipients, message, over_tls = starttls_server.messages[-1]
    assert recipients == ["admin-inbox@example.com"] and message["Subject"] == "Test email from tfa"
    assert over_tls


def test_starttls_refuses_an_untrusted_certificate(admin_client, starttls_server):
    # No MAIL_CA_FILE: the self-signed certificate is not trusted, and verification stays on.
    configure_mail(admin_client, starttls_server.port, "starttls", "mailer", MAIL_PASSWORD)
    response = send_test_email(admin_client)
    assert response.status_code == 502
    assert shown_error(response).startswith("The test email could not be sent: The mail server's certificate is not trusted")
    assert starttls_server.messages == []


def test_ssl_with_a_trusted_certificate(app, admin_client, ssl_server, certificate):
    app.config["MAIL_CA_FILE"] = str(certificate[0])
    configure_mail(admin_client, ssl_server.port, "ssl")
    assert send_test_email(admin_client).status_code == 303
    assert ssl_server.messages[-1][3]


def test_ssl_against_a_plain_server_says_to_check_the_security_setting(admin_client, smtp_server):
    configure_mail(admin_client, smtp_server.port, "ssl", timeout="2")
    response = send_test_email(admin_client)
    assert response.status_code == 502
    assert "check the Security setting" in shown_error(response)


def test_starttls_missing_on_the_server_is_explained(admin_client, smtp_server):
    configure_mail(admin_client, smtp_server.port, "starttls")
    response = send_test_email(admin_client)
    assert response.status_code == 502
    assert "does not support STARTTLS" in shown_error(response)


@pytest.mark.parametrize("htmx, status", [(False, 502), (True, 422)])
def test_wrong_password_is_a_clear_message(admin_client, plain_server_with_checks, htmx, status):
    configure_mail(admin_client, plain_server_with_checks.port, "none", "mailer", "wrong password")
    response = send_test_email(admin_client, htmx=htmx)
    assert response.status_code == status
    assert shown_error(response) == ("The test email could not be sent: "
                                     "The mail server did not accept the username or password")


def test_right_password_over_a_plain_connection(admin_client, plain_server_with_checks):
    configure_mail(admin_client, plain_server_with_checks.port, "none", "mailer", MAIL_PASSWORD)
    assert send_test_email(admin_client).status_code == 303
    assert len(plain_server_with_checks.messages) == 1


def test_refused_recipient_is_a_clear_message(admin_client, plain_server_with_checks):
    configure_mail(admin_client, plain_server_with_checks.port)
    response = send_test_email(admin_client, recipient="nobody@example.com")
    assert response.status_code == 502
    assert shown_error(response) == "The test email could not be sent: The mail server refused the recipient address"


def test_connection_refused_is_a_clear_message_and_the_page_keeps_working(admin_client, closed_port):
    configure_mail(admin_client, closed_port)
    response = send_test_email(admin_client)
    assert response.status_code == 502
    assert shown_error(response) == (f"The test email could not be sent: "
                                     f"The mail server at 127.0.0.1:{closed_port} refused the connection")
    assert admin_client.get("/admin/mail").status_code == 200


def test_a_silent_server_times_out(admin_client, silent_port):
    configure_mail(admin_client, silent_port, timeout="1")
    response = send_test_email(admin_client, htmx=True)
    assert response.status_code == 422
    assert shown_error(response) == (f"The test email could not be sent: "
                                     f"The mail server at 127.0.0.1:{silent_port} did not answer in time")


def test_an_unknown_host_is_a_clear_message(admin_client):
    configure_mail(admin_client, 25, host="no-such-host.invalid")
    response = send_test_email(admin_client)
    assert response.status_code == 502
    assert "could not be found" in shown_error(response) or "could not be reached" in shown_error(response)


def test_send_email_uses_the_server_and_never_the_outbox_once_configured(admin_client, smtp_server, app):
    configure_mail(admin_client, smtp_server.port)
    subject, text, html = messages.verification_email("123456", 2)
    delivery.send_email("user@example.com", subject, text, html)
    received = smtp_server.last_to("user@example.com")
    assert received.subject == "Your verification code"
    assert "123456" in received.text and "expires in 2 minutes" in received.text
    assert "123456" in received.html
    assert admin_client.get("/dev/outbox").get_data(as_text=True).count("user@example.com") == 0


def test_delivery_errors_are_delivery_errors(app, closed_port):
    settings = mail.MailSettings(host="127.0.0.1", port=closed_port, sender="tfa@example.com", timeout=1)
    with pytest.raises(DeliveryError, match="refused the connection"):
        mail.send("a@example.com", "Subject", "Body", settings=settings)
    with pytest.raises(DeliveryError, match="recipient or subject is not valid"):
        mail.send("a@example.com", "Subject\r\nBcc: x@example.com", "Body", settings=settings)


def test_failures_are_logged_without_the_body(admin_client, closed_port, caplog):
    configure_mail(admin_client, closed_port)
    with pytest.raises(DeliveryError):
        delivery.send_email("user@example.com", "Your verification code", "Your code is 987654")
    assert "refused the connection" in caplog.text
    assert "987654" not in caplog.text
