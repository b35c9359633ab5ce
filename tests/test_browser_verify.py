"""Signing in with each second factor through the real pages in Chromium."""
import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from tests.conftest import PASSWORD, gen_user
from tests.factories import enable_platform, gen_backup_codes, gen_email, gen_sms, gen_totp
from tfa.extensions import db
from tfa.models import OutboxMessage

pytestmark = pytest.mark.browser


@pytest.fixture
def enrolled(live_app, smtp_server):
    """A user with every method, mail going to the loopback SMTP server."""
    live_app.config.update(MAIL_SERVER=smtp_server.host, MAIL_PORT=smtp_server.port, MAIL_DEFAULT_SENDER="tfa@example.com")
    with live_app.app_context():
        enable_platform(retry_period=5, remember_device_days=30)
        user = gen_user(email="jordan@example.com")
        totp = gen_totp(user)
        gen_sms(user, "+15555554567")
        gen_email(user)
        codes = gen_backup_codes(user, count=4)
    return {"email": "jordan@example.com", "totp": totp, "codes": codes, "smtp": smtp_server, "app": live_app}


def sms_code(app):
    with app.app_context():
        body = db.session.scalars(select(OutboxMessage.body).order_by(OutboxMessage.id.desc())).first()
    return re.search(r"\b(\d{6})\b", body).group(1)


def password_step(page, email):
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Verify your identity")).to_be_visible()


def enter_code(page, code, label="Verification code"):
    page.get_by_label(label).fill(code)
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Password and authentication")).to_be_visible()


def sign_out(page):
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def try_another_way(page, choice):
    page.get_by_role("link", name="Try another way").click()
    page.get_by_role("button", name=re.compile(choice)).click()


def test_sign_in_with_each_method_in_turn(page, enrolled):
    email, app = enrolled["email"], enrolled["app"]

    password_step(page, email)
    expect(page.get_by_text("Enter the 6-digit code from your authenticator app")).to_be_visible()
    enter_code(page, enrolled["totp"].now())
    sign_out(page)

    password_step(page, email)
    try_another_way(page, r"SMS to \+1\*{6}4567")
    expect(page.get_by_text("A verification code was sent to +1******4567 by SMS")).to_be_visible()
    enter_code(page, sms_code(app))
    sign_out(page)

    password_step(page, email)
    try_another_way(page, r"Email to jo\*{6}@example\.com")
    expect(page.get_by_text("A verification code was sent to jo******@example.com")).to_be_visible()
    expect(page.get_by_text(re.compile(r"Resend code in \d+ seconds"))).to_be_visible()
    # The countdown ends and "Resend code" sends a new code, which replaces the first.
    page.get_by_role("button", name="Resend code").click(timeout=15_000)
    expect(page.get_by_text("A new code was sent.")).to_be_visible()
    assert len(enrolled["smtp"].to(email)) == 2
    second = re.search(r"\b(\d{6})\b", enrolled["smtp"].last_to(email).text).group(1)
    enter_code(page, second)
    sign_out(page)

    password_step(page, email)
    try_another_way(page, "Backup code")
    enter_code(page, enrolled["codes"][0], label="Backup code")


def test_wrong_code_message_swaps_in_place(page, enrolled):
    password_step(page, enrolled["email"])
    totp = enrolled["totp"]
    page.get_by_label("Verification code").fill("000000" if totp.now() != "000000" else "111111")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_text("Verification code is incorrect")).to_be_visible()
    expect(page.get_by_label("Verification code")).to_be_focused()


def test_remembered_device_skips_the_second_step(page, enrolled):
    password_step(page, enrolled["email"])
    page.get_by_label("Remember this device for 30 days").check()
    enter_code(page, enrolled["totp"].now())
    sign_out(page)
    page.get_by_label("Email").fill(enrolled["email"])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Password and authentication")).to_be_visible()


def test_sign_in_with_a_backup_code_from_the_downloaded_file(page, live_app):
    with live_app.app_context():
        enable_platform(backup_codes_count=5)
        user = gen_user(email="casey@example.com")
        totp = gen_totp(user)
    password_step(page, "casey@example.com")
    enter_code(page, totp.now())
    backup = page.locator("section, article, div").filter(
        has=page.get_by_role("switch", name="Enable Backup codes")).last
    backup.get_by_role("switch", name="Enable Backup codes").check()
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download (txt)").click()
    with open(download_info.value.path()) as f:
        codes = f.read().split()
    assert len(codes) == 5
    page.get_by_role("button", name="I have saved these codes").click()
    sign_out(page)

    password_step(page, "casey@example.com")
    try_another_way(page, "Backup code")
    enter_code(page, codes[3].upper(), label="Backup code")
    sign_out(page)
    # The same code a second time is refused.
    password_step(page, "casey@example.com")
    try_another_way(page, "Backup code")
    page.get_by_label("Backup code").fill(codes[3])
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_text("Verification code is incorrect")).to_be_visible()
