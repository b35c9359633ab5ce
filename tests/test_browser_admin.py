"""An administrator changes the platform settings through the real pages in Chromium."""
import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD, gen_admin
from tfa.extensions import db

pytestmark = pytest.mark.browser


@pytest.fixture
def signed_in_admin(page, live_app):
    with live_app.app_context():
        email = gen_admin().email
        db.session.remove()
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("link", name="Administration")).to_be_visible()
    return page


def test_admin_turns_on_the_authenticator_app_and_changes_a_lifetime(signed_in_admin):
    page = signed_in_admin
    page.get_by_role("link", name="Administration").click()
    expect(page).to_have_title("Two-factor authentication · tfa")
    expect(page.get_by_role("heading", name="Two-factor authentication", exact=True)).to_be_visible()

    totp = page.get_by_role("switch", name="Authenticator app")
    expect(totp).not_to_be_checked()
    totp.check()
    page.get_by_label("Verification code lifetime (SMS)").fill("300")
    page.get_by_label("Verification code lifetime (Email)").fill("240")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Settings saved")).to_be_visible()

    page.reload()
    expect(page.get_by_role("switch", name="Authenticator app")).to_be_checked()
    expect(page.get_by_label("Verification code lifetime (SMS)")).to_have_value("300")
    expect(page.get_by_label("Verification code lifetime (Email)")).to_have_value("240")
    expect(page.get_by_role("switch", name="Enforce two-factor authentication")).not_to_be_checked()


def test_an_invalid_value_shows_its_message_in_place(signed_in_admin):
    page = signed_in_admin
    page.goto("/admin/two-factor")
    page.get_by_label("Number of codes").fill("99")
    page.get_by_role("switch", name="Backup code").check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Must be between 1 and 50")).to_be_visible()
    expect(page.get_by_text("Backup codes need another method")).to_be_visible()
    expect(page.get_by_label("Number of codes")).to_be_focused()
    assert page.url.endswith("/admin/two-factor")
    # The form still works after the swap.
    page.get_by_label("Number of codes").fill("12")
    page.get_by_role("switch", name="Authenticator app").check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Settings saved")).to_be_visible()
    expect(page.get_by_label("Number of codes")).to_have_value("12")


def test_admin_sets_up_the_mail_server_and_sends_a_test_email(signed_in_admin, smtp_server):
    page = signed_in_admin
    page.goto("/admin/two-factor")
    page.get_by_role("navigation", name="Administration").get_by_role("link", name="Mail server").click()
    expect(page.get_by_role("heading", name="Mail server")).to_be_visible()
    page.get_by_label("SMTP host").fill("127.0.0.1")
    page.get_by_label("Port").fill(str(smtp_server.port))
    page.get_by_label("Security").select_option("None")
    page.get_by_label("Password").fill("a-mail-password")
    page.get_by_label("Sender address").fill("tfa@example.com")
    page.get_by_label("Timeout (seconds)").fill("5")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Settings saved")).to_be_visible()
    expect(page.get_by_label("Password")).to_have_value("")

    page.get_by_label("Recipient").fill("inbox@example.com")
    page.get_by_role("button", name="Send test email").click()
    expect(page.get_by_text("Test email sent to inbox@example.com")).to_be_visible()
    assert smtp_server.last_to("inbox@example.com").subject == "Test email from tfa"
