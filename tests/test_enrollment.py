"""The enrollment and re-authentication services, called the way views call them."""
import re
import time
from datetime import timedelta

import pyotp
import pytest
from freezegun import freeze_time
from sqlalchemy import select

from tests.conftest import PASSWORD, csrf_token, gen_user, sign_in
from tests.factories import enable_platform, gen_totp
from tfa import crypto, enrollment, methods, reauth, settings
from tfa.enrollment import EnrollmentError
from tfa.events import Client
from tfa.extensions import db
from tfa.models import EMAIL, SMS, TOTP, OutboxMessage, PendingEnrollment, SentCode
from tfa.types import utcnow

CLIENT = Client(ip="192.0.2.1", user_agent="pytest")
PHONE = "+12015550123"


def last_code(recipient):
    body = db.session.scalars(
        select(OutboxMessage.body).where(OutboxMessage.recipient == recipient).order_by(OutboxMessage.id.desc())
    ).first()
    return re.search(r"\b(\d{6})\b", body).group(1)


@pytest.mark.parametrize("raw, expected", [
    ("+1 201 555 0123", PHONE), ("+1 (201) 555-0123", PHONE), ("  +12015550123 ", PHONE),
    ("+33 6 12 34 56 78", "+33612345678"),
])
def test_phone_numbers_are_stored_in_e164(app, raw, expected):
    assert enrollment.normalize_destination(SMS, raw) == expected


@pytest.mark.parametrize("raw", ["2015550123", "+1 000 000", "+١٢٠١٥٥٥٠١٢٣", "", None, "+" + "1" * 40, "+1 201 555 0123 ext"])
def test_invalid_phone_numbers(app, raw):
    with pytest.raises(EnrollmentError, match="Enter a valid phone number"):
        enrollment.normalize_destination(SMS, raw)


def test_email_addresses_are_normalised(app):
    assert enrollment.normalize_destination(EMAIL, " Jo@Example.COM ") == "jo@example.com"
    for bad in ("jo", "jo@", "@example.com", "a" * 250 + "@example.com", None):
        with pytest.raises(EnrollmentError, match="Enter a valid email address"):
            enrollment.normalize_destination(EMAIL, bad)


def test_one_pending_enrollment_per_user_and_kind(app, user):
    first = enrollment.start_totp(user).id
    second = enrollment.start_totp(user)
    assert first != second.id and len(second.id) >= 40
    rows = db.session.scalars(select(PendingEnrollment).where(PendingEnrollment.user_id == user.id)).all()
    assert [r.id for r in rows] == [second.id]
    assert second.expires_at - second.created_at == timedelta(minutes=15)


def test_a_code_is_used_once_even_when_confirmed_twice(app, user):
    s = enable_platform()
    enrollment.send_code(user, SMS, PHONE, client=CLIENT, settings=s)
    code = last_code(PHONE)
    enrollment.confirm_destination(user, SMS, code, client=CLIENT, settings=s)
    with pytest.raises(EnrollmentError, match="already used or no code was sent"):
        enrollment.confirm_destination(user, SMS, code, client=CLIENT, settings=s)


def test_a_used_code_of_a_live_enrollment_is_refused(app, user):
    s = enable_platform()
    enrollment.send_code(user, SMS, PHONE, client=CLIENT, settings=s)
    sent = db.session.scalar(select(SentCode))
    sent.used_at = utcnow()  # as if another request had just consumed it
    db.session.commit()
    with pytest.raises(EnrollmentError, match="already used or no code was sent"):
        enrollment.confirm_destination(user, SMS, last_code(PHONE), client=CLIENT, settings=s)
    assert SMS not in methods.all_of(user.id)


def test_code_checks_are_rate_limited(app, user):
    s = enable_platform()
    enrollment.send_code(user, SMS, PHONE, client=CLIENT, settings=s)
    good = last_code(PHONE)
    wrong = f"{(int(good) + 1) % 1000000:06d}"
    for _ in range(enrollment.CHECK_ATTEMPTS):
        with pytest.raises(EnrollmentError, match="incorrect"):
            enrollment.confirm_destination(user, SMS, wrong, client=CLIENT, settings=s)
    with pytest.raises(EnrollmentError, match="Too many requests to check verification code") as refused:
        enrollment.confirm_destination(user, SMS, good, client=CLIENT, settings=s)
    assert refused.value.status == 429


def test_sms_text_comes_from_the_platform_template(app, user):
    s = enable_platform(sms_template="tfa ${code} for ${userEmail} ${other}")
    enrollment.send_code(user, SMS, PHONE, client=CLIENT, settings=s)
    body = db.session.scalars(select(OutboxMessage.body)).first()
    assert re.fullmatch(rf"tfa \d{{6}} for {re.escape(user.email)} \$\{{other\}}", body)


def test_totp_enrollment_records_the_step_used(app, user):
    s = enable_platform()
    pending = enrollment.start_totp(user)
    secret = crypto.decrypt(pending.secret_encrypted)
    now = time.time()
    method = enrollment.confirm_totp(user, pyotp.TOTP(secret).at(now), client=CLIENT, settings=s)
    assert user.totp_last_step == int(now) // 30
    assert crypto.decrypt(method.secret_encrypted) == secret


def test_backup_codes_sealed_for_the_session(app, user):
    other = gen_user()
    sealed = enrollment.seal_codes(user.id, ["0123abcd", "deadbeef"])
    assert "0123abcd" not in sealed
    assert enrollment.unseal_codes(user.id, sealed, 60) == ["0123abcd", "deadbeef"]
    assert enrollment.unseal_codes(other.id, sealed, 60) is None
    assert enrollment.unseal_codes(user.id, sealed[:-4] + "AAAA", 60) is None
    assert enrollment.unseal_codes(user.id, None, 60) is None
    assert enrollment.unseal_codes(user.id, "é" * 10, 60) is None
    with freeze_time(utcnow() + timedelta(seconds=61)):
        assert enrollment.unseal_codes(user.id, sealed, 60) is None


def test_disable_refuses_the_last_method_under_enforcement(app, user):
    s = enable_platform(enforce_enabled=True)
    gen_totp(user)
    with pytest.raises(EnrollmentError, match="required for your account"):
        enrollment.disable(user, TOTP, client=CLIENT, settings=s)
    s = settings.update_two_factor(enforce_enabled=False)
    enrollment.disable(user, TOTP, client=CLIENT, settings=s)
    assert methods.all_of(user.id) == {}


# --- Re-authentication ---------------------------------------------------------------------------------

def test_recent_means_within_five_minutes():
    now = time.time()
    assert reauth.is_recent(now, at=now)
    assert reauth.is_recent(now - 299, at=now)
    assert not reauth.is_recent(now - 301, at=now)
    assert not reauth.is_recent(now + 60, at=now)  # from the future: not trusted
    for bad in (None, "12", True, [now]):
        assert not reauth.is_recent(bad, at=now)


def test_confirm_password(app, user):
    assert reauth.confirm_password(user, PASSWORD, client=CLIENT)
    wrong = reauth.confirm_password(user, "not it", client=CLIENT)
    assert not wrong and wrong.error == "Password is incorrect"
    assert not reauth.confirm_password(user, "", client=CLIENT)
    assert not reauth.confirm_password(user, "x" * 10_000, client=CLIENT)


# --- The code used to enroll cannot be replayed at sign-in ----------------------------------------------

def test_enrollment_code_is_refused_at_the_next_sign_in(app, client, user):
    enable_platform()
    sign_in(client, user.email)
    page = client.get("/account/security")
    client.post("/account/security/authenticator-app/switch", data={"csrf_token": csrf_token(page), "enabled": "on"})
    html = client.get("/account/security").get_data(as_text=True)
    key = re.search(r'class="secret-key"[^>]*>([A-Z2-7 ]+)</code>', html).group(1).replace(" ", "")
    with freeze_time(utcnow()):
        code = pyotp.TOTP(key).now()
        response = client.post("/account/security/authenticator-app/verify",
                               data={"csrf_token": csrf_token(html), "code": code})
        assert response.status_code == 303
        client.post("/logout", data={"csrf_token": csrf_token(client.get("/account/security"))})
        assert sign_in(client, user.email).headers["Location"] == "/login/verify"
        verify_page = client.get("/login/verify")
        response = client.post("/login/verify", data={"csrf_token": csrf_token(verify_page), "code": code})
        assert "Verification code is incorrect" in response.get_data(as_text=True)
    assert client.get("/account/security").status_code != 200
