"""/admin/users and the CLI: list, filter, create, disable/enable, unlock, reset 2FA; notifications."""
import pytest
from sqlalchemy import select

from tests.conftest import PASSWORD, csrf_token, gen_user, post_form, sign_in
from tests.factories import enable_platform, gen_backup_codes, gen_totp
from tfa.extensions import db
from tfa.models import BackupCode, SecurityEvent, TwoFactorMethod, User
from tfa.types import utcnow


@pytest.fixture
def admin_client(app, admin):
    client = app.test_client()
    assert sign_in(client, admin.email).status_code == 303
    return client


@pytest.fixture
def mail(app, smtp_server):
    """Send the app's email to the loopback SMTP server."""
    app.config.update(MAIL_SERVER=smtp_server.host, MAIL_PORT=smtp_server.port, MAIL_DEFAULT_SENDER="tfa@example.com")
    return smtp_server


def action(client, user, name):
    return post_form(client, f"/admin/users/{user.id}/{name}", {}, page_url="/admin/users")


def events_of(user):
    return db.session.scalars(select(SecurityEvent.kind).where(SecurityEvent.user_id == user.id)).all()


def test_users_page_lists_methods_and_status(admin_client):
    enable_platform()
    plain = gen_user(email="plain@example.com")
    secured = gen_user(email="secured@example.com")
    gen_totp(secured)
    gen_user(email="locked@example.com", locked_at=utcnow())
    page = admin_client.get("/admin/users")
    html = page.get_data(as_text=True)
    assert "<title>Users" in html
    assert "Authenticator app" in html and "locked" in html and plain.email in html
    filtered = admin_client.get("/admin/users?filter=without-2fa").get_data(as_text=True)
    assert plain.email in filtered and secured.email not in filtered


def test_create_user(admin_client):
    response = post_form(admin_client, "/admin/users",
                         {"email": "New@Example.com", "name": "New", "role": "user", "password": "a good long passphrase"})
    assert response.status_code == 303
    user = db.session.scalar(select(User).where(User.email == "new@example.com"))
    assert user is not None and user.role == "user"
    assert "user_created" in events_of(user)


@pytest.mark.parametrize("data, message", [
    ({"email": "not-an-email", "role": "user", "password": "a good long passphrase"}, "valid email"),
    ({"email": "x@example.com", "role": "user", "password": "password"}, "too common"),
    ({"email": "x@example.com", "role": "root", "password": "a good long passphrase"}, "Not a valid choice"),
])
def test_create_user_refuses_bad_input(admin_client, data, message):
    response = post_form(admin_client, "/admin/users", data)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)


def test_disable_signs_the_user_out_and_enable_lets_them_back(app, admin_client, mail):
    user = gen_user()
    theirs = app.test_client()
    sign_in(theirs, user.email)
    assert action(admin_client, user, "disable").status_code == 303
    assert theirs.get("/account/security").status_code == 302
    assert "disabled" in sign_in(theirs, user.email).get_data(as_text=True)
    assert action(admin_client, user, "enable").status_code == 303
    assert sign_in(theirs, user.email).status_code == 303
    assert "user_disabled" in events_of(user) and "user_enabled" in events_of(user)
    assert "disabled" in mail.last_to(user.email).text or mail.to(user.email)


def test_admin_cannot_disable_themselves(admin_client, admin):
    action(admin_client, admin, "disable")
    assert db.session.get(User, admin.id).enabled


def test_unlock_lifts_the_lockout(app, admin_client, mail):
    enable_platform(max_failures=1)
    user = gen_user()
    totp = gen_totp(user)
    client = app.test_client()
    sign_in(client, user.email)
    wrong = "000000" if totp.now() != "000000" else "111111"
    client.post("/login/verify", data={"csrf_token": csrf_token(client.get("/login/verify")), "code": wrong})
    assert db.session.get(User, user.id).is_locked
    assert "locked" in sign_in(client, user.email).get_data(as_text=True)
    assert action(admin_client, user, "unlock").status_code == 303
    refreshed = db.session.get(User, user.id)
    assert not refreshed.is_locked and refreshed.failed_verifications == 0
    assert sign_in(client, user.email).headers["Location"] == "/login/verify"
    assert "unlock" in events_of(user)
    assert "unlocked" in mail.last_to(user.email).text


def test_reset_two_factor_leaves_password_only(app, admin_client, mail):
    enable_platform()
    user = gen_user()
    gen_totp(user)
    gen_backup_codes(user)
    assert action(admin_client, user, "reset-2fa").status_code == 303
    assert db.session.scalar(select(TwoFactorMethod).where(TwoFactorMethod.user_id == user.id)) is None
    assert db.session.scalar(select(BackupCode).where(BackupCode.user_id == user.id)) is None
    assert sign_in(app.test_client(), user.email).headers["Location"] == "/"
    assert "two_factor_reset" in events_of(user)
    assert "two-factor authentication was reset" in mail.last_to(user.email).text


def test_reset_two_factor_under_enforcement_forces_setup(app, admin_client):
    enable_platform(enforce_enabled=True)
    user = gen_user()
    gen_totp(user)
    action(admin_client, user, "reset-2fa")
    assert sign_in(app.test_client(), user.email).headers["Location"] == "/login/setup"


def test_actions_need_post_and_csrf(admin_client, user):
    assert admin_client.get(f"/admin/users/{user.id}/disable").status_code == 405
    assert admin_client.post(f"/admin/users/{user.id}/disable").status_code == 400
    assert db.session.get(User, user.id).enabled
    assert post_form(admin_client, "/admin/users/999999/disable", {}, page_url="/admin/users").status_code == 404


def test_cli_unlock_and_reset(runner, app):
    enable_platform()
    user = gen_user(locked_at=utcnow(), failed_verifications=30)
    gen_totp(user)
    result = runner.invoke(args=["unlock", user.email])
    assert result.exit_code == 0, result.output
    assert not db.session.get(User, user.id).is_locked
    result = runner.invoke(args=["reset-2fa", user.email])
    assert result.exit_code == 0, result.output
    assert db.session.scalar(select(TwoFactorMethod).where(TwoFactorMethod.user_id == user.id)) is None
    assert runner.invoke(args=["unlock", "nobody@example.com"]).exit_code != 0


def test_cli_create_user(runner):
    result = runner.invoke(args=["create-user", "cli@example.com", "--password", PASSWORD, "--admin"])
    assert result.exit_code == 0, result.output
    assert db.session.scalar(select(User).where(User.email == "cli@example.com")).role == "sysadmin"
