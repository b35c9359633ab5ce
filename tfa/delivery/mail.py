"""Email through an SMTP server with Flask-Mail, configured on the "Mail server" admin page.

Defends against leaking the mail password (stored encrypted, never shown back or logged) and
against a slow or hostile server holding a request forever (every connection has a timeout).
Certificates are always verified; `MAIL_CA_FILE` names extra trusted authorities (a private CA).
Message bodies hold codes, so nothing here logs one.
"""
import logging
import smtplib
import socket
import ssl
from dataclasses import asdict, dataclass, replace

import flask_mail
from flask import current_app

from tfa import crypto
from tfa.delivery import DeliveryError
from tfa.extensions import db
from tfa.settings import cached, store
from tfa.models import Setting

log = logging.getLogger("tfa.delivery.mail")

KEY = "mail"
SECURITY_NONE = "none"
SECURITY_SSL = "ssl"
SECURITY_STARTTLS = "starttls"
SECURITY_CHOICES = {SECURITY_NONE: "None", SECURITY_SSL: "SSL", SECURITY_STARTTLS: "STARTTLS"}
# The fields whose values are secret: stored encrypted, never shown, never in an event.
SECRET_FIELDS = ("password",)


@dataclass(frozen=True)
class MailSettings:
    host: str = ""
    port: int = 25
    security: str = SECURITY_NONE
    username: str = ""
    sender: str = ""
    timeout: int = 10
    # The password as a Fernet token (ASCII text); empty when there is none.
    password_encrypted: str = ""
    # "saved" (the admin page), "environment" (MAIL_* presets) or "" (nothing).
    source: str = ""

    @property
    def has_password(self) -> bool:
        return bool(self.password_encrypted)

    @property
    def is_complete(self) -> bool:
        return bool(self.host and self.sender)

    def stored(self) -> dict:
        """The document kept in the settings table."""
        value = asdict(self)
        del value["source"]
        return value


_STORED_FIELDS = set(MailSettings().stored())


def _from_environment(config) -> MailSettings:
    security = SECURITY_NONE
    if config.get("MAIL_USE_SSL"):
        security = SECURITY_SSL
    elif config.get("MAIL_USE_TLS"):
        security = SECURITY_STARTTLS
    password = config.get("MAIL_PASSWORD") or ""
    return MailSettings(
        host=config.get("MAIL_SERVER") or "",
        port=int(config.get("MAIL_PORT") or 25),
        security=security,
        username=config.get("MAIL_USERNAME") or "",
        sender=config.get("MAIL_DEFAULT_SENDER") or "",
        timeout=int(config.get("MAIL_TIMEOUT") or 10),
        password_encrypted=crypto.encrypt(password).decode("ascii") if password else "",
        source="environment" if config.get("MAIL_SERVER") else "",
    )


def current_settings() -> MailSettings:
    """The saved mail settings, or the environment presets when nothing is saved (cached as the
    platform settings are: tfa.settings.cached)."""
    return cached(KEY, _load)


def _load() -> MailSettings:
    row = db.session.get(Setting, KEY)
    if row is None:
        return _from_environment(current_app.config)
    known = {k: v for k, v in (row.value or {}).items() if k in _STORED_FIELDS}
    return replace(MailSettings(), **known, source="saved")


def save_settings(new: MailSettings, *, password: str | None, actor, client) -> MailSettings:
    """Store the settings; an empty `password` keeps the stored one. Records what changed."""
    old = current_settings()
    encrypted = crypto.encrypt(password).decode("ascii") if password else old.password_encrypted
    new = replace(new, password_encrypted=encrypted, source="saved")
    changes = {
        name: [getattr(old, name), getattr(new, name)]
        for name in ("host", "port", "security", "username", "sender", "timeout")
        if getattr(old, name) != getattr(new, name)
    }
    # Only the fact that a secret changed, never its value.
    secrets_changed = ["password"] if password else []
    store(KEY, new.stored(), new, actor=actor, client=client,
             details={"changes": changes, "secrets_changed": secrets_changed})
    return new


def is_configured_server() -> bool:
    """Whether an SMTP server is set up (a host and a sender address)."""
    return current_settings().is_complete


def _tls_context() -> ssl.SSLContext:
    # Verification always on; a CA file only adds authorities to trust.
    context = ssl.create_default_context()
    ca_file = current_app.config.get("MAIL_CA_FILE")
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    return context


class _Connection(flask_mail.Connection):
    """Flask-Mail's connection with a timeout and a verifying TLS context (0.10 has neither)."""

    def __init__(self, state, timeout):
        super().__init__(state)
        self.timeout = timeout

    def configure_host(self):
        state = self.mail
        if state.use_ssl:
            host = smtplib.SMTP_SSL(state.server, state.port, timeout=self.timeout, context=_tls_context())
        else:
            host = smtplib.SMTP(state.server, state.port, timeout=self.timeout)
        try:
            if state.use_tls:
                host.starttls(context=_tls_context())
            if state.username and state.password:
                host.login(state.username, state.password)
        except BaseException:
            host.close()
            raise
        return host

    def __exit__(self, exc_type, exc_value, tb):
        if self.host is None:
            return
        try:
            self.host.quit()
        except (smtplib.SMTPException, OSError):
            # The message went (or the error is already on its way up); closing is best effort.
            self.host.close()


def _state(settings: MailSettings):
    password = crypto.decrypt(settings.password_encrypted.encode("ascii")) if settings.has_password else None
    return flask_mail.Mail().init_mail({
        "MAIL_SERVER": settings.host,
        "MAIL_PORT": settings.port,
        "MAIL_USE_SSL": settings.security == SECURITY_SSL,
        "MAIL_USE_TLS": settings.security == SECURITY_STARTTLS,
        "MAIL_USERNAME": settings.username or None,
        "MAIL_PASSWORD": password,
        "MAIL_DEFAULT_SENDER": settings.sender,
        # Flask-Mail suppresses sending when TESTING; this path is only used to really send.
        "MAIL_SUPPRESS_SEND": False,
    })


def _reason(error: BaseException, settings: MailSettings) -> str:
    """A message for a person, from what went wrong talking to the server."""
    where = f"{settings.host}:{settings.port}"
    if isinstance(error, smtplib.SMTPAuthenticationError):
        return "The mail server did not accept the username or password"
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return "The mail server refused the recipient address"
    if isinstance(error, smtplib.SMTPSenderRefused):
        return "The mail server refused the sender address"
    if isinstance(error, smtplib.SMTPNotSupportedError):
        return "The mail server does not support STARTTLS or login: check the Security setting"
    if isinstance(error, smtplib.SMTPServerDisconnected) and isinstance(error.__context__, TimeoutError):
        return f"The mail server at {where} did not answer in time"
    if isinstance(error, smtplib.SMTPServerDisconnected):
        return f"The mail server at {where} closed the connection unexpectedly"
    if isinstance(error, smtplib.SMTPResponseException):
        return f"The mail server answered with an error ({error.smtp_code})"
    if isinstance(error, smtplib.SMTPException):
        return "The mail server did not accept the message"
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"The mail server's certificate is not trusted ({error.verify_message})"
    if isinstance(error, ssl.SSLError):
        return "A secure connection to the mail server could not be made: check the Security setting and port"
    if isinstance(error, (TimeoutError, socket.timeout)):
        return f"The mail server at {where} did not answer in time"
    if isinstance(error, ConnectionRefusedError):
        return f"The mail server at {where} refused the connection"
    if isinstance(error, socket.gaierror):
        return f"The mail server host {settings.host} could not be found"
    return f"The mail server at {where} could not be reached"


def send(to: str, subject: str, text: str, html: str | None = None, settings: MailSettings | None = None):
    """Send one email through the configured SMTP server; raises DeliveryError on any failure."""
    settings = settings or current_settings()
    if not settings.is_complete:
        raise DeliveryError("Mail server is not configured")
    message = flask_mail.Message(subject=subject, recipients=[to], body=text, html=html, sender=settings.sender)
    if message.has_bad_headers():
        raise DeliveryError("The recipient or subject is not valid")
    try:
        with _Connection(_state(settings), settings.timeout) as connection:
            connection.send(message)
    except (smtplib.SMTPException, OSError, ValueError, UnicodeError) as error:
        reason = _reason(error, settings)
        log.warning("email could not be sent through %s:%s: %s (%s)",
                    settings.host, settings.port, reason, type(error).__name__)
        raise DeliveryError(reason) from None
    except crypto.InvalidToken:
        log.error("the stored mail password cannot be decrypted with the configured keys")
        raise DeliveryError("The stored mail password cannot be read: enter it again") from None
