"""Signing in: the password step, the pending second step, limits, lockout and finishing.

Defends against password guessing (limits per IP and per account, one message for a wrong email
or password, the same work either way), against skipping the second factor (the pending sign-in
lives on the server and grants nothing), and against guessing codes (limits, lockout that a
correct password does not reset).
"""
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, update

from tfa import crypto, delivery, devices, events, limits, methods, notify, passwords, users
from tfa.extensions import db
from tfa.methods import backup_codes, codes, totp
from tfa.models import BACKUP_CODES, EMAIL, SMS, TOTP, PendingSignIn, User
from tfa.types import utcnow

INVALID_CREDENTIALS = "Invalid email or password"
ACCOUNT_DISABLED = "This account is disabled. Contact your administrator."
ACCOUNT_LOCKED = "User account was locked due to exceeded 2FA verification attempts"


@dataclass(frozen=True)
class PasswordCheck:
    user: User | None = None
    error: str | None = None
    retry_after: int = 0  # set when rate-limited


def _rate_limited(email: str, client, config) -> int:
    per_ip = limits.parse(config["LOGIN_LIMIT_PER_IP"])
    per_account = limits.parse(config["LOGIN_LIMIT_PER_ACCOUNT"])
    by_ip = limits.hit("login-ip", client.ip or "-", *per_ip)
    by_account = limits.hit("login-account", users.normalize_email(email), *per_account)
    return max(by_ip.retry_after, by_account.retry_after)


def check_password(email: str, password: str, client, config) -> PasswordCheck:
    """The password step: the user on success, otherwise an error that tells nothing about accounts."""
    retry_after = _rate_limited(email, client, config)
    if retry_after:
        return PasswordCheck(
            error=f"Too many sign-in attempts. Try again in {retry_after} seconds.", retry_after=retry_after
        )
    user = users.by_email(email) if len(email) <= 254 else None
    if not passwords.verify_password(user.password_hash if user else None, password):
        if user is not None:
            events.record(events.FAILED_PASSWORD, user=user, client=client)
            db.session.commit()
        return PasswordCheck(error=INVALID_CREDENTIALS)
    # Only now, after a correct password, may the answer say anything about the account.
    if not user.enabled:
        return PasswordCheck(error=ACCOUNT_DISABLED)
    if user.is_locked:
        return PasswordCheck(error=ACCOUNT_LOCKED)
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
        db.session.commit()
    return PasswordCheck(user=user)


def complete(user: User, client, *, method: str | None = None) -> None:
    """Record a finished sign-in and commit."""
    _record_sign_in(user, client, method)
    db.session.commit()


def _record_sign_in(user: User, client, method: str | None) -> None:
    """Counters reset, last sign-in time, event (the caller commits)."""
    user.last_sign_in_at = utcnow()
    user.failed_verifications = 0
    events.record(events.SIGN_IN, user=user, client=client, method=method)


# --- The pending sign-in ----------------------------------------------------------------------

SESSION_KEY = "pending_sign_in"
STAGE_VERIFY = "verify"
STAGE_SETUP = "setup"

SIGNED_IN = "signed_in"
VERIFY = "verify"
SETUP = "setup"

CODE_INCORRECT = "Verification code is incorrect"
CODE_EXPIRED = "Verification code has expired. Send a new one."
CODE_NOT_SENT = "No code was sent yet, or it was already used. Send a new one."
CODE_FORMAT = "Enter the 6-digit code"
BACKUP_FORMAT = "Enter a backup code: 8 characters, letters a–f and digits"
TOO_MANY_CHECKS = "Too many requests to check verification code"
VERIFICATION_EXPIRED = "Verification time expired, sign in again"


def clear_pending(session, *, commit: bool = True) -> None:
    """End any pending sign-in held by this session: the one place that does it."""
    pending_id = session.pop(SESSION_KEY, None)
    if pending_id:
        codes.discard(pending_id)
        db.session.execute(delete(PendingSignIn).where(PendingSignIn.id == pending_id))
        if commit:
            db.session.commit()


def load_pending(session) -> tuple[PendingSignIn | None, bool]:
    """The session's pending sign-in and whether it just expired (then it is cleared)."""
    pending_id = session.get(SESSION_KEY)
    if not pending_id:
        return None, False
    pending = db.session.get(PendingSignIn, pending_id)
    if pending is None:
        session.pop(SESSION_KEY, None)
        return None, False
    if pending.expires_at <= utcnow():
        clear_pending(session)
        return None, True
    return pending, False


def begin(user: User, session, settings, client, *, device_token: str | None = None) -> str:
    """After a correct password: SIGNED_IN, or VERIFY/SETUP with a pending sign-in in the session."""
    clear_pending(session)
    main = methods.main_method(user.id, settings)
    if main is not None:
        if settings.remember_device_days > 0 and devices.is_remembered(user, device_token):
            db.session.commit()
            return SIGNED_IN
        stage = STAGE_VERIFY
    elif settings.enforced_for(user):
        stage = STAGE_SETUP
    else:
        return SIGNED_IN
    pending = PendingSignIn(
        id=secrets.token_urlsafe(32),
        user_id=user.id,
        stage=stage,
        method=None,
        expires_at=utcnow() + timedelta(seconds=settings.total_verification_time),
        ip=client.ip,
        user_agent=(client.user_agent or "")[:255] or None,
    )
    if stage == STAGE_VERIFY:
        pending.method = main.kind
    db.session.add(pending)
    session[SESSION_KEY] = pending.id  # read before the commit expires the row
    db.session.commit()
    return VERIFY if stage == STAGE_VERIFY else SETUP


def user_methods(pending: PendingSignIn, settings) -> list[str]:
    """The kinds the pending user can verify with, in display order."""
    return usable_kinds(pending.user_id, methods.active(pending.user_id, settings))


def usable_kinds(user_id: int, active) -> list[str]:
    """The kinds of these active methods that can still be used (backup codes only while some remain)."""
    kinds = [m.kind for m in active]
    if BACKUP_CODES in kinds and backup_codes.remaining(user_id) == 0:
        kinds.remove(BACKUP_CODES)
    return kinds


def mask_destination(kind: str, destination: str | None) -> str:
    """A phone number or address shown without most of it: "+1******4567", "jo******@example.com"."""
    if not destination:
        return ""
    if kind == SMS:
        return destination[:2] + "*" * 6 + destination[-4:]
    local, _, domain = destination.partition("@")
    return local[:2] + "*" * 6 + "@" + domain


@dataclass(frozen=True)
class SendResult:
    sent: bool
    error: str | None = None
    retry_after: int = 0


def send_code(pending: PendingSignIn, settings, client, *, config) -> SendResult:
    """Send a code for the pending method (SMS or email), within the retry period and hourly cap."""
    kind = pending.method
    if kind not in (SMS, EMAIL):
        return SendResult(False, "This method does not send codes")
    method = methods.all_of(pending.user_id).get(kind)
    if method is None or not settings.method_enabled(kind):
        return SendResult(False, "This method is not available")
    wait = codes.seconds_until_resend(pending.id, kind, settings.retry_period)
    if wait:
        return SendResult(False, f"You can request a new code in {wait} seconds", wait)
    hourly = limits.hit("send-user", f"{pending.user_id}", config["SEND_LIMIT_PER_HOUR"], 3600)
    if not hourly.allowed:
        return SendResult(False, f"Too many codes were sent. Try again in {hourly.retry_after} seconds", hourly.retry_after)
    user = db.session.get(User, pending.user_id)
    code = codes.issue(user.id, purpose="signin", context_id=pending.id, method=kind,
                       destination=method.destination, lifetime=settings.code_lifetime(kind))
    db.session.commit()
    try:
        _deliver(kind, method.destination, code, user, settings)
    except delivery.DeliveryError as error:
        # Not a failed verification: forget the code so that a resend is allowed at once.
        codes.discard(pending.id)
        events.record(events.SEND_FAILED, user=user, client=client, method=kind, details={"error": str(error)})
        db.session.commit()
        return SendResult(False, f"The code could not be sent: {error}. Try again.")
    events.record(events.CODE_SENT, user=user, client=client, method=kind)
    db.session.commit()
    return SendResult(True)


def _deliver(kind, destination, code, user, settings):
    from tfa.delivery import messages

    if kind == SMS:
        delivery.send_sms(destination, messages.verification_sms(settings.sms_template, code, user.email))
    else:
        subject, text, html = messages.verification_email(code, max(1, settings.email_code_lifetime // 60))
        delivery.send_email(destination, subject, text, html)


def send_code_if_needed(pending: PendingSignIn, settings, client, *, config) -> str | None:
    """Send a code when the pending method is SMS or email (on arrival, or after switching to it);
    returns the error to show, if any."""
    if pending.method not in (SMS, EMAIL):
        return None
    return send_code(pending, settings, client, config=config).error


def choose_method(pending: PendingSignIn, kind: str, settings) -> bool:
    """Switch the pending sign-in to another of the user's methods (the caller sends a code)."""
    if kind not in user_methods(pending, settings):
        return False
    pending.method = kind
    db.session.commit()
    return True


@dataclass(frozen=True)
class CheckResult:
    ok: bool = False
    error: str | None = None
    retry_after: int = 0
    locked: bool = False
    counted: bool = False  # whether it counted as a failed verification


def check_code(pending: PendingSignIn, raw_code: str, settings, client) -> CheckResult:
    """Check the code for the pending method; counts failures and locks the account at the maximum."""
    kind, pending_id = pending.method, pending.id
    # Every check of this user's codes takes the user row first (and finish() too): PostgreSQL
    # transactions then lock in one order and never deadlock; SQLite serialises writes anyway.
    user = db.session.get(User, pending.user_id, with_for_update=True)
    if user is None or not user.enabled:
        return CheckResult(error=ACCOUNT_DISABLED)
    if user.is_locked:
        return CheckResult(error=ACCOUNT_LOCKED, locked=True)
    active = methods.active(user.id, settings)
    if kind not in usable_kinds(user.id, active):
        return CheckResult(error="This method is not available. Try another way.")
    if settings.check_limit_enabled:
        limit = limits.hit("code-check", f"{user.id}:{kind}", settings.check_limit_attempts, settings.check_limit_seconds)
        if not limit.allowed:
            return CheckResult(error=f"{TOO_MANY_CHECKS}. Try again in {limit.retry_after} seconds.",
                               retry_after=limit.retry_after)
    if kind == BACKUP_CODES:
        if backup_codes.normalize(raw_code) is None:
            return CheckResult(error=BACKUP_FORMAT)
        passed, error = backup_codes.use(user.id, raw_code), CODE_INCORRECT
    else:
        code = codes.normalize_code(raw_code)
        if code is None:
            return CheckResult(error=CODE_FORMAT)
        method = next(m for m in active if m.kind == kind)
        passed, error = _check_one_time_code(pending_id, method, code)
    if passed:
        db.session.commit()
        return CheckResult(ok=True)
    return _count_failure(pending_id, user, kind, error, settings, client)


def _check_one_time_code(pending_id, method, code) -> tuple[bool, str]:
    kind = method.kind
    if kind == TOTP:
        step = totp.matching_step(crypto.decrypt(method.secret_encrypted), code)
        return (step is not None and totp.consume_step(method.id, step)), CODE_INCORRECT
    result = codes.check(pending_id, kind, method.destination, code)
    if result.ok:
        return True, ""
    return False, {codes.EXPIRED: CODE_EXPIRED, codes.NOT_SENT: CODE_NOT_SENT}.get(result.outcome, CODE_INCORRECT)


def _count_failure(pending_id, user, kind, error, settings, client) -> CheckResult:
    # One atomic increment, whatever the number of processes answering this user.
    count = db.session.execute(
        update(User)
        .where(User.id == user.id)
        .values(failed_verifications=User.failed_verifications + 1)
        .returning(User.failed_verifications)
    ).scalar_one()
    events.record(events.FAILED_CODE, user=user, client=client, method=kind, details={"failures": count})
    first_failure = db.session.execute(
        update(PendingSignIn)
        .where(PendingSignIn.id == pending_id, PendingSignIn.failure_notified.is_(False))
        .values(failure_notified=True)
    ).rowcount == 1
    locked_now = False
    if settings.max_failures and count >= settings.max_failures:
        locked_now = db.session.execute(
            update(User).where(User.id == user.id, User.locked_at.is_(None)).values(locked_at=utcnow())
        ).rowcount == 1
        if locked_now:
            events.record(events.LOCKOUT, user=user, client=client, method=kind, details={"failures": count})
    db.session.commit()
    if locked_now:
        notify.account_locked(user, client=client, also_to=settings.lockout_notification_email)
    elif first_failure:
        notify.second_step_failed(user, client=client)
    if settings.max_failures and count >= settings.max_failures:
        return CheckResult(error=ACCOUNT_LOCKED, locked=True, counted=True)
    return CheckResult(error=error, counted=True)


def finish(pending: PendingSignIn, session, settings, client, *, remember: bool) -> str | None:
    """Complete a passed second step: ends the pending sign-in, resets counters; returns a device token."""
    user = db.session.get(User, pending.user_id)
    kind = pending.method
    # The user row first, as check_code() takes it: one lock order for every transaction here.
    _record_sign_in(user, client, kind)
    db.session.flush()
    clear_pending(session, commit=False)
    token = None
    if remember and settings.remember_device_days > 0:
        token = devices.remember(user, settings.remember_device_days, client=client)
    if kind == BACKUP_CODES:
        events.record(events.BACKUP_CODE_USED, user=user, client=client, method=kind)
    db.session.commit()
    if kind == BACKUP_CODES:
        notify.backup_code_used(user, backup_codes.remaining(user.id), client=client)
    if token:
        notify.device_remembered(user, settings.remember_device_days, client=client)
    return token


def setup_user(session) -> User | None:
    """The user of a live pending sign-in that waits for a method to be set up (enforcement)."""
    pending, _ = load_pending(session)
    if pending is None or pending.stage != STAGE_SETUP:
        return None
    user = db.session.get(User, pending.user_id)
    return user if user is not None and user.enabled and not user.is_locked else None


def finish_setup(session, settings, client) -> User | None:
    """Complete a forced setup once the user has a method; None while they have none."""
    pending, _ = load_pending(session)
    if pending is None or pending.stage != STAGE_SETUP:
        return None
    user = db.session.get(User, pending.user_id)
    if not methods.has_second_factor(user.id, settings):
        return None
    _record_sign_in(user, client, methods.main_method(user.id, settings).kind)
    db.session.flush()  # the user row first, as in finish()
    clear_pending(session, commit=False)
    db.session.commit()
    return user
