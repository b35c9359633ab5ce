"""The second step of sign-in: verification with each method, limits, lockout, remembered devices."""
import re
from datetime import timedelta

import pytest
from freezegun import freeze_time
from sqlalchemy import select

from tests.conftest import csrf_token, gen_user, sign_in
from tests.factories import enable_platform, gen_backup_codes, gen_email, gen_sms, gen_totp
from tfa.extensions import db
from tfa.models import OutboxMessage, SecurityEvent, User, WebSession
from tfa.settings import update_two_factor
from tfa.types import utcnow


def verify(client, code, remember=False, url="/login/verify"):
    page = client.get("/login/verify")
    data = {"csrf_token": csrf_token(page), "code": code}
    if remember:
        data["remember"] = "y"
    return client.post(url, data=data)


def post(client, url, data=None, page="/login/verify"):
    return client.post(url, data={"csrf_token": csrf_token(client.get(page)), **(data or {})})


def last_code(recipient):
    message = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.recipient == recipient).order_by(OutboxMessage.id.desc())
    ).first()
    assert message is not None, f"nothing in the outbox for {recipient}"
    return re.search(r"\b(\d{6})\b", message.body).group(1)


def signed_in(client):
    return client.get("/account/security").status_code == 200


@pytest.fixture
def totp_user(app):
    enable_platform()
    user = gen_user()
    user.totp = gen_totp(user)
    return user


def test_without_methods_the_password_is_enough(client, user):
    enable_platform()
    assert sign_in(client, user.email).headers["Location"] == "/"
    assert signed_in(client)


def test_with_totp_the_password_only_leads_to_verification(client, totp_user):
    response = sign_in(client, totp_user.email)
    assert response.headers["Location"] == "/login/verify"
    page = client.get("/login/verify")
    html = page.get_data(as_text=True)
    assert "<title>Verify your identity" in html
    assert 'autocomplete="one-time-code"' in html and "Verification code" in html and ">Continue<" in html
    assert page.headers["Cache-Control"] == "no-store"
    assert not signed_in(client)


def test_correct_totp_signs_in_and_renews_the_session(client, totp_user):
    sign_in(client, totp_user.email)
    before = client.get_cookie("tfa_session").value
    response = verify(client, totp_user.totp.now())
    assert response.status_code == 303 and response.headers["Location"] == "/"
    assert client.get_cookie("tfa_session").value != before
    assert signed_in(client)
    # The pending sign-in ended with the step: no session row holds one any more.
    assert all("pending_sign_in" not in row.data for row in db.session.scalars(select(WebSession)))


def test_every_page_redirects_to_verification_while_pending(client, totp_user, admin):
    sign_in(client, totp_user.email)
    for path in ("/", "/account/security", "/admin/two-factor", "/admin/users", "/dev/outbox"):
        response = client.get(path)
        assert response.status_code in (302, 303), path
        assert response.headers["Location"].endswith("/login/verify"), path
    assert client.get("/healthz").status_code == 200


def test_htmx_request_while_pending_gets_hx_redirect(client, totp_user):
    sign_in(client, totp_user.email)
    response = client.get("/account/security", headers={"HX-Request": "true"})
    assert response.headers["HX-Redirect"] == "/login/verify"


def test_pending_sign_in_expires(client, totp_user):
    update_two_factor(total_verification_time=60)
    sign_in(client, totp_user.email)
    token = csrf_token(client.get("/login/verify"))
    with freeze_time(utcnow() + timedelta(seconds=61)):
        response = client.post("/login/verify", data={"csrf_token": token, "code": totp_user.totp.now()})
        assert response.headers["Location"] == "/login"
        page = client.get("/login")
    assert "Verification time expired, sign in again" in page.get_data(as_text=True)
    assert not signed_in(client)


def test_totp_code_cannot_be_replayed(app, totp_user):
    code = totp_user.totp.now()
    first, second = app.test_client(), app.test_client()
    sign_in(first, totp_user.email)
    assert verify(first, code).status_code == 303
    sign_in(second, totp_user.email)
    response = verify(second, code)
    assert response.status_code == 422
    assert "Verification code is incorrect" in response.get_data(as_text=True)


def test_wrong_code_counts_and_says_so(client, totp_user):
    sign_in(client, totp_user.email)
    response = verify(client, "000000" if totp_user.totp.now() != "000000" else "111111")
    assert response.status_code == 422
    assert "Verification code is incorrect" in response.get_data(as_text=True)
    assert db.session.get(User, totp_user.id).failed_verifications == 1


@pytest.mark.parametrize("bad", ["١٢٣٤٥٦", "12345", "abcdef", "1234567", "x" * 5000, "１２３４５６"])
def test_malformed_codes_are_refused_without_a_500(client, totp_user, bad):
    sign_in(client, totp_user.email)
    response = verify(client, bad)
    assert response.status_code == 422
    assert db.session.get(User, totp_user.id).failed_verifications == 0


def test_code_with_spaces_is_accepted(client, totp_user):
    sign_in(client, totp_user.email)
    code = totp_user.totp.now()
    assert verify(client, f"{code[:3]} {code[3:]}").status_code == 303


def test_lockout_at_exactly_the_configured_failures(app, totp_user):
    update_two_factor(max_failures=3, lockout_notification_email="security@example.com")
    client = app.test_client()
    sign_in(client, totp_user.email)
    wrong = "000000" if totp_user.totp.now() != "000000" else "111111"
    assert verify(client, wrong).status_code == 422
    assert verify(client, wrong).status_code == 422
    assert db.session.get(User, totp_user.id).locked_at is None
    locked = verify(client, wrong)
    assert locked.headers["Location"] == "/login"
    assert "User account was locked due to exceeded 2FA verification attempts" in client.get("/login").get_data(as_text=True)
    assert db.session.get(User, totp_user.id).locked_at is not None
    # A fresh correct password does not unlock it, nor reset the count.
    again = sign_in(client, totp_user.email)
    assert "User account was locked due to exceeded 2FA verification attempts" in again.get_data(as_text=True)
    assert db.session.get(User, totp_user.id).failed_verifications == 3
    kinds = db.session.scalars(select(SecurityEvent.kind).where(SecurityEvent.user_id == totp_user.id)).all()
    assert "lockout" in kinds


def test_correct_password_does_not_reset_the_failure_count(client, totp_user):
    update_two_factor(max_failures=3)
    wrong = "000000" if totp_user.totp.now() != "000000" else "111111"
    for _ in range(2):
        sign_in(client, totp_user.email)
        verify(client, wrong)
    sign_in(client, totp_user.email)
    assert db.session.get(User, totp_user.id).failed_verifications == 2
    verify(client, wrong)
    assert db.session.get(User, totp_user.id).locked_at is not None


def test_completed_sign_in_resets_the_count(client, totp_user):
    update_two_factor(max_failures=3)
    sign_in(client, totp_user.email)
    verify(client, "000000" if totp_user.totp.now() != "000000" else "111111")
    verify(client, totp_user.totp.now())
    assert db.session.get(User, totp_user.id).failed_verifications == 0


def test_check_rate_limit_does_not_count_as_failure(client, totp_user):
    update_two_factor(check_limit_enabled=True, check_limit_attempts=2, check_limit_seconds=900, max_failures=10)
    sign_in(client, totp_user.email)
    wrong = "000000" if totp_user.totp.now() != "000000" else "111111"
    verify(client, wrong)
    verify(client, wrong)
    limited = verify(client, totp_user.totp.now())
    assert limited.status_code == 429
    text = limited.get_data(as_text=True)
    assert "Too many requests to check verification code" in text and re.search(r"Try again in \d+ seconds", text)
    assert db.session.get(User, totp_user.id).failed_verifications == 2


def test_sms_code_is_sent_on_arrival_masked_and_works_once(app, client):
    enable_platform()
    user = gen_user()
    gen_sms(user, "+15555554567")
    sign_in(client, user.email)
    page = client.get("/login/verify").get_data(as_text=True)
    assert "+1******4567" in page and "Resend code" in page
    code = last_code("+15555554567")
    assert verify(client, code).status_code == 303
    # The same code on a new sign-in attempt is refused: codes are bound to one attempt.
    other = app.test_client()
    sign_in(other, user.email)
    assert verify(other, code).status_code == 422


def test_email_code_resend_replaces_the_old_code(client):
    enable_platform(retry_period=5)
    user = gen_user(email="jordan@example.com")
    gen_email(user)
    sign_in(client, user.email)
    assert "jo******@example.com" in client.get("/login/verify").get_data(as_text=True)
    old = last_code(user.email)
    early = post(client, "/login/verify/resend")
    assert early.status_code == 429 and "You can request a new code in" in early.get_data(as_text=True)
    with freeze_time(utcnow() + timedelta(seconds=6)):
        assert post(client, "/login/verify/resend").status_code == 200
        new = last_code(user.email)
        if new != old:
            assert "incorrect" in verify(client, old).get_data(as_text=True)
        assert verify(client, new).status_code == 303


def test_try_another_way_lists_methods_and_switches(client):
    enable_platform()
    user = gen_user()
    totp = gen_totp(user)
    gen_email(user)
    codes = gen_backup_codes(user)
    sign_in(client, user.email)
    listing = client.get("/login/verify/methods").get_data(as_text=True)
    assert "Try another way" in listing and "Backup code" in listing and "Email to" in listing
    response = post(client, "/login/verify/method", {"method": "backup_codes"})
    assert "Backup code" in response.get_data(as_text=True)
    assert verify(client, codes[0].upper()).status_code == 303
    assert totp  # the main method stays the authenticator app


def test_backup_code_single_use_in_any_order(app):
    enable_platform()
    user = gen_user()
    gen_totp(user)
    codes = gen_backup_codes(user, count=3)
    for code in (codes[2], codes[0]):
        c = app.test_client()
        sign_in(c, user.email)
        post(c, "/login/verify/method", {"method": "backup_codes"})
        assert verify(c, f"{code[:4]}-{code[4:]}").status_code == 303
    c = app.test_client()
    sign_in(c, user.email)
    post(c, "/login/verify/method", {"method": "backup_codes"})
    assert verify(c, codes[0]).status_code == 422


def test_remember_device_skips_the_second_step(client, totp_user):
    update_two_factor(remember_device_days=30)
    sign_in(client, totp_user.email)
    page = client.get("/login/verify").get_data(as_text=True)
    assert "Remember this device for 30 days" in page
    response = verify(client, totp_user.totp.now(), remember=True)
    assert response.status_code == 303
    cookie = client.get_cookie("tfa_device")
    assert cookie is not None and cookie.http_only
    client.post("/logout", data={"csrf_token": csrf_token(client.get("/account/security"))})
    assert sign_in(client, totp_user.email).headers["Location"] == "/"
    # Another browser still needs the second step.
    assert sign_in(client.application.test_client(), totp_user.email).headers["Location"] == "/login/verify"


def test_remembered_device_is_forgotten_when_the_password_changes(client, totp_user):
    from tfa import users

    update_two_factor(remember_device_days=30)
    sign_in(client, totp_user.email)
    verify(client, totp_user.totp.now(), remember=True)
    client.post("/logout", data={"csrf_token": csrf_token(client.get("/account/security"))})
    users.set_password(db.session.get(User, totp_user.id), "another long passphrase")
    db.session.commit()
    assert sign_in(client, totp_user.email, "another long passphrase").headers["Location"] == "/login/verify"


def test_no_remember_option_when_days_is_zero(client, totp_user):
    sign_in(client, totp_user.email)
    assert "Remember this device" not in client.get("/login/verify").get_data(as_text=True)
