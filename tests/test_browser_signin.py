"""The demo user signs in and out through the real pages in Chromium."""
import pytest
from playwright.sync_api import expect

from tfa.cli import DEMO_ACCOUNTS

pytestmark = pytest.mark.browser


def test_demo_user_signs_in_and_out(page, live_app):
    result = live_app.test_cli_runner().invoke(args=["seed-demo"])
    assert "user@example.com" in result.output
    email, _, _, password = DEMO_ACCOUNTS[1]

    page.goto("/login")
    expect(page).to_have_title("Sign in · tfa")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Password and authentication")).to_be_visible()
    expect(page.get_by_text(email)).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.goto("/account/security")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_wrong_password_shows_the_message_in_place(page, live_app):
    live_app.test_cli_runner().invoke(args=["seed-demo"])
    page.goto("/login")
    page.get_by_label("Email").fill("user@example.com")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Invalid email or password")).to_be_visible()
    expect(page).to_have_url(page.url)  # swapped in place, still on /login
    assert page.url.endswith("/login")
