"""Encryption at rest and key rotation: `flask rotate-keys` re-encrypts every stored secret."""
from datetime import timedelta

import pytest
from flask import g
from cryptography.fernet import Fernet
from sqlalchemy import text

from tests.conftest import post_form, sign_in
from tfa import crypto
from tfa.delivery import mail, sms
from tfa.extensions import db
from tfa.models import PendingEnrollment, TwoFactorMethod
from tfa.types import utcnow

OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
PENDING_SECRET = "KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU"
MAIL_PASSWORD = "mail-password-at-rest"
TWILIO_TOKEN = "twilio-token-at-rest"
SNS_SECRET = "sns-secret-at-rest"
HEADERS = "Authorization: Bearer header-at-rest"
PLAINTEXTS = (TOTP_SECRET, PENDING_SECRET, MAIL_PASSWORD, TWILIO_TOKEN, SNS_SECRET, "header-at-rest")


def use_keys(app, keys):
    """Restart the app's encryption with other keys, as a new deployment would."""
    app.config["TFA_ENCRYPTION_KEYS"] = keys
    crypto.init_app(app)


def store_every_kind_of_secret(client, user):
    db.session.add(TwoFactorMethod(user_id=user.id, kind="totp", is_main=True,
                                   secret_encrypted=crypto.encrypt(TOTP_SECRET)))
    db.session.add(PendingEnrollment(id="pending-1", user_id=user.id, kind="totp",
                                     secret_encrypted=crypto.encrypt(PENDING_SECRET),
                                     expires_at=utcnow() + timedelta(minutes=10)))
    db.session.commit()
    assert post_form(client, "/admin/mail", {"host": "smtp.example.com", "port": "587", "security": "starttls",
                                             "username": "u", "password": MAIL_PASSWORD,
                                             "sender": "tfa@example.com", "timeout": "10"}).status_code == 303
    # Each provider's secret, then the gateway as the current provider: all stay stored.
    for form in (
        {"provider": "twilio", "twilio_account_sid": "AC" + "a" * 32, "twilio_auth_token": TWILIO_TOKEN,
         "twilio_from_number": "+14155552671"},
        {"provider": "sns", "sns_access_key_id": "AKIAIOSFODNN7EXAMPLE", "sns_secret_key": SNS_SECRET,
         "sns_region": "us-east-1"},
        {"provider": "http", "http_url": "https://sms.example.com/", "http_method": "POST",
         "http_headers": HEADERS, "http_body_template": "to=${phone}&text=${message}"},
    ):
        assert post_form(client, "/admin/sms", form).status_code == 303


def raw_database_text():
    """Every stored secret column and settings document, as the database holds them."""
    chunks = []
    for query in ("SELECT secret_encrypted FROM two_factor_methods", "SELECT secret_encrypted FROM pending_enrollments",
                  "SELECT value FROM settings"):
        for value in db.session.execute(text(query)).scalars():
            chunks.append(bytes(value).decode("latin-1") if isinstance(value, (bytes, memoryview)) else str(value))
    return "\n".join(chunks)


def read_every_secret():
    db.session.expire_all()
    g.pop("_tfa_settings", None)  # this test's context is one long "request": read them again
    method = db.session.query(TwoFactorMethod).one()
    pending = db.session.get(PendingEnrollment, "pending-1")
    mail_settings, sms_settings = mail.current_settings(), sms.current_settings()
    return (
        crypto.decrypt(method.secret_encrypted),
        crypto.decrypt(pending.secret_encrypted),
        crypto.decrypt(mail_settings.password_encrypted.encode()),
        sms_settings.secret("twilio_auth_token"),
        sms_settings.secret("sns_secret_key"),
        sms_settings.secret("http_headers"),
    )


EXPECTED = (TOTP_SECRET, PENDING_SECRET, MAIL_PASSWORD, TWILIO_TOKEN, SNS_SECRET, HEADERS)


@pytest.mark.config(TFA_ENCRYPTION_KEYS=OLD_KEY)
def test_secrets_are_not_readable_in_the_database(client, admin, user):
    sign_in(client, admin.email)
    store_every_kind_of_secret(client, user)
    raw = raw_database_text()
    for plaintext in PLAINTEXTS:
        assert plaintext not in raw
    assert read_every_secret() == EXPECTED


@pytest.mark.config(TFA_ENCRYPTION_KEYS=OLD_KEY)
def test_rotate_keys_reencrypts_everything_under_the_new_key(app, client, admin, user):
    sign_in(client, admin.email)
    store_every_kind_of_secret(client, user)
    before = raw_database_text()

    # A new key first, the old one kept for reading.
    use_keys(app, f"{NEW_KEY},{OLD_KEY}")
    result = app.test_cli_runner().invoke(args=["rotate-keys"])
    assert result.exit_code == 0, result.output
    assert "Re-encrypted 6 stored secrets under the newest key." in result.output
    assert read_every_secret() == EXPECTED
    after = raw_database_text()
    assert after != before
    for plaintext in PLAINTEXTS:
        assert plaintext not in after

    # The old key dropped: everything still decrypts.
    use_keys(app, NEW_KEY)
    assert read_every_secret() == EXPECTED
    # And the old key alone no longer reads it: the rotation really happened.
    use_keys(app, OLD_KEY)
    with pytest.raises(crypto.InvalidToken):
        read_every_secret()


@pytest.mark.config(TFA_ENCRYPTION_KEYS=OLD_KEY)
def test_rotate_keys_without_the_old_key_changes_nothing(app, client, admin, user):
    sign_in(client, admin.email)
    store_every_kind_of_secret(client, user)
    before = raw_database_text()
    use_keys(app, NEW_KEY)
    result = app.test_cli_runner().invoke(args=["rotate-keys"])
    assert result.exit_code == 1
    assert "cannot be decrypted with any key in TFA_ENCRYPTION_KEYS; nothing was changed" in result.output
    assert raw_database_text() == before
    use_keys(app, OLD_KEY)
    assert read_every_secret() == EXPECTED


def test_rotate_keys_on_an_empty_database(app):
    result = app.test_cli_runner().invoke(args=["rotate-keys"])
    assert result.exit_code == 0 and "Re-encrypted 0 stored secrets" in result.output
