"""Turning second factors on and off on the security page, in Chromium, the way a person does."""
import re

import pyotp
import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from tests.conftest import PASSWORD, gen_user
from tests.factories import enable_platform, gen_sms, gen_totp
from tfa import methods
from tfa.extensions import db
from tfa.models import BACKUP_CODES, EMAIL, SMS, TOTP, OutboxMessage

pytestmark = pytest.mark.browser
EMAIL_ADDRESS = "sam@example.com"


@pytest.fixture
def account(live_app):
    with live_app.app_context():
        enable_platform(retry_period=5, backup_codes_count=6)
        user = gen_user(email=EMAIL_ADDRESS)
        return user.id


def sign_in(page):
    page.goto("/login")
    page.get_by_label("Email").fill(EMAIL_ADDRESS)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Password and authentication")).to_be_visible()


def panel(page, label):
    return page.get_by_role("region", name=label, exact=True)


def kinds(app, user_id):
    with app.app_context():
        return set(methods.all_of(user_id))


def test_enable_the_authenticator_app(page, live_app, account):
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" and "Failed to load" not in m.text else None)
    page.on("response", lambda r: errors.append(r.url) if r.status >= 400 and "favicon" not in r.url else None)
    sign_in(page)
    expect(page.get_by_role("button", name="Save")).to_have_count(0)  # the no-JavaScript buttons hide
    totp = panel(page, "Authenticator app")
    totp.get_by_role("switch", name="Enable Authenticator app").check()
    expect(totp.get_by_role("img", name="QR code for the authenticator app")).to_be_visible()
    expect(totp.get_by_text("You can install apps like Google Authenticator, Authy, or Duo")).to_be_visible()
    key = totp.get_by_label("Secret key").inner_text()
    assert re.fullmatch(r"([A-Z2-7]{4} ){7}[A-Z2-7]{4}", key)
    code_field = totp.get_by_label("Verification code")
    expect(code_field).to_have_attribute("autocomplete", "one-time-code")
    code_field.fill(pyotp.TOTP(key.replace(" ", "")).now())
    totp.get_by_role("button", name="Verify").click()
    expect(totp.get_by_text("Authenticator app is on.")).to_be_visible()
    expect(totp.get_by_role("switch", name="Enable Authenticator app")).to_be_checked()
    assert page.url.endswith("/account/security")
    assert kinds(live_app, account) == {TOTP}
    # The backup codes panel now offers its switch (swapped out of band).
    expect(page.get_by_role("switch", name="Enable Backup codes")).to_be_visible()
    assert errors == []  # nothing refused by the Content-Security-Policy, no script error


def test_enable_email_with_the_code_from_the_mail_server(page, live_app, account, smtp_server):
    live_app.config.update(MAIL_SERVER=smtp_server.host, MAIL_PORT=smtp_server.port,
                           MAIL_DEFAULT_SENDER="tfa@example.com")
    sign_in(page)
    email = panel(page, "Email")
    email.get_by_role("switch", name="Enable Email").check()
    field = email.get_by_label("Email", exact=True)
    expect(field).to_have_value(EMAIL_ADDRESS)
    email.get_by_role("button", name="Send code", exact=True).click()
    expect(email.get_by_text(f"A verification code was sent to {EMAIL_ADDRESS}.")).to_be_visible()
    code = re.search(r"\b(\d{6})\b", smtp_server.last_to(EMAIL_ADDRESS).text).group(1)
    email.get_by_label("Verification code").fill(code)
    email.get_by_role("button", name="Verify").click()
    expect(email.get_by_text("Email is on.")).to_be_visible()
    assert kinds(live_app, account) == {EMAIL}


def test_enable_sms_with_the_code_from_the_outbox(page, live_app, account):
    sign_in(page)
    sms = panel(page, "SMS")
    sms.get_by_role("switch", name="Enable SMS").check()
    sms.get_by_label("Phone number").fill("+1 201 555 0123")
    sms.get_by_role("button", name="Send code", exact=True).click()
    expect(sms.get_by_text("A verification code was sent to +12015550123.")).to_be_visible()
    resend = sms.get_by_role("button", name="Resend code")
    expect(resend).to_be_disabled()
    expect(sms.get_by_text(re.compile(r"Resend code in [1-5] seconds?"))).to_be_visible()
    # The countdown ends and the button comes back (retry period of 5 seconds).
    expect(resend).to_be_enabled(timeout=8000)
    resend.click()
    expect(sms.get_by_text("A new verification code was sent to +12015550123.")).to_be_visible()
    with live_app.app_context():
        bodies = db.session.scalars(select(OutboxMessage.body).where(OutboxMessage.recipient == "+12015550123")
                                    .order_by(OutboxMessage.id)).all()
    assert len(bodies) == 2
    code = re.search(r"\b(\d{6})\b", bodies[-1]).group(1)
    sms.get_by_label("Verification code").fill(code)
    sms.get_by_role("button", name="Verify").click()
    expect(sms.get_by_text("SMS is on.")).to_be_visible()
    expect(sms.get_by_text("Codes are sent to +12015550123.")).to_be_visible()
    assert kinds(live_app, account) == {SMS}


def _user(app, user_id):
    from tfa.models import User

    return db.session.get(User, user_id)


def test_enable_backup_codes_and_download_them(page, live_app, account):
    sign_in(page)
    with live_app.app_context():
        gen_totp(_user(live_app, account))
    page.reload()
    backup = panel(page, "Backup codes")
    backup.get_by_role("switch", name="Enable Backup codes").check()
    codes_list = backup.get_by_role("list", name="Backup codes")
    expect(codes_list.get_by_role("listitem")).to_have_count(6)
    shown = [c.strip() for c in codes_list.get_by_role("listitem").all_inner_texts()]
    with page.expect_download() as download_info:
        backup.get_by_role("button", name="Download (txt)").click()
    download = download_info.value
    assert download.suggested_filename == "backup-codes.txt"
    with open(download.path()) as f:
        lines = f.read().splitlines()
    assert len(lines) == 6 and lines == shown
    assert all(re.fullmatch(r"[0-9a-f]{8}", line) for line in lines)
    backup.get_by_role("button", name="I have saved these codes").click()
    expect(backup.get_by_text("6 codes remaining.")).to_be_visible()
    expect(backup.get_by_role("list", name="Backup codes")).to_have_count(0)
    assert kinds(live_app, account) == {TOTP, BACKUP_CODES}


def test_choose_the_main_method(page, live_app, account):
    sign_in(page)
    with live_app.app_context():
        user = _user(live_app, account)
        gen_totp(user)
        gen_sms(user, "+12015550123")
    page.reload()
    expect(panel(page, "Authenticator app").get_by_text("This is your main method")).to_be_visible()
    sms = panel(page, "SMS")
    sms.get_by_role("button", name="Use as main method").click()
    expect(sms.get_by_text("SMS is now your main method.")).to_be_visible()
    expect(sms.get_by_text("This is your main method")).to_be_visible()
    # The other panel was updated too.
    expect(panel(page, "Authenticator app").get_by_role("button", name="Use as main method")).to_be_visible()
    with live_app.app_context():
        assert methods.all_of(account)[SMS].is_main and not methods.all_of(account)[TOTP].is_main


def test_turn_a_method_off_through_the_password_confirmation(page, live_app, account):
    sign_in(page)
    with live_app.app_context():
        user = _user(live_app, account)
        gen_totp(user)
        gen_sms(user, "+12015550123")
    page.reload()
    sms = panel(page, "SMS")
    sms.get_by_role("switch", name="Enable SMS").click()  # the panel turns into the confirmation
    expect(sms.get_by_role("heading", name="Confirm your password")).to_be_visible()
    sms.get_by_label("Password", exact=True).fill("not the password")
    sms.get_by_role("button", name="Confirm").click()
    expect(sms.get_by_text("Password is incorrect")).to_be_visible()
    assert kinds(live_app, account) == {TOTP, SMS}
    sms.get_by_label("Password", exact=True).fill(PASSWORD)
    sms.get_by_role("button", name="Confirm").click()
    expect(sms.get_by_text("SMS is off.")).to_be_visible()
    expect(sms.get_by_role("switch", name="Enable SMS")).not_to_be_checked()
    assert kinds(live_app, account) == {TOTP}
    # Within five minutes the next one goes without asking again.
    panel(page, "Authenticator app").get_by_role("switch", name="Enable Authenticator app").uncheck()
    expect(panel(page, "Authenticator app").get_by_text("Authenticator app is off.")).to_be_visible()
    assert kinds(live_app, account) == set()
