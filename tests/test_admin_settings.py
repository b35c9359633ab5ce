"""The administration pages: platform two-factor settings, mail server, SMS provider, access."""
import re

import pytest
from sqlalchemy import select, text

from tests.conftest import csrf_token, gen_admin, post_form, sign_in
from tfa import settings
from tfa.extensions import db
from tfa.models import SecurityEvent, Setting

PRODUCTION = dict(TFA_ENV="production", SECRET_KEY="p" * 40)
# Every field of the two-factor form at its default (SPEC 2), as a browser posts it.
DEFAULT_FORM = {
    "issuer_name": "tfa",
    "sms_template": "Verification code: ${code}",
    "sms_code_lifetime": "120",
    "email_code_lifetime": "120",
    "backup_codes_count": "10",
    "total_verification_time": "3600",
    "retry_period": "30",
    "max_failures": "30",
    "check_limit_attempts": "3",
    "check_limit_seconds": "900",
    "enforce_for": "all",
    "remember_device_days": "0",
    "lockout_notification_email": "",
}
LABELS = [
    "Authenticator app", "Issuer name", "SMS", "Verification message template",
    "Verification code lifetime (SMS)", "Email", "Verification code lifetime (Email)", "Backup code",
    "Number of codes", "Total allowed time for verification", "Retry verification code period",
    "Max verification failures before user lockout", "Verification code check rate limit",
    "Number of checking attempts", "Within time", "Enforce two-factor authentication", "Enforce for",
    "Remember device for (days)", "Lockout notification email",
]


@pytest.fixture
def admin_client(client, admin):
    assert sign_in(client, admin.email).status_code == 303
    return client


def production_client(app):
    """A client for an app in production mode (secure cookies: the requests go over https)."""
    client = app.test_client()
    client.environ_base["wsgi.url_scheme"] = "https"
    return client


def errors_of(response):
    """The messages shown next to fields."""
    return re.findall(r'<small class="error" id="[^"]+">([^<]*)</small>', response.get_data(as_text=True))


def label_texts(html):
    return [re.sub(r"\s+", " ", t).strip() for t in re.findall(r"<label[^>]*>(?:<input[^>]*>)?([^<]*)", html)]


def save_two_factor(client, headers=None, **changes):
    data = {**DEFAULT_FORM, **changes}
    data = {k: v for k, v in data.items() if v is not None}
    return post_form(client, "/admin/two-factor", data, headers=headers)


def stored(key):
    row = db.session.get(Setting, key)
    return row.value if row else None


# --- Two-factor authentication ------------------------------------------------------------------

def test_two_factor_page_has_every_field_with_its_label_and_default(admin_client):
    page = admin_client.get("/admin/two-factor")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<title>Two-factor authentication · tfa" in html and "<h1>Two-factor authentication</h1>" in html
    assert label_texts(html) == LABELS
    for name in ("totp_enabled", "sms_enabled", "email_enabled", "backup_codes_enabled",
                 "check_limit_enabled", "enforce_enabled"):
        assert re.search(rf'<input id="{name}" name="{name}" role="switch" type="checkbox" value="y">', html)
    for name, value in DEFAULT_FORM.items():
        if name not in ("sms_template", "enforce_for", "lockout_notification_email"):
            assert f'name="{name}" step="1" type="number" value="{value}"' in html or \
                f'name="{name}" type="text" value="{value}"' in html, name
    assert "Verification code: ${code}</textarea>" in html
    assert '<option selected value="all">All users</option>' in html
    assert '<option value="admins">Administrators</option>' in html
    assert ">Save</button>" in html
    assert 'hx-post="/admin/two-factor" hx-target="this" hx-swap="outerHTML"' in html


def test_admin_navigation_links_the_settings_pages(admin_client):
    html = admin_client.get("/admin/mail").get_data(as_text=True)
    nav = html[html.index('<nav class="admin-nav"'):]
    nav = nav[:nav.index("</nav>")]
    assert '<a href="/admin/two-factor">Two-factor authentication</a>' in nav
    assert '<a href="/admin/mail" aria-current="page">Mail server</a>' in nav
    assert '<a href="/admin/sms">SMS provider</a>' in nav
    assert '<a href="/admin/users">Users</a>' in nav


def test_saving_stores_the_settings_and_records_the_change(admin_client, admin):
    response = save_two_factor(admin_client, totp_enabled="y", issuer_name="Acme", sms_code_lifetime="300",
                               max_failures="0", remember_device_days="30", enforce_enabled="y",
                               enforce_for="admins", lockout_notification_email="security@example.com")
    assert response.status_code == 303 and response.headers["Location"] == "/admin/two-factor"
    page = admin_client.get("/admin/two-factor").get_data(as_text=True)
    assert "Settings saved" in page
    assert 'name="sms_code_lifetime" step="1" type="number" value="300"' in page
    s = settings.two_factor()
    assert (s.totp_enabled, s.issuer_name, s.sms_code_lifetime, s.max_failures) == (True, "Acme", 300, 0)
    assert (s.remember_device_days, s.enforce_enabled, s.enforce_for) == (30, True, "admins")
    assert s.lockout_notification_email == "security@example.com"
    event = db.session.scalar(select(SecurityEvent).where(SecurityEvent.kind == "settings_changed"))
    assert event.actor_id == admin.id
    assert event.details["section"] == "two_factor"
    assert event.details["changes"]["sms_code_lifetime"] == [120, 300]


def test_htmx_save_redirects_with_hx_redirect(admin_client):
    token = csrf_token(admin_client.get("/admin/two-factor"))
    response = admin_client.post("/admin/two-factor", data={**DEFAULT_FORM, "totp_enabled": "y"},
                                 headers={"HX-Request": "true", "X-CSRFToken": token})
    assert response.status_code == 204 and response.headers["HX-Redirect"] == "/admin/two-factor"
    assert settings.two_factor().totp_enabled


def test_htmx_error_is_a_422_fragment(admin_client):
    token = csrf_token(admin_client.get("/admin/two-factor"))
    response = admin_client.post("/admin/two-factor", data={**DEFAULT_FORM, "retry_period": "1"},
                                 headers={"HX-Request": "true", "X-CSRFToken": token})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "<html" not in html and html.lstrip().startswith('<form id="two-factor-form"')
    assert "Must be at least 5" in errors_of(response)
    assert 'aria-invalid="true"' in html and "autofocus" in html


RULES = [
    ("issuer_name", "", "Issuer name is required"),
    ("issuer_name", "   ", "Issuer name is required"),
    ("issuer_name", "x" * 65, "Issuer name must be at most 64 characters"),
    ("sms_template", "Your code", "Verification message must contain ${code}"),
    ("sms_template", "${code}" + "x" * 314, "Verification message must be at most 320 characters"),
    ("sms_code_lifetime", "0", "Must be at least 1"),
    ("email_code_lifetime", "0", "Must be at least 1"),
    ("backup_codes_count", "0", "Must be between 1 and 50"),
    ("backup_codes_count", "51", "Must be between 1 and 50"),
    ("total_verification_time", "59", "Must be at least 60"),
    ("retry_period", "4", "Must be at least 5"),
    ("max_failures", "-1", "Must be between 0 and 65535"),
    ("max_failures", "65536", "Must be between 0 and 65535"),
    ("check_limit_attempts", "0", "Must be at least 1"),
    ("check_limit_seconds", "0", "Must be at least 1"),
    ("remember_device_days", "366", "Must be between 0 and 365"),
    ("remember_device_days", "-1", "Must be between 0 and 365"),
    ("lockout_notification_email", "not-an-email", "Enter a valid email address"),
    ("enforce_for", "everyone", "Choose All users or Administrators"),
    ("enforce_for", None, "Choose All users or Administrators"),
    # Bad input of any kind: text, other scripts' digits, huge numbers, missing fields.
    ("sms_code_lifetime", "abc", "Enter a whole number using the digits 0-9"),
    ("sms_code_lifetime", "١٢", "Enter a whole number using the digits 0-9"),
    ("retry_period", "１２", "Enter a whole number using the digits 0-9"),
    ("backup_codes_count", "1.5", "Enter a whole number using the digits 0-9"),
    ("email_code_lifetime", "1e3", "Enter a whole number using the digits 0-9"),
    ("total_verification_time", "9" * 400, "Value is too large"),
    ("total_verification_time", "100000001", "Value is too large"),
    ("max_failures", "99999999999999999999", "Value is too large"),
    ("sms_code_lifetime", "", "Enter a number"),
    ("check_limit_seconds", None, "Enter a number"),
]


@pytest.mark.parametrize("name, value, message", RULES)
def test_every_rule_has_its_message_and_nothing_is_saved(admin_client, name, value, message):
    response = save_two_factor(admin_client, totp_enabled="y", **{name: value})
    assert response.status_code == 422
    assert errors_of(response) == [message]
    html = response.get_data(as_text=True)
    assert f'aria-describedby="{name}-error"' in html
    assert stored("two_factor") is None


@pytest.mark.parametrize("changes, name, message", [
    ({"backup_codes_enabled": "y"}, "backup_codes_enabled", "Backup codes need another method"),
    ({"enforce_enabled": "y"}, "enforce_enabled", "Enforcement needs at least one method turned on"),
])
def test_rules_across_fields(admin_client, changes, name, message):
    response = save_two_factor(admin_client, **changes)
    assert response.status_code == 422
    assert errors_of(response) == [message]
    assert f'id="{name}-error"' in response.get_data(as_text=True)
    assert stored("two_factor") is None
    assert save_two_factor(admin_client, totp_enabled="y", **changes).status_code == 303


@pytest.mark.config(**PRODUCTION)
def test_sms_and_email_need_their_delivery_set_up(app, admin):
    client = production_client(app)
    sign_in(client, admin.email)
    response = save_two_factor(client, sms_enabled="y", email_enabled="y")
    assert response.status_code == 422
    assert errors_of(response) == ["SMS provider is not configured", "Mail server is not configured"]
    assert stored("two_factor") is None


def test_development_outbox_counts_as_mail_and_sms(admin_client):
    assert save_two_factor(admin_client, sms_enabled="y", email_enabled="y").status_code == 303
    assert settings.two_factor().enabled_methods == ["sms", "email"]


def test_several_messages_show_at_once(admin_client):
    response = save_two_factor(admin_client, issuer_name="", retry_period="x", backup_codes_count="99")
    assert response.status_code == 422
    assert errors_of(response) == ["Issuer name is required", "Must be between 1 and 50",
                                   "Enter a whole number using the digits 0-9"]


def test_posting_without_csrf_token_changes_nothing(admin_client):
    response = admin_client.post("/admin/two-factor", data={**DEFAULT_FORM, "totp_enabled": "y"})
    assert response.status_code == 400
    assert stored("two_factor") is None


# --- Mail server -------------------------------------------------------------------------------

MAIL_FORM = {"host": "smtp.example.com", "port": "587", "security": "starttls", "username": "mailer",
             "password": "mail-password-plaintext", "sender": "tfa@example.com", "timeout": "10"}


def test_mail_page_has_its_fields(admin_client):
    page = admin_client.get("/admin/mail")
    html = page.get_data(as_text=True)
    assert "<h1>Mail server</h1>" in html and "<title>Mail server · tfa" in html
    assert label_texts(html) == ["SMTP host", "Port", "Security", "Username", "Password", "Sender address",
                                 "Timeout (seconds)", "Recipient"]
    assert ">None</option>" in html and ">SSL</option>" in html and ">STARTTLS</option>" in html
    assert ">Save</button>" in html and ">Send test email</button>" in html
    assert page.headers["Cache-Control"] == "no-store"


def test_mail_password_is_stored_encrypted_and_never_shown(admin_client, admin):
    response = post_form(admin_client, "/admin/mail", MAIL_FORM)
    assert response.status_code == 303
    page = admin_client.get("/admin/mail").get_data(as_text=True)
    assert "Settings saved" in page
    assert "mail-password-plaintext" not in page
    assert 'value="smtp.example.com"' in page and "A password is stored" in page
    raw = db.session.execute(text("SELECT value FROM settings WHERE key = 'mail'")).scalar_one()
    raw = raw if isinstance(raw, str) else str(raw)
    assert "mail-password-plaintext" not in raw and "smtp.example.com" in raw
    from tfa.delivery import mail

    current = mail.current_settings()
    assert current.password_encrypted and current.security == "starttls"
    event = db.session.scalar(select(SecurityEvent).where(SecurityEvent.kind == "settings_changed"))
    assert event.details["section"] == "mail" and event.details["secrets_changed"] == ["password"]
    assert event.details["changes"]["host"] == ["", "smtp.example.com"]
    assert "mail-password-plaintext" not in str(event.details)

    # An empty password keeps the stored one.
    assert post_form(admin_client, "/admin/mail", {**MAIL_FORM, "password": "", "port": "2525"}).status_code == 303
    again = mail.current_settings()
    assert again.port == 2525 and again.password_encrypted == current.password_encrypted
    last = db.session.scalars(select(SecurityEvent).order_by(SecurityEvent.id.desc())).first()
    assert last.details["secrets_changed"] == [] and last.details["changes"] == {"port": [587, 2525]}


@pytest.mark.parametrize("name, value, message", [
    ("host", "", "Enter the SMTP host"),
    ("host", "smtp example.com", "Enter a host name or IP address"),
    ("port", "0", "Must be between 1 and 65535"),
    ("port", "70000", "Must be between 1 and 65535"),
    ("port", "٢٥", "Enter a whole number using the digits 0-9"),
    ("port", "", "Enter a number"),
    ("security", "tls", "Choose None, SSL or STARTTLS"),
    ("sender", "", "Enter the sender address"),
    ("sender", "not an address", "Enter a valid email address"),
    ("timeout", "0", "Must be between 1 and 120"),
    ("timeout", "9" * 50, "Value is too large"),
    ("username", "u" * 300, "At most 254 characters"),
])
def test_mail_rules(admin_client, name, value, message):
    response = post_form(admin_client, "/admin/mail", {**MAIL_FORM, name: value})
    assert response.status_code == 422
    assert errors_of(response) == [message]
    assert "mail-password-plaintext" not in response.get_data(as_text=True)
    assert stored("mail") is None


@pytest.mark.config(MAIL_SERVER="smtp.preset.example", MAIL_PORT=465, MAIL_USE_SSL=True,
                    MAIL_DEFAULT_SENDER="preset@example.com", MAIL_USERNAME="preset", MAIL_PASSWORD="env-secret")
def test_environment_presets_apply_until_settings_are_saved(admin_client):
    html = admin_client.get("/admin/mail").get_data(as_text=True)
    assert "come from the environment" in html
    assert 'value="smtp.preset.example"' in html and 'value="465"' in html
    assert '<option selected value="ssl">SSL</option>' in html
    assert "env-secret" not in html
    from tfa.delivery import mail

    assert mail.is_configured_server()
    # Saving without a password keeps the preset's, now stored encrypted.
    post_form(admin_client, "/admin/mail", {**MAIL_FORM, "host": "smtp.saved.example", "password": ""})
    saved = mail.current_settings()
    assert saved.source == "saved" and saved.host == "smtp.saved.example"
    from tfa import crypto

    assert crypto.decrypt(saved.password_encrypted.encode()) == "env-secret"
    assert "env-secret" not in str(stored("mail"))


def test_test_email_form_validates_the_recipient(admin_client):
    response = post_form(admin_client, "/admin/mail/test", {"recipient": "nope"}, page_url="/admin/mail")
    assert response.status_code == 422
    assert errors_of(response) == ["Enter a valid email address"]


def test_test_email_without_a_server_goes_to_the_outbox_in_development(admin_client):
    response = post_form(admin_client, "/admin/mail/test", {"recipient": "someone@example.com"},
                         page_url="/admin/mail")
    assert response.status_code == 303
    page = admin_client.get("/admin/mail").get_data(as_text=True)
    assert "No mail server is set up: the test email to someone@example.com is in the outbox" in page
    assert "someone@example.com" in admin_client.get("/dev/outbox").get_data(as_text=True)


@pytest.mark.config(**PRODUCTION)
def test_test_email_without_a_server_in_production_says_so(app, admin):
    client = production_client(app)
    sign_in(client, admin.email)
    response = post_form(client, "/admin/mail/test", {"recipient": "someone@example.com"}, page_url="/admin/mail")
    assert response.status_code == 502
    assert "The test email could not be sent: Mail server is not configured" in response.get_data(as_text=True)


# --- SMS provider ------------------------------------------------------------------------------

TWILIO_FORM = {"provider": "twilio", "twilio_account_sid": "AC" + "0" * 32,
               "twilio_auth_token": "twilio-token-plaintext", "twilio_from_number": "+1 415 555 2671"}
SNS_FORM = {"provider": "sns", "sns_access_key_id": "AKIAEXAMPLEKEY123", "sns_secret_key": "sns-secret-plaintext",
            "sns_region": "eu-west-1", "sns_endpoint_url": ""}
HTTP_FORM = {"provider": "http", "http_url": "https://sms.example.com/send", "http_method": "POST",
             "http_headers": "Authorization: Bearer header-secret-plaintext\nX-Api: 1",
             "http_body_template": '{"to": "${phone}", "text": "${message}"}'}


def test_sms_page_has_its_fields(admin_client):
    page = admin_client.get("/admin/sms")
    html = page.get_data(as_text=True)
    assert "<h1>SMS provider</h1>" in html and "<title>SMS provider · tfa" in html
    labels = label_texts(html)
    for label in ("Provider", "Account SID", "Auth token", "Sender number", "Access key ID", "Secret access key",
                  "Region", "Endpoint URL", "URL", "Method", "Headers", "Body template", "Phone number"):
        assert label in labels
    for choice in ("Twilio", "AWS SNS", "HTTP gateway", "Outbox"):
        assert f">{choice}</option>" in html
    assert ">Send test SMS</button>" in html
    assert page.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("form, secrets", [
    (TWILIO_FORM, ["twilio-token-plaintext"]),
    (SNS_FORM, ["sns-secret-plaintext"]),
    (HTTP_FORM, ["header-secret-plaintext"]),
])
def test_sms_credentials_are_stored_encrypted_and_never_shown(admin_client, form, secrets):
    response = post_form(admin_client, "/admin/sms", form)
    assert response.status_code == 303
    page = admin_client.get("/admin/sms").get_data(as_text=True)
    assert "Settings saved" in page and "Stored encrypted; leave this empty to keep it." in page
    raw = str(db.session.execute(text("SELECT value FROM settings WHERE key = 'sms'")).scalar_one())
    events = str(db.session.execute(text("SELECT details FROM security_events")).scalars().all())
    for secret in secrets:
        assert secret not in page and secret not in raw and secret not in events
    from tfa.delivery import sms

    provider = sms.configured_provider()
    assert provider is not None and provider.name == {"twilio": "Twilio", "sns": "AWS SNS", "http": "HTTP gateway"}[form["provider"]]
    assert f"Codes are sent through <strong>{provider.name}</strong>" in page
    # Saving again with the secret empty keeps it.
    name = {"twilio": "twilio_auth_token", "sns": "sns_secret_key", "http": "http_headers"}[form["provider"]]
    before = sms.current_settings().secret(name)
    assert post_form(admin_client, "/admin/sms", {**form, name: ""}).status_code == 303
    assert sms.current_settings().secret(name) == before


def test_twilio_number_is_stored_in_e164(admin_client):
    post_form(admin_client, "/admin/sms", TWILIO_FORM)
    from tfa.delivery import sms

    assert sms.current_settings().twilio_from_number == "+14155552671"


@pytest.mark.parametrize("form, name, value, message", [
    (TWILIO_FORM, "twilio_account_sid", "SID", "Enter the account SID: AC followed by 32 characters"),
    (TWILIO_FORM, "twilio_auth_token", "", "Enter the auth token"),
    (TWILIO_FORM, "twilio_from_number", "4155552671", "Enter the number in international format, such as +14155552671"),
    (TWILIO_FORM, "twilio_from_number", "+1 000", "This is not a valid phone number"),
    (SNS_FORM, "sns_access_key_id", "key", "Enter the access key ID: 16 or more capital letters and digits"),
    (SNS_FORM, "sns_secret_key", "", "Enter the secret access key"),
    (SNS_FORM, "sns_region", "Europe", "Enter an AWS region, such as us-east-1"),
    (SNS_FORM, "sns_endpoint_url", "ftp://sns.example", "Enter a URL starting with http:// or https://"),
    (HTTP_FORM, "http_url", "", "Enter the gateway URL"),
    (HTTP_FORM, "http_url", "file:///etc/passwd", "Enter a URL starting with http:// or https://"),
    (HTTP_FORM, "http_method", "DELETE", "Choose POST, PUT or GET"),
    (HTTP_FORM, "http_headers", "no colon here", "Line 1 is not a header: write one Name: value a line"),
    (HTTP_FORM, "http_body_template", '{"to": "${phone}"}', "The URL or body template must contain ${message}"),
    (HTTP_FORM, "provider", "carrier-pigeon", "Choose Twilio, AWS SNS, HTTP gateway or Outbox"),
])
def test_sms_rules(admin_client, form, name, value, message):
    response = post_form(admin_client, "/admin/sms", {**form, name: value})
    assert response.status_code == 422
    assert errors_of(response) == [message]
    assert stored("sms") is None


def test_get_gateway_takes_the_placeholders_in_the_url(admin_client):
    form = {**HTTP_FORM, "http_method": "GET", "http_body_template": "",
            "http_url": "https://sms.example.com/send?to=${phone}&text=${message}"}
    assert post_form(admin_client, "/admin/sms", form).status_code == 303


def test_outbox_provider_in_development(admin_client):
    assert post_form(admin_client, "/admin/sms", {"provider": "outbox"}).status_code == 303
    response = post_form(admin_client, "/admin/sms/test", {"phone": "+14155552671"}, page_url="/admin/sms")
    assert response.status_code == 303
    assert "The test SMS to +14155552671 is in the outbox" in admin_client.get("/admin/sms").get_data(as_text=True)
    outbox = admin_client.get("/dev/outbox").get_data(as_text=True)
    assert "+14155552671" in outbox and "test message from tfa" in outbox


@pytest.mark.config(**PRODUCTION)
def test_outbox_provider_is_refused_in_production(app, admin):
    client = production_client(app)
    sign_in(client, admin.email)
    response = post_form(client, "/admin/sms", {"provider": "outbox"})
    assert response.status_code == 422
    assert errors_of(response) == ["The outbox is only available in development mode"]
    assert stored("sms") is None


@pytest.mark.parametrize("phone, message", [
    ("", "Enter a phone number"),
    ("4155552671", "Enter the number in international format, such as +14155552671"),
    ("+1 000 000", "This is not a valid phone number"),
    ("+١٤١٥٥٥٥٢٦٧١", "Enter the number in international format, such as +14155552671"),
])
def test_test_sms_validates_the_phone_number(admin_client, phone, message):
    response = post_form(admin_client, "/admin/sms/test", {"phone": phone}, page_url="/admin/sms")
    assert response.status_code == 422
    assert errors_of(response) == [message]


# --- Access ------------------------------------------------------------------------------------

def admin_rules(app):
    return [rule for rule in app.url_map.iter_rules() if rule.rule.startswith("/admin")]


def test_there_are_admin_routes_to_check(app):
    paths = {rule.rule for rule in admin_rules(app)}
    assert {"/admin", "/admin/two-factor", "/admin/mail", "/admin/mail/test", "/admin/sms", "/admin/sms/test"} <= paths


def _urls(app):
    """(url, methods it answers) for every admin path, with 1 for each argument."""
    urls = {}
    for rule in admin_rules(app):
        url = rule.rule
        for argument in rule.arguments:
            url = re.sub(rf"<(?:[^:<>]+:)?{argument}>", "1", url)
        urls.setdefault(url, set()).update(rule.methods)
    return urls.items()


def test_a_user_gets_403_on_every_admin_route(app, client, user):
    sign_in(client, user.email)
    token = csrf_token(client.get("/account/security"))
    for url, methods in _urls(app):
        for method in ("GET", "POST"):
            response = client.open(url, method=method, data={"csrf_token": token, "provider": "outbox"})
            # A method the route does not take is refused by routing (405) before any guard runs.
            assert response.status_code == (403 if method in methods else 405), (method, url)
    assert stored("sms") is None and stored("two_factor") is None and stored("mail") is None


def test_an_anonymous_visitor_is_sent_to_sign_in(app, client):
    token = csrf_token(client.get("/login"))
    for url, methods in _urls(app):
        for method in ("GET", "POST"):
            if method not in methods:
                continue
            response = client.open(url, method=method, data={"csrf_token": token})
            assert response.status_code == 302 and response.headers["Location"].startswith("/login"), url
            response = client.open(url, method=method, data={"csrf_token": token}, headers={"HX-Request": "true"})
            assert response.headers.get("HX-Redirect", "").startswith("/login"), url


def test_an_admin_reaches_every_admin_page(app, admin_client):
    for url, methods in _urls(app):
        if "GET" in methods:
            assert admin_client.get(url).status_code in (200, 303), url


def test_a_second_admin_sees_the_first_ones_settings(app, admin_client):
    save_two_factor(admin_client, totp_enabled="y", issuer_name="Shared")
    other = app.test_client()
    sign_in(other, gen_admin().email)
    assert 'value="Shared"' in other.get("/admin/two-factor").get_data(as_text=True)
