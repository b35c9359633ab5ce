"""Security emails arrive at a real SMTP server, with the right content and never a code."""
import re

import pytest

from tests.conftest import csrf_token, gen_user, sign_in
from tests.factories import enable_platform, gen_backup_codes, gen_email, gen_totp
from tfa import settings
from tfa.extensions import db
from tfa.models import User


@pytest.fixture
def mail(app, smtp_server):
    app.config.update(MAIL_SERVER=smtp_server.host, MAIL_PORT=smtp_server.port, MAIL_DEFAULT_SENDER="tfa@example.com")
    settings.forget_cached()  # the presets changed under a running app: read them again
    return smtp_server


def verify(client, code, **extra):
    return client.post("/login/verify", data={"csrf_token": csrf_token(client.get("/login/verify")), "code": code, **extra})


def wrong_for(totp):
    return "000000" if totp.now() != "000000" else "111111"


def assert_no_code(message, *codes):
    body = message.text + message.html
    for code in codes:
        assert code not in body
    assert not re.search(r"\b\d{6}\b", body.replace(str(message.message["Date"]), ""))


def test_failed_second_step_email_once_per_attempt(app, mail):
    enable_platform(max_failures=10)
    user = gen_user()
    totp = gen_totp(user)
    client = app.test_client()
    sign_in(client, user.email, headers={"User-Agent": "TestBrowser/1.0"})
    verify(client, wrong_for(totp))
    verify(client, wrong_for(totp))
    failed = [m for m in mail.to(user.email) if "did not pass the second step" in m.subject]
    assert len(failed) == 1
    text = failed[0].text
    assert "IP address: 127.0.0.1" in text and "Time:" in text
    assert_no_code(failed[0], wrong_for(totp))
    # A new sign-in attempt may warn again.
    sign_in(client, user.email)
    verify(client, wrong_for(totp))
    assert len([m for m in mail.to(user.email) if "did not pass the second step" in m.subject]) == 2


def test_failed_second_step_emails_cannot_be_turned_into_a_flood(app, mail):
    from tfa.signin import FAILURE_MAILS_PER_HOUR

    enable_platform(max_failures=0)  # no lockout, and the check limit off
    user = gen_user()
    totp = gen_totp(user)
    client = app.test_client()
    for _ in range(FAILURE_MAILS_PER_HOUR + 3):  # a new attempt each time, each with a wrong code
        sign_in(client, user.email)
        verify(client, wrong_for(totp))
    assert len([m for m in mail.to(user.email) if "did not pass the second step" in m.subject]) == FAILURE_MAILS_PER_HOUR


def test_lockout_email_to_user_and_notification_address(app, mail):
    enable_platform(max_failures=2, lockout_notification_email="security@example.com")
    user = gen_user()
    totp = gen_totp(user)
    client = app.test_client()
    sign_in(client, user.email)
    verify(client, wrong_for(totp))
    verify(client, wrong_for(totp))
    assert db.session.get(User, user.id).is_locked
    assert "locked" in mail.last_to(user.email).subject
    admin_copy = mail.last_to("security@example.com")
    assert user.email in admin_copy.subject
    assert_no_code(admin_copy)


def test_backup_code_used_email_says_how_many_remain(app, mail):
    enable_platform()
    user = gen_user()
    gen_totp(user)
    codes = gen_backup_codes(user, count=5)
    client = app.test_client()
    sign_in(client, user.email)
    client.post("/login/verify/method", data={"csrf_token": csrf_token(client.get("/login/verify")), "method": "backup_codes"})
    assert verify(client, codes[1]).headers["Location"] == "/"
    message = mail.last_to(user.email)
    assert "backup code was used" in message.subject
    assert "4 backup codes left" in message.text
    for code in codes:
        assert code not in message.text


def test_device_remembered_email(app, mail):
    enable_platform(remember_device_days=7)
    user = gen_user()
    totp = gen_totp(user)
    client = app.test_client()
    sign_in(client, user.email)
    verify(client, totp.now(), remember="y")
    message = mail.last_to(user.email)
    assert "device was remembered" in message.subject and "7 days" in message.text


def test_the_code_email_carries_the_code_and_its_lifetime(app, mail):
    enable_platform(email_code_lifetime=300)
    user = gen_user()
    gen_email(user)
    client = app.test_client()
    sign_in(client, user.email)
    message = mail.last_to(user.email)
    code = re.search(r"\b(\d{6})\b", message.text).group(1)
    assert "5 minutes" in message.text and code in message.html
    assert verify(client, code).headers["Location"] == "/"


def test_mail_server_down_shows_a_clear_message_and_can_be_retried(app, mail):
    enable_platform(retry_period=5)
    user = gen_user()
    gen_email(user)
    app.config.update(MAIL_PORT=1)  # nothing listens there
    settings.forget_cached()
    client = app.test_client()
    sign_in(client, user.email)
    page = client.get("/login/verify").get_data(as_text=True)
    assert "could not be sent" in page
    assert db.session.get(User, user.id).failed_verifications == 0
    app.config.update(MAIL_PORT=mail.port)
    settings.forget_cached()
    resent = client.post("/login/verify/resend", data={"csrf_token": csrf_token(client.get("/login/verify"))})
    assert resent.status_code == 200
    code = re.search(r"\b(\d{6})\b", mail.last_to(user.email).text).group(1)
    assert verify(client, code).headers["Location"] == "/"
