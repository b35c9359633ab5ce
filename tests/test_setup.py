"""Enforcement: a user in scope without a method must set one up before anything else."""
from sqlalchemy import select

from tests.conftest import gen_admin, post_form, sign_in
from tests.factories import enable_platform, gen_totp
from tfa.extensions import db
from tfa.models import PendingEnrollment, TwoFactorMethod
from tfa import crypto

import pyotp


def test_enforced_user_without_a_method_lands_on_setup(client, user):
    enable_platform(enforce_enabled=True)
    response = sign_in(client, user.email)
    assert response.headers["Location"] == "/login/setup"
    page = client.get("/login/setup")
    html = page.get_data(as_text=True)
    assert "<title>Two-factor authentication is required" in html
    assert "Enable Authenticator app" in html
    assert page.headers["Cache-Control"] == "no-store"


def test_enforced_user_cannot_reach_any_other_page(client, user, admin):
    enable_platform(enforce_enabled=True)
    sign_in(client, user.email)
    for path in ("/", "/account/security", "/admin/users", "/admin/two-factor", "/dev/outbox", "/login/verify"):
        response = client.get(path)
        assert response.status_code in (302, 303), path
        assert response.headers["Location"].endswith("/login/setup"), path
    # Continue without a method is refused.
    response = post_form(client, "/login/setup/finish", {}, page_url="/login/setup")
    assert response.status_code == 422
    assert "Set up a method first" in response.get_data(as_text=True)
    assert client.get("/account/security").headers["Location"].endswith("/login/setup")


def test_enforcement_for_administrators_only(client, user):
    enable_platform(enforce_enabled=True, enforce_for="admins")
    assert sign_in(client, user.email).headers["Location"] == "/"
    admin = gen_admin()
    other = client.application.test_client()
    assert sign_in(other, admin.email).headers["Location"] == "/login/setup"


def test_setting_up_the_authenticator_app_then_continue_signs_in(client, user):
    enable_platform(enforce_enabled=True)
    sign_in(client, user.email)
    switched = post_form(client, "/account/security/authenticator-app/switch", {"enabled": "y"}, page_url="/login/setup")
    assert switched.status_code == 303 and switched.headers["Location"] == "/login/setup"
    enrollment = db.session.scalar(select(PendingEnrollment).where(PendingEnrollment.user_id == user.id))
    totp = pyotp.TOTP(crypto.decrypt(enrollment.secret_encrypted))
    verified = post_form(client, "/account/security/authenticator-app/verify", {"code": totp.now()}, page_url="/login/setup")
    assert verified.status_code == 303
    assert db.session.scalar(select(TwoFactorMethod).where(TwoFactorMethod.user_id == user.id)) is not None
    page = client.get("/login/setup").get_data(as_text=True)
    assert "Your second step is set up" in page and "Enable Backup codes" in page
    before = client.get_cookie("tfa_session").value
    finished = post_form(client, "/login/setup/finish", {}, page_url="/login/setup")
    assert finished.status_code == 303 and finished.headers["Location"] == "/"
    assert client.get_cookie("tfa_session").value != before
    assert client.get("/account/security").status_code == 200


def test_setup_panels_are_not_reachable_while_verifying(client, user):
    enable_platform(enforce_enabled=True)
    gen_totp(user)
    sign_in(client, user.email)
    response = post_form(client, "/account/security/sms/switch", {"enabled": "y"}, page_url="/login/verify")
    assert response.headers["Location"].endswith("/login/verify")


def test_user_with_a_method_is_verified_not_set_up(client, user):
    enable_platform(enforce_enabled=True)
    gen_totp(user)
    assert sign_in(client, user.email).headers["Location"] == "/login/verify"
