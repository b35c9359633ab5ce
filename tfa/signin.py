"""Signing in: the password step, the pending second step, limits, lockout and finishing.

Defends against password guessing (limits per IP and per account, one message for a wrong email
or password, the same work either way), against skipping the second factor (the pending sign-in
lives on the server and grants nothing), and against guessing codes (limits, lockout that a
correct password does not reset).
"""
import hmac
import secrets
import time
from dataclasses import asdict, dataclass, field

from sqlalchemy import bindparam, or_, select, update

from tfa import crypto, delivery, devices, events, limits, methods, notify, passwords, sessions, users
from tfa.extensions import db
from tfa.methods import backup_codes, codes, totp
from tfa.models import BACKUP_CODES, EMAIL, SMS, TOTP, User
from tfa.types import utcnow

INVALID_CREDENTIALS = "Invalid email or password"
ACCOUNT_DISABLED = "This account is disabled. Contact your administrator."
ACCOUNT_LOCKED = "User account was locked due to exceeded 2FA verification attempts"


@dataclass(frozen=True)
class PasswordCheck:
    user: User | None = None
    methods: dict = field(default_factory=dict)  # the user's method rows by kind, loaded with the user
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
    user, rows = (None, {})
    if len(email) <= 254:
        user, rows = methods.user_with_methods(email=users.normalize_email(email))
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
    return PasswordCheck(user=user, methods=rows)


def complete(user: User, client, *, method: str | None = None) -> bool:
    """Record a finished sign-in without a second step and commit; False if the account was locked
    or disabled meanwhile."""
    if not _record_sign_in(user.id, user.session_token):
        db.session.rollback()
        return False
    events.record(events.SIGN_IN, user=user, client=client, method=method)
    _commit_keeping(user)
    return True


_USERS = User.__table__
# Built once (Core, bound parameters): the one write every second step makes. Its WHERE is the check.
_SIGN_IN = (
    update(_USERS)
    .where(_USERS.c.id == bindparam("b_id"), _USERS.c.enabled.is_(True), _USERS.c.locked_at.is_(None),
           _USERS.c.session_token == bindparam("b_token"))
    .values(failed_verifications=0, last_sign_in_at=bindparam("b_now"))
)
_SIGN_IN_TOTP = (
    _SIGN_IN.where(or_(_USERS.c.totp_last_step.is_(None), _USERS.c.totp_last_step < bindparam("b_step")))
    .values(totp_last_step=bindparam("b_step"))
)


def _record_sign_in(user_id: int, token: str, *, totp_step: int | None = None) -> bool:
    """Reset the failure counter and set the sign-in time, only while the account is enabled, not
    locked and has the session token `token` (no password change since), and (authenticator app)
    only for a step later than the last one accepted.

    This UPDATE is where parallel checks of one user's codes meet: it takes the user row's lock, as
    every failure does, so a lockout committed by another process is seen here, and a TOTP step
    passes at most once. False: nothing was changed (the caller rolls back).
    """
    params = {"b_id": user_id, "b_now": utcnow(), "b_token": token}
    if totp_step is None:
        return db.session.execute(_SIGN_IN, params).rowcount == 1
    return db.session.execute(_SIGN_IN_TOTP, {**params, "b_step": totp_step}).rowcount == 1


def _commit_keeping(user: User) -> None:
    """Commit, keeping `user` usable afterwards without reloading it (it is detached with its state)."""
    db.session.flush()
    db.session.expunge(user)
    db.session.commit()


# --- The pending sign-in ----------------------------------------------------------------------
#
# A correct password waiting for its second step (or, under enforcement, for a method to be set
# up) lives in the server-side session row (tfa.sessions), never in the cookie: nothing to look up
# on each step, and it ends with the session. What must hold across parallel requests (the failure
# count, the lock, the mail sent on the first failure) is kept on the user row.

SESSION_KEY = sessions.PENDING_KEY
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
FAILURE_MAILS_PER_HOUR = 5  # "the second step failed" mails to one user


@dataclass
class PendingSignIn:
    id: str  # random; binds the codes sent for this sign-in (tfa.methods.codes)
    user_id: int
    stage: str
    method: str | None
    expires_at: float  # Unix time
    user_token: str  # the user's session token at the password step: a password change ends the sign-in
    codes_sent: bool = False

    @classmethod
    def from_session(cls, value) -> "PendingSignIn | None":
        try:
            pending = cls(**value)
        except TypeError:
            return None
        ok = (isinstance(pending.id, str) and isinstance(pending.user_id, int)
              and pending.stage in (STAGE_VERIFY, STAGE_SETUP) and isinstance(pending.expires_at, (int, float))
              and isinstance(pending.user_token, str))
        return pending if ok else None


def _save_pending(session, pending: PendingSignIn) -> None:
    session[SESSION_KEY] = asdict(pending)


def clear_pending(session, *, commit: bool = True, discard_codes: bool = True) -> None:
    """End any pending sign-in held by this session: the one place that does it.

    The codes sent for it are deleted, unless `discard_codes` is False (after a code was just
    consumed: the others died with the sign-in, and purge-expired deletes them).
    """
    pending = PendingSignIn.from_session(session.pop(SESSION_KEY, None) or {})
    if pending is not None and pending.codes_sent and discard_codes:
        codes.discard(pending.id)
        if commit:
            db.session.commit()


def load_pending(session) -> tuple[PendingSignIn | None, bool]:
    """The session's pending sign-in and whether it just expired (then it is cleared)."""
    value = session.get(SESSION_KEY)
    if not value:
        return None, False
    pending = PendingSignIn.from_session(value)
    if pending is None:
        session.pop(SESSION_KEY, None)
        return None, False
    if pending.expires_at <= time.time():
        clear_pending(session)
        return None, True
    return pending, False


def begin(user: User, rows: dict, session, settings, client, *, device_token: str | None = None) -> str:
    """After a correct password: SIGNED_IN, or VERIFY/SETUP with a pending sign-in in the session.

    `rows`: the user's method rows by kind (PasswordCheck.methods).
    """
    clear_pending(session)
    main = methods.main_of(rows, settings)
    if main is not None:
        if settings.remember_device_days > 0 and devices.is_remembered(user, device_token):
            db.session.commit()
            return SIGNED_IN
        stage = STAGE_VERIFY
    elif settings.enforced_for(user):
        stage = STAGE_SETUP
    else:
        return SIGNED_IN
    _save_pending(session, PendingSignIn(
        id=secrets.token_urlsafe(32),
        user_id=user.id,
        stage=stage,
        method=main.kind if main is not None else None,
        expires_at=time.time() + settings.total_verification_time,
        user_token=user.session_token,
    ))
    return VERIFY if stage == STAGE_VERIFY else SETUP


def user_with_methods(session, pending: PendingSignIn, *, fresh: bool = False):
    """The pending user and their method rows: as loaded with the session at the start of this
    request (tfa.sessions), else — or when `fresh`, because this request has committed since —
    read now."""
    user = getattr(session, "user", None)
    if not fresh and user is not None and user.id == pending.user_id:
        return user, session.user_methods
    return methods.user_with_methods(user_id=pending.user_id)


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


def send_code(pending: PendingSignIn, session, settings, client, *, config, rows=None) -> SendResult:
    """Send a code for the pending method (SMS or email), within the retry period and hourly cap.

    `rows`: the user's method rows by kind, when the caller has just read them.
    """
    kind = pending.method
    if kind not in (SMS, EMAIL):
        return SendResult(False, "This method does not send codes")
    if rows is None:
        _, rows = user_with_methods(session, pending)
    method = rows.get(kind)
    if method is None or not settings.method_enabled(kind):
        return SendResult(False, "This method is not available")
    # A sign-in that has sent nothing yet has no retry period running (its id is new).
    wait = codes.seconds_until_resend(pending.id, kind, settings.retry_period) if pending.codes_sent else 0
    if wait:
        return SendResult(False, f"You can request a new code in {wait} seconds", wait)
    hourly = limits.hit("send-user", f"{pending.user_id}", config["SEND_LIMIT_PER_HOUR"], 3600)
    if not hourly.allowed:
        return SendResult(False, f"Too many codes were sent. Try again in {hourly.retry_after} seconds", hourly.retry_after)
    user_id, destination = pending.user_id, method.destination  # read before the commit expires them
    email = db.session.get(User, user_id).email
    code = codes.issue(user_id, purpose="signin", context_id=pending.id, method=kind,
                       destination=destination, lifetime=settings.code_lifetime(kind), replace=pending.codes_sent)
    db.session.commit()
    if not pending.codes_sent:
        pending.codes_sent = True
        _save_pending(session, pending)
    try:
        _deliver(kind, destination, code, email, settings)
    except delivery.DeliveryError as error:
        # Not a failed verification: forget the code so that a resend is allowed at once.
        codes.discard(pending.id)
        events.record(events.SEND_FAILED, user=user_id, client=client, method=kind, details={"error": str(error)})
        db.session.commit()
        return SendResult(False, f"The code could not be sent: {error}. Try again.")
    events.record(events.CODE_SENT, user=user_id, client=client, method=kind)
    db.session.commit()
    return SendResult(True)


def _deliver(kind, destination, code, email, settings):
    from tfa.delivery import messages

    if kind == SMS:
        delivery.send_sms(destination, messages.verification_sms(settings.sms_template, code, email))
    else:
        subject, text, html = messages.verification_email(code, max(1, settings.email_code_lifetime // 60))
        delivery.send_email(destination, subject, text, html)


def send_code_if_needed(pending: PendingSignIn, session, settings, client, *, config, rows=None) -> str | None:
    """Send a code when the pending method is SMS or email (on arrival, or after switching to it);
    returns the error to show, if any."""
    if pending.method not in (SMS, EMAIL):
        return None
    return send_code(pending, session, settings, client, config=config, rows=rows).error


def choose_method(pending: PendingSignIn, session, kind: str, settings) -> bool:
    """Switch the pending sign-in to another of the user's methods (the caller sends a code)."""
    if kind not in user_methods(pending, settings):
        return False
    pending.method = kind
    _save_pending(session, pending)
    return True


@dataclass(frozen=True)
class CheckResult:
    ok: bool = False
    error: str | None = None
    retry_after: int = 0
    locked: bool = False
    counted: bool = False  # whether it counted as a failed verification
    ended: bool = False  # the sign-in can no longer finish (the password was changed meanwhile)
    user: User | None = None  # on success: the signed-in user
    device_token: str | None = None  # on success, when the device is to be remembered: its cookie


def check_code(pending: PendingSignIn, raw_code: str, session, settings, client, *, remember: bool) -> CheckResult:
    """The second step: check the code for the pending method and, when it passes, finish the sign-in
    (ends the pending sign-in, resets the counters, remembers the device if asked). A wrong code is
    counted, and the account locks at the maximum."""
    kind, pending_id = pending.method, pending.id
    user, rows = user_with_methods(session, pending)
    if user is None or not user.enabled:
        return CheckResult(error=ACCOUNT_DISABLED)
    if user.is_locked:
        return CheckResult(error=ACCOUNT_LOCKED, locked=True)
    if not hmac.compare_digest(user.session_token, pending.user_token):
        return CheckResult(error=VERIFICATION_EXPIRED, ended=True)
    method = next((m for m in methods.active_of(rows, settings) if m.kind == kind), None)
    unused = backup_codes.remaining(user.id) if method is not None and kind == BACKUP_CODES else None
    if method is None or unused == 0:
        return CheckResult(error="This method is not available. Try another way.")
    if settings.check_limit_enabled:
        limit = limits.hit("code-check", f"{user.id}:{kind}", settings.check_limit_attempts, settings.check_limit_seconds)
        if not limit.allowed:
            return CheckResult(error=f"{TOO_MANY_CHECKS}. Try again in {limit.retry_after} seconds.",
                               retry_after=limit.retry_after)
    totp_step = None
    if kind == BACKUP_CODES:
        if backup_codes.normalize(raw_code) is None:
            return CheckResult(error=BACKUP_FORMAT)
        passed, error = backup_codes.use(user.id, raw_code), CODE_INCORRECT
    else:
        code = codes.normalize_code(raw_code)
        if code is None:
            return CheckResult(error=CODE_FORMAT)
        if kind == TOTP:
            totp_step = totp.matching_step(crypto.decrypt(method.secret_encrypted), code)
            passed, error = totp_step is not None, CODE_INCORRECT
        else:
            passed, error = _check_sent_code(pending_id, method, code)
    user_id = user.id
    if passed:
        if _record_sign_in(user_id, pending.user_token, totp_step=totp_step):
            left = unused - 1 if unused is not None else None  # backup codes left after this one
            return _finish(user, kind, session, settings, client, remember=remember, backup_codes_left=left)
        # Locked or disabled by a parallel request, or a TOTP step already used (a replay): undo
        # the code's consumption, and answer from the row as it is now.
        db.session.rollback()
        state = db.session.execute(
            select(User.enabled, User.locked_at, User.session_token).where(User.id == user_id)
        ).one()
        if not state.enabled:
            return CheckResult(error=ACCOUNT_DISABLED)
        if state.locked_at is not None:
            return CheckResult(error=ACCOUNT_LOCKED, locked=True)
        if state.session_token != pending.user_token:
            return CheckResult(error=VERIFICATION_EXPIRED, ended=True)
    return _count_failure(pending_id, user_id, kind, error, settings, client)


def _check_sent_code(pending_id, method, code) -> tuple[bool, str]:
    result = codes.check(pending_id, method.kind, method.destination, code)
    if result.ok:
        return True, ""
    return False, {codes.EXPIRED: CODE_EXPIRED, codes.NOT_SENT: CODE_NOT_SENT}.get(result.outcome, CODE_INCORRECT)


def _count_failure(pending_id, user_id, kind, error, settings, client) -> CheckResult:
    # One atomic increment, whatever the number of processes answering this user.
    count = db.session.execute(
        update(User)
        .where(User.id == user_id)
        .values(failed_verifications=User.failed_verifications + 1)
        .returning(User.failed_verifications)
    ).scalar_one()
    events.record(events.FAILED_CODE, user=user_id, client=client, method=kind, details={"failures": count})
    # The first failure of this pending sign-in, and only that one, is mailed.
    first_failure = db.session.execute(
        update(User)
        .where(User.id == user_id, or_(User.failure_notified_for.is_(None), User.failure_notified_for != pending_id))
        .values(failure_notified_for=pending_id)
    ).rowcount == 1
    locked_now = False
    if settings.max_failures and count >= settings.max_failures:
        locked_now = db.session.execute(
            update(User).where(User.id == user_id, User.locked_at.is_(None)).values(locked_at=utcnow())
        ).rowcount == 1
        if locked_now:
            events.record(events.LOCKOUT, user=user_id, client=client, method=kind, details={"failures": count})
    db.session.commit()
    # And at most FAILURE_MAILS_PER_HOUR of them: sign-ins started over and over (by someone who
    # has the password) must not turn the warning into a flood.
    first_failure = first_failure and limits.hit("failure-mail", str(user_id), FAILURE_MAILS_PER_HOUR, 3600).allowed
    if locked_now or first_failure:
        user = db.session.get(User, user_id)
        if locked_now:
            notify.account_locked(user, client=client, also_to=settings.lockout_notification_email)
        else:
            notify.second_step_failed(user, client=client)
    if settings.max_failures and count >= settings.max_failures:
        return CheckResult(error=ACCOUNT_LOCKED, locked=True, counted=True)
    return CheckResult(error=error, counted=True)


def _finish(user: User, kind: str, session, settings, client, *, remember: bool,
            backup_codes_left: int | None = None) -> CheckResult:
    """After _record_sign_in(): the event, the end of the pending sign-in, the remembered device."""
    if kind == BACKUP_CODES:
        events.record_each([events.SIGN_IN, events.BACKUP_CODE_USED], user=user, client=client, method=kind)
    else:
        events.record(events.SIGN_IN, user=user, client=client, method=kind)
    clear_pending(session, commit=False, discard_codes=False)
    token = None
    if remember and settings.remember_device_days > 0:
        token = devices.remember(user, settings.remember_device_days, client=client)
    if kind != BACKUP_CODES and token is None:
        # Nothing to mail: committed with the renewed session, in one commit (tfa.sessions).
        db.session.flush()
        db.session.expunge(user)
        sessions.commit_with_session(session)
        return CheckResult(ok=True, user=user)
    _commit_keeping(user)  # the mails below tell of what is committed
    if kind == BACKUP_CODES:
        notify.backup_code_used(user, backup_codes_left, client=client)
    if token:
        notify.device_remembered(user, settings.remember_device_days, client=client)
    return CheckResult(ok=True, user=user, device_token=token)


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
    user, rows = methods.user_with_methods(user_id=pending.user_id)
    main = methods.main_of(rows, settings) if user is not None else None
    if main is None or not _record_sign_in(user.id, pending.user_token):
        db.session.rollback()
        return None
    events.record(events.SIGN_IN, user=user, client=client, method=main.kind)
    clear_pending(session, commit=False)
    _commit_keeping(user)
    return user
