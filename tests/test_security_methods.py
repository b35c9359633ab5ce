"""The security page's two-factor panels without JavaScript (plain form posts) and with HTMX."""
import re
from datetime import timedelta

import pyotp
import pytest
from freezegun import freeze_time
from sqlalchemy import select

from tests.conftest import PASSWORD, csrf_token, free_port, gen_user, post_form, sign_in
from tests.factories import enable_platform, gen_sms, gen_totp
from tfa import methods, settings
from tfa.extensions import db
from tfa.methods import backup_codes, totp
from tfa.models import BACKUP_CODES, EMAIL, SMS, TOTP, OutboxMessage, PendingEnrollment, SecurityEvent, User
from tfa.types import utcnow

PAGE = "/account/security"
HX = {"HX-Request": "true"}
PHONE = "+12015550123"
OTHER_PHONE = "+14155552671"


@pytest.fixture
def signed_in(client, user):
    enable_platform()
    assert sign_in(client, user.email).status_code == 303
    return user


def post(client, path, data=None, **kwargs):
    """Submit a form of the security page, as a browser without JavaScript does."""
    return post_form(client, PAGE + path, data or {}, page_url=PAGE, **kwargs)


def text(response):
    return response.get_data(as_text=True)


def outbox_code(recipient):
    body = db.session.scalars(
        select(OutboxMessage.body).where(OutboxMessage.recipient == recipient).order_by(OutboxMessage.id.desc())
    ).first()
    assert body, f"nothing in the outbox for {recipient}"
    return re.search(r"\b(\d{6})\b", body).group(1)


def outbox_count(recipient):
    return len(db.session.scalars(select(OutboxMessage.id).where(OutboxMessage.recipient == recipient)).all())


def shown_key(html):
    match = re.search(r'class="secret-key"[^>]*>([A-Z2-7 ]+)</code>', html)
    assert match, "no key on the page"
    return match.group(1).replace(" ", "")


def kinds_of(user):
    return set(methods.all_of(user.id))


def events_of(user, kind):
    return db.session.scalars(select(SecurityEvent).where(SecurityEvent.user_id == user.id, SecurityEvent.kind == kind)).all()


def start_sms(client, phone=PHONE):
    assert post(client, "/sms/switch", {"enabled": "on"}).status_code == 303
    response = post(client, "/sms/send", {"destination": phone})
    assert response.status_code == 303, text(response)
    return outbox_code(phone)


def confirm_password_for(client, method, action, password=PASSWORD):
    return post(client, f"/{method}/confirm-password", {"action": action, "password": password})


# --- The page ------------------------------------------------------------------------------------

def test_page_lists_only_platform_methods_in_order(client, user):
    enable_platform(sms_enabled=False)
    sign_in(client, user.email)
    html = text(client.get(PAGE))
    assert "<title>Password and authentication" in html
    assert "Two-factor authentication" in html
    labels = re.findall(r"> Enable ([A-Za-z ]+)</label>", html)
    assert labels == ["Authenticator app", "Email"]  # backup codes wait for another method
    assert "Enable SMS" not in html
    headings = re.findall(r'<span id="method-[a-z-]+-label">([A-Za-z ]+)', html)
    assert headings == ["Authenticator app", "Email", "Backup codes"]
    assert "Backup codes work next to another method" in html


def test_page_without_platform_methods_says_so(client, user):
    sign_in(client, user.email)
    assert "No two-factor method is available" in text(client.get(PAGE))
    assert client.post(PAGE + "/sms/switch", data={"enabled": "on"}, headers=HX).status_code in (400, 404)


def test_security_page_and_fragments_are_not_cached(client, signed_in):
    assert client.get(PAGE).headers["Cache-Control"] == "no-store"
    response = post(client, "/authenticator-app/switch", {"enabled": "on"}, headers=HX)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert 'hx-history="false"' in text(response)
    assert "HX-Request" in response.headers["Vary"]


def test_panels_need_a_signed_in_user(client, user):
    enable_platform()
    assert client.post(PAGE + "/sms/switch", data={"enabled": "on"}).status_code in (302, 400)
    assert client.get(PAGE + "/backup-codes/backup-codes.txt").status_code == 302
    assert db.session.scalar(select(PendingEnrollment)) is None


# --- Authenticator app -----------------------------------------------------------------------------

def test_enable_authenticator_app_without_javascript(client, signed_in):
    response = post(client, "/authenticator-app/switch", {"enabled": "on"})
    assert response.status_code == 303 and response.headers["Location"].endswith(PAGE)
    html = text(client.get(PAGE))
    assert "You can install apps like Google Authenticator, Authy, or Duo" in html
    assert '<div class="qr" role="img"' in html and "<svg" in html
    key = shown_key(html)
    assert len(key) == 32
    assert re.search(r'secret-key[^>]*>([A-Z2-7]{4} ){7}[A-Z2-7]{4}<', html)  # grouped in fours
    assert 'autocomplete="one-time-code"' in html and 'inputmode="numeric"' in html
    # The secret is never a form value or part of a URL.
    assert f'value="{key}"' not in html and key not in re.sub(r'<code id="authenticator-app-key".*?</code>', "", html)

    code = pyotp.TOTP(key).now()
    response = post(client, "/authenticator-app/verify", {"code": code})
    assert response.status_code == 303
    assert "Authenticator app is on." in text(client.get(PAGE))
    method = methods.all_of(signed_in.id)[TOTP]
    assert method.is_main
    # The step of the code used to enroll is recorded: sign-in will not accept that code again.
    db.session.refresh(signed_in)
    assert signed_in.totp_last_step == totp.matching_step(key, code)
    client.post("/logout", data={"csrf_token": csrf_token(client.get(PAGE))})
    assert sign_in(client, signed_in.email).headers["Location"] == "/login/verify"
    replay = client.post("/login/verify", data={"csrf_token": csrf_token(client.get("/login/verify")), "code": code})
    assert replay.status_code == 422 and "Verification code is incorrect" in text(replay)
    assert events_of(signed_in, "method_enabled")
    assert db.session.scalar(select(PendingEnrollment)) is None
    assert "secret-key" not in text(client.get(PAGE))  # the key is not shown again


def test_authenticator_app_refuses_a_wrong_code(client, signed_in):
    post(client, "/authenticator-app/switch", {"enabled": "on"})
    key = shown_key(text(client.get(PAGE)))
    good = pyotp.TOTP(key).now()
    wrong = f"{(int(good) + 1) % 1000000:06d}"
    response = post(client, "/authenticator-app/verify", {"code": wrong})
    assert response.status_code == 422
    assert "Verification code is incorrect" in text(response)
    assert shown_key(text(response)) == key  # the same key, ready for another try
    assert TOTP not in kinds_of(signed_in)
    assert events_of(signed_in, "failed_code")


def test_turning_the_switch_off_abandons_the_setup(client, signed_in):
    post(client, "/authenticator-app/switch", {"enabled": "on"})
    assert db.session.scalar(select(PendingEnrollment)) is not None
    assert post(client, "/authenticator-app/switch", {}).status_code == 303
    assert db.session.scalar(select(PendingEnrollment)) is None
    assert "secret-key" not in text(client.get(PAGE))


def test_starting_again_gives_a_new_secret(client, signed_in):
    post(client, "/authenticator-app/switch", {"enabled": "on"})
    first = shown_key(text(client.get(PAGE)))
    post(client, "/authenticator-app/switch", {})
    post(client, "/authenticator-app/switch", {"enabled": "on"})
    second = shown_key(text(client.get(PAGE)))
    assert first != second
    assert len(db.session.scalars(select(PendingEnrollment)).all()) == 1
    response = post(client, "/authenticator-app/verify", {"code": pyotp.TOTP(first).now()})
    assert response.status_code == 422


def test_expired_setup_asks_to_start_again(client, signed_in):
    post(client, "/authenticator-app/switch", {"enabled": "on"})
    key = shown_key(text(client.get(PAGE)))
    with freeze_time(utcnow() + timedelta(minutes=16)):
        response = client.post(PAGE + "/authenticator-app/verify", data={"code": pyotp.TOTP(key).now()},
                               headers={**HX, "X-CSRFToken": _token(client)})
    assert response.status_code == 422
    assert "The setup has expired" in text(response)
    assert TOTP not in kinds_of(signed_in)


def _token(client):
    from tests.conftest import csrf_token

    return csrf_token(client.get(PAGE))


# --- SMS ------------------------------------------------------------------------------------------------

def test_enable_sms_without_javascript(client, signed_in):
    assert post(client, "/sms/switch", {"enabled": "on"}).status_code == 303
    html = text(client.get(PAGE))
    assert 'for="sms-destination">Phone number' in html and ">Send code</button>" in html
    response = post(client, "/sms/send", {"destination": "+1 (201) 555-0123"})
    assert response.status_code == 303
    html = text(client.get(PAGE))
    assert "A verification code was sent to +12015550123." in html
    assert 'for="sms-code">Verification code' in html
    assert re.search(r"disabled>Resend code</button>", html) and "Resend code in 30 seconds" in html
    code = outbox_code(PHONE)
    assert post(client, "/sms/verify", {"code": code}).status_code == 303
    method = methods.all_of(signed_in.id)[SMS]
    assert method.destination == PHONE and method.is_main
    assert "Codes are sent to <strong>+12015550123</strong>" in text(client.get(PAGE))
    assert events_of(signed_in, "code_sent") and events_of(signed_in, "method_enabled")


@pytest.mark.parametrize("phone", ["12015550123", "+1 000", "+١٢٠١٥٥٥٠١٢٣", "+1" + "2" * 5000, "call me", "+44 20"])
def test_invalid_phone_numbers_are_refused(client, signed_in, phone):
    post(client, "/sms/switch", {"enabled": "on"})
    response = post(client, "/sms/send", {"destination": phone})
    assert response.status_code == 422
    assert "Enter a valid phone number" in text(response)
    assert outbox_count(phone) == 0


def test_missing_phone_number(client, signed_in):
    post(client, "/sms/switch", {"enabled": "on"})
    response = post(client, "/sms/send", {})
    assert response.status_code == 422
    assert "Enter a phone number" in text(response)


def test_wrong_code_is_refused(client, signed_in):
    code = start_sms(client)
    wrong = f"{(int(code) + 1) % 1000000:06d}"
    response = post(client, "/sms/verify", {"code": wrong})
    assert response.status_code == 422
    assert "Verification code is incorrect" in text(response)
    assert SMS not in kinds_of(signed_in)
    # Not a failed sign-in: the account's failure count is untouched.
    assert db.session.get(User, signed_in.id).failed_verifications == 0


def test_expired_code_is_refused(client, signed_in):
    settings.update_two_factor(sms_code_lifetime=120)
    code = start_sms(client)
    with freeze_time(utcnow() + timedelta(seconds=121)):
        response = post(client, "/sms/verify", {"code": code})
    assert response.status_code == 422
    assert "Verification code has expired, send a new one" in text(response)
    assert SMS not in kinds_of(signed_in)


def test_code_sent_to_another_number_is_refused(client, signed_in):
    first = start_sms(client, PHONE)
    with freeze_time(utcnow() + timedelta(seconds=31)):
        assert post(client, "/sms/send", {"destination": OTHER_PHONE}).status_code == 303
        response = post(client, "/sms/verify", {"code": first})
        assert response.status_code == 422
        assert "Verification code is incorrect" in text(response)
        assert post(client, "/sms/verify", {"code": outbox_code(OTHER_PHONE)}).status_code == 303
    assert methods.all_of(signed_in.id)[SMS].destination == OTHER_PHONE


def test_code_sent_before_a_resend_is_refused(client, signed_in):
    first = start_sms(client)
    with freeze_time(utcnow() + timedelta(seconds=31)):
        assert post(client, "/sms/resend").status_code == 303
        second = outbox_code(PHONE)
        if second != first:
            response = post(client, "/sms/verify", {"code": first})
            assert response.status_code == 422 and "Verification code is incorrect" in text(response)
        assert post(client, "/sms/verify", {"code": second}).status_code == 303


def test_a_used_code_is_refused(client, signed_in):
    code = start_sms(client)
    assert post(client, "/sms/verify", {"code": code}).status_code == 303
    response = post(client, "/sms/verify", {"code": code}, headers=HX)
    assert response.status_code == 422
    assert "This code was already used or no code was sent" in text(response)


def test_resend_waits_for_the_retry_period(client, signed_in):
    settings.update_two_factor(retry_period=30)
    start_sms(client)
    response = post(client, "/sms/resend")
    assert response.status_code == 429
    assert re.search(r"You can request a new code in (30|29) seconds", text(response))
    # Sending to the same number again, or starting over, does not skip the wait.
    assert post(client, "/sms/send", {"destination": PHONE}).status_code == 429
    post(client, "/sms/switch", {})
    post(client, "/sms/switch", {"enabled": "on"})
    assert post(client, "/sms/send", {"destination": PHONE}).status_code == 429
    assert outbox_count(PHONE) == 1
    with freeze_time(utcnow() + timedelta(seconds=31)):
        assert post(client, "/sms/send", {"destination": PHONE}).status_code == 303
    assert outbox_count(PHONE) == 2


def test_a_refused_send_keeps_the_number_the_code_went_to(client, signed_in):
    start_sms(client, PHONE)
    response = post(client, "/sms/send", {"destination": OTHER_PHONE})
    assert response.status_code == 429
    html = text(client.get(PAGE))
    assert "A code was sent to <strong>+12015550123</strong>" in html and OTHER_PHONE not in html
    assert outbox_count(OTHER_PHONE) == 0


@pytest.mark.config(SEND_LIMIT_PER_HOUR=3)
def test_hourly_cap_per_user(client, signed_in):
    settings.update_two_factor(retry_period=5)
    start = utcnow()
    numbers = ["+12015550101", "+12015550102", "+12015550103", "+12015550104"]
    for i, phone in enumerate(numbers):
        with freeze_time(start + timedelta(seconds=10 * i)):
            response = post(client, "/sms/send", {"destination": phone})
            if i < 3:
                assert response.status_code == 303, text(response)
    assert response.status_code == 429
    assert "Too many codes were sent" in text(response)
    assert outbox_count(numbers[3]) == 0


@pytest.mark.config(SEND_LIMIT_PER_HOUR=2)
def test_hourly_cap_per_destination_across_users(app, signed_in):
    settings.update_two_factor(retry_period=5)
    others = [gen_user() for _ in range(3)]
    results = []
    for other in others:
        c = app.test_client()
        sign_in(c, other.email)
        results.append(post(c, "/sms/send", {"destination": PHONE}).status_code)
    assert results == [303, 303, 429]
    assert outbox_count(PHONE) == 2


def test_delivery_failure_is_shown_and_can_be_retried(app, client, user):
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=free_port(), MAIL_DEFAULT_SENDER="tfa@example.com",
                      MAIL_TIMEOUT=2)
    enable_platform(sms_enabled=False, retry_period=30)
    sign_in(client, user.email)
    post(client, "/email/switch", {"enabled": "on"})
    first = post(client, "/email/send", {"destination": user.email})
    assert first.status_code == 422
    message = re.search(r'id="email-destination-error">([^<]+)<', text(first)).group(1)
    assert message.strip() and not re.search(r"\d{6}", message)
    # Not a failed verification, and another try is allowed at once (not held by the retry period).
    second = post(client, "/email/send", {"destination": user.email})
    assert second.status_code == 422
    assert "You can request a new code" not in text(second)
    assert "A code was sent to" not in text(second)
    assert len(events_of(user, "send_failed")) == 2
    assert not events_of(user, "failed_code")
    assert db.session.get(User, user.id).failed_verifications == 0


# --- Email ----------------------------------------------------------------------------------------------

def test_enable_email_without_javascript(app, client, signed_in, smtp_server):
    app.config.update(MAIL_SERVER=smtp_server.host, MAIL_PORT=smtp_server.port, MAIL_DEFAULT_SENDER="tfa@example.com")
    post(client, "/email/switch", {"enabled": "on"})
    html = text(client.get(PAGE))
    assert f'value="{signed_in.email}"' in html  # prefilled with the account's email
    assert post(client, "/email/send", {"destination": signed_in.email}).status_code == 303
    mail = smtp_server.last_to(signed_in.email)
    code = re.search(r"\b(\d{6})\b", mail.text).group(1)
    assert post(client, "/email/verify", {"code": code}).status_code == 303
    assert methods.all_of(signed_in.id)[EMAIL].destination == signed_in.email
    assert any("enabled" in m.subject for m in smtp_server.to(signed_in.email))


@pytest.mark.parametrize("address", ["not-an-email", "a@b", "x" * 300 + "@example.com", "jo@@example.com"])
def test_invalid_email_is_refused(client, signed_in, address):
    post(client, "/email/switch", {"enabled": "on"})
    response = post(client, "/email/send", {"destination": address})
    assert response.status_code == 422
    assert "Enter a valid email address" in text(response)


# --- Main method, turning off, password confirmation ---------------------------------------------------

def test_use_as_main_method(client, signed_in):
    gen_totp(signed_in)
    html = text(client.get(PAGE))
    assert "Use as main method" not in html  # only one method
    gen_sms(signed_in, PHONE)
    html = text(client.get(PAGE))
    assert html.count(">Use as main method</button>") == 1
    assert "This is your main method" in html
    assert post(client, "/sms/main").status_code == 303
    assert methods.main_method(signed_in.id, settings.two_factor()).kind == SMS
    assert events_of(signed_in, "main_method_changed")
    # Backup codes are never the main method.
    response = post(client, "/backup-codes/main", headers=HX)
    assert response.status_code == 422
    assert methods.main_method(signed_in.id, settings.two_factor()).kind == SMS


def test_turning_a_method_off_needs_the_password_again(client, signed_in):
    gen_totp(signed_in)
    gen_sms(signed_in, PHONE)
    response = post(client, "/sms/switch", {})
    assert response.status_code == 200
    html = text(response)
    assert "Confirm your password" in html and 'for="sms-password">Password' in html and ">Confirm</button>" in html
    assert SMS in kinds_of(signed_in)

    wrong = confirm_password_for(client, "sms", "disable", "not the password")
    assert wrong.status_code == 422 and "Password is incorrect" in text(wrong)
    assert SMS in kinds_of(signed_in)

    assert confirm_password_for(client, "sms", "disable").status_code == 303
    assert SMS not in kinds_of(signed_in)
    assert "SMS is off." in text(client.get(PAGE))
    assert events_of(signed_in, "method_disabled")

    # Within five minutes no second confirmation is asked.
    gen_sms(signed_in, PHONE)
    assert post(client, "/sms/switch", {}).status_code == 303
    assert SMS not in kinds_of(signed_in)
    # After five minutes it is asked again.
    with freeze_time(utcnow() + timedelta(minutes=5, seconds=5)):
        response = post(client, "/authenticator-app/switch", {})
        assert response.status_code == 200 and "Confirm your password" in text(response)
    assert TOTP in kinds_of(signed_in)


def test_password_confirmation_is_rate_limited(client, signed_in):
    gen_totp(signed_in)
    statuses = [confirm_password_for(client, "authenticator-app", "disable", "wrong").status_code for _ in range(11)]
    assert statuses[:10] == [422] * 10 and statuses[10] == 429
    assert TOTP in kinds_of(signed_in)


def test_the_last_method_takes_the_backup_codes_with_it(client, signed_in):
    gen_totp(signed_in)
    post(client, "/backup-codes/switch", {"enabled": "on"})
    assert BACKUP_CODES in kinds_of(signed_in)
    post(client, "/authenticator-app/switch", {})
    assert confirm_password_for(client, "authenticator-app", "disable").status_code == 303
    assert kinds_of(signed_in) == set()
    assert backup_codes.remaining(signed_in.id) == 0
    assert "backup-codes-list" not in text(client.get(PAGE))


def test_under_enforcement_the_last_method_stays(client, signed_in):
    settings.update_two_factor(enforce_enabled=True)
    gen_totp(signed_in)
    response = post(client, "/authenticator-app/switch", {})
    assert response.status_code == 422
    assert "Two-factor authentication is required for your account" in text(response)
    assert confirm_password_for(client, "authenticator-app", "disable").status_code == 422
    assert TOTP in kinds_of(signed_in)
    # With a second method, one of them may go.
    gen_sms(signed_in, PHONE)
    assert post(client, "/authenticator-app/switch", {}).status_code == 303
    assert kinds_of(signed_in) == {SMS}


def test_changing_the_phone_needs_the_password_and_a_new_code(client, signed_in):
    gen_sms(signed_in, PHONE)
    # No change without going through the confirmation.
    response = post(client, "/sms/send", {"destination": OTHER_PHONE})
    assert response.status_code == 422 and outbox_count(OTHER_PHONE) == 0
    response = post(client, "/sms/change")
    assert response.status_code == 200 and "Confirm your password" in text(response)
    assert "change where SMS codes are sent" in text(response)
    assert confirm_password_for(client, "sms", "change").status_code == 303
    html = text(client.get(PAGE))
    assert "Codes go to <strong>+12015550123</strong> until the new phone number is verified" in html
    assert post(client, "/sms/send", {"destination": OTHER_PHONE}).status_code == 303
    assert methods.all_of(signed_in.id)[SMS].destination == PHONE  # until verified
    assert post(client, "/sms/verify", {"code": outbox_code(OTHER_PHONE)}).status_code == 303
    assert methods.all_of(signed_in.id)[SMS].destination == OTHER_PHONE
    assert events_of(signed_in, "method_changed")


# --- Another user's methods ------------------------------------------------------------------------------

def test_a_user_cannot_see_or_use_another_users_enrollment(app, client, signed_in):
    other = gen_user()
    other_client = app.test_client()
    sign_in(other_client, other.email)
    post(other_client, "/authenticator-app/switch", {"enabled": "on"})
    other_key = shown_key(text(other_client.get(PAGE)))
    other_code = start_sms(other_client, OTHER_PHONE)
    other_pending = db.session.scalar(select(PendingEnrollment).where(PendingEnrollment.user_id == other.id,
                                                                       PendingEnrollment.kind == SMS))

    html = text(client.get(PAGE))
    assert other_key not in html and OTHER_PHONE not in html and other_pending.id not in html
    # The other user's code, key and enrollment id do nothing for this user, whatever is posted.
    forged = {"code": other_code, "id": other_pending.id, "enrollment_id": other_pending.id, "user_id": other.id}
    response = post(client, "/sms/verify", forged)
    assert response.status_code == 422
    response = post(client, f"/sms/verify?enrollment={other_pending.id}", {"code": pyotp.TOTP(other_key).now()})
    assert response.status_code == 422
    assert post(client, "/authenticator-app/verify", {"code": pyotp.TOTP(other_key).now()}).status_code == 422
    assert kinds_of(signed_in) == set() and kinds_of(other) == set()
    # The other user's setup is untouched and still works for them.
    assert post(other_client, "/sms/verify", {"code": other_code}).status_code == 303
    assert methods.all_of(other.id)[SMS].destination == OTHER_PHONE


# --- Bad input ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("code", ["١٢٣٤٥٦", "１２３４５６", "12345", "1234567", "x" * 5000, "", "12 34 5a"])
def test_bad_codes_get_a_clear_message(client, signed_in, code):
    start_sms(client)
    response = post(client, "/sms/verify", {"code": code})
    assert response.status_code == 422
    assert "Enter the 6-digit verification code" in text(response)


@pytest.mark.parametrize("path", ["/sms/verify", "/sms/send", "/authenticator-app/verify", "/sms/switch",
                                  "/sms/resend", "/sms/change", "/sms/main", "/sms/cancel",
                                  "/backup-codes/regenerate", "/backup-codes/saved", "/sms/confirm-password"])
def test_missing_fields_and_forged_headers_never_fail_with_500(client, signed_in, path):
    for headers in ({}, HX, {**HX, "HX-Target": "../../etc", "HX-Current-URL": "javascript:alert(1)" * 500,
                             "HX-Trigger": "\u202e" * 100}):
        response = post(client, path, {}, headers=headers)
        assert 200 <= response.status_code < 500, (path, headers, response.status_code)
    # No CSRF token at all.
    assert client.post(PAGE + path, headers=HX).status_code == 400


def test_unknown_or_turned_off_methods_are_not_found(client, signed_in):
    settings.update_two_factor(sms_enabled=False)
    assert post(client, "/sms/switch", {"enabled": "on"}).status_code == 404
    assert post(client, "/passkeys/switch", {"enabled": "on"}).status_code == 404
    assert post(client, "/authenticator-app/send", {"destination": PHONE}).status_code == 404
    assert client.get(PAGE + "/sms/switch").status_code == 405


def test_bad_password_confirmation_action_is_refused(client, signed_in):
    gen_totp(signed_in)
    assert confirm_password_for(client, "authenticator-app", "delete_everything").status_code == 400
    assert confirm_password_for(client, "authenticator-app", "x" * 10000).status_code == 400
    assert confirm_password_for(client, "authenticator-app", "disable", "p" * 5000).status_code == 422
    assert TOTP in kinds_of(signed_in)


# --- HTMX ---------------------------------------------------------------------------------------------------

def test_htmx_gets_the_panel_alone_and_errors_as_422(client, signed_in):
    response = post(client, "/sms/switch", {"enabled": "on"}, headers=HX)
    html = text(response)
    assert response.status_code == 200
    assert html.lstrip().startswith('<section id="method-sms"') and "<html" not in html
    assert 'hx-target="this"' in html and 'hx-swap="outerHTML"' in html
    response = post(client, "/sms/send", {"destination": "nope"}, headers=HX)
    assert response.status_code == 422
    assert "Enter a valid phone number" in text(response) and "<html" not in text(response)
    response = post(client, "/sms/send", {"destination": PHONE}, headers=HX)
    assert response.status_code == 200
    assert 'data-countdown="30"' in text(response) and "autofocus" in text(response)


def test_htmx_enabling_a_method_refreshes_the_others(client, signed_in):
    post(client, "/authenticator-app/switch", {"enabled": "on"})
    key = shown_key(text(client.get(PAGE)))
    response = post(client, "/authenticator-app/verify", {"code": pyotp.TOTP(key).now()}, headers=HX)
    html = text(response)
    assert response.status_code == 200
    assert "Authenticator app is on." in html
    # The backup codes panel now offers its switch, swapped out of band; the activity list too.
    assert re.search(r'<section id="method-backup-codes"[^>]*hx-swap-oob="true"', html)
    assert "Enable Backup codes" in html
    assert '<div id="activity" hx-swap-oob="true">' in html and "Method enabled" in html
