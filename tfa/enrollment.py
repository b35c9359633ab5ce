"""Turning second factors on: the pending enrollment, its codes, backup codes, turning methods off.

Defends against
- a secret leaking before it is proven: the authenticator secret is made here, kept encrypted in a
  PendingEnrollment row (never in a form field, URL or cookie) and becomes a method only after a
  correct code; the code used then is recorded so it cannot be replayed at sign-in;
- enabling someone else's phone or inbox: a code sent there must come back, bound to this
  enrollment, method and destination, once, before it expires;
- using the page to flood a phone or inbox: a retry period per enrollment and per user and method,
  and hourly caps per user and per destination (shared by every process through tfa.limits);
- guessing codes: code checks are rate-limited per user.

Views pass in the client and the platform settings; nothing here reads the request.
"""
import math
import re
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, select

from tfa import addresses, crypto, delivery, events, limits, methods, notify
from tfa.delivery import messages
from tfa.extensions import db
from tfa.methods import backup_codes, codes, totp
from tfa.models import BACKUP_CODES, EMAIL, METHOD_LABELS, SMS, TOTP, PendingEnrollment, TwoFactorMethod
from tfa.types import utcnow

PENDING_LIFETIME = timedelta(minutes=15)
CHECK_ATTEMPTS = 10
CHECK_SECONDS = 10 * 60
HOUR = 3600
DESTINATION_KINDS = (SMS, EMAIL)
PURPOSE = "enroll"

INCORRECT = "Verification code is incorrect"
EXPIRED = "Verification code has expired, send a new one"
NOT_SENT = "This code was already used or no code was sent. Send a new code."
INVALID_PHONE = "Enter a valid phone number"
INVALID_EMAIL = "Enter a valid email address"
ENTER_CODE = "Enter the 6-digit verification code"


class EnrollmentError(ValueError):
    """A step that cannot be done; str() is for a person, `field` names the input it concerns."""

    def __init__(self, message, *, field=None, status=422, retry_after=0):
        super().__init__(message)
        self.field = field
        self.status = status
        self.retry_after = retry_after


# --- Pending enrollments ------------------------------------------------------------------------

def pending_for(user_id: int, kind: str) -> PendingEnrollment | None:
    """The user's live enrollment of this kind, if one is in progress."""
    return db.session.scalar(
        select(PendingEnrollment)
        .where(PendingEnrollment.user_id == user_id, PendingEnrollment.kind == kind,
               PendingEnrollment.expires_at > utcnow())
        .order_by(PendingEnrollment.created_at.desc())
        .limit(1)
    )


def pending_by_kind(user_id: int) -> dict[str, PendingEnrollment]:
    """The user's live enrollments by kind (the newest of each), in one statement."""
    rows = db.session.scalars(
        select(PendingEnrollment)
        .where(PendingEnrollment.user_id == user_id, PendingEnrollment.expires_at > utcnow())
        .order_by(PendingEnrollment.created_at)
    ).all()
    return {row.kind: row for row in rows}  # later rows win: the newest of each kind


def _drop_pending(user_id: int, kind: str) -> None:
    ids = db.session.scalars(
        select(PendingEnrollment.id).where(PendingEnrollment.user_id == user_id, PendingEnrollment.kind == kind)
    ).all()
    for pending_id in ids:
        codes.discard(pending_id)
    db.session.execute(
        delete(PendingEnrollment).where(PendingEnrollment.user_id == user_id, PendingEnrollment.kind == kind)
    )


def _new_pending(user_id: int, kind: str, **values) -> PendingEnrollment:
    """Start an enrollment, replacing any earlier one of the same kind (commits)."""
    _drop_pending(user_id, kind)
    now = utcnow()
    pending = PendingEnrollment(id=secrets.token_urlsafe(32), user_id=user_id, kind=kind, created_at=now,
                                expires_at=now + PENDING_LIFETIME, **values)
    db.session.add(pending)
    db.session.commit()
    return pending


def _take_pending(pending: PendingEnrollment) -> bool:
    """Consume a pending enrollment; False when another request finished it first."""
    result = db.session.execute(
        delete(PendingEnrollment).where(PendingEnrollment.id == pending.id)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def cancel(user, kind: str) -> None:
    """Abandon the enrollment of this kind, with its secret and codes (commits)."""
    _drop_pending(user.id, kind)
    db.session.commit()


def _check_allowed(user) -> None:
    result = limits.hit("enroll-check", str(user.id), CHECK_ATTEMPTS, CHECK_SECONDS)
    if not result.allowed:
        raise EnrollmentError(
            f"Too many requests to check verification code. Try again in {result.retry_after} seconds.",
            field="code", status=429, retry_after=result.retry_after,
        )


def _code_or_error(raw: str | None) -> str:
    code = codes.normalize_code(raw)
    if code is None:
        raise EnrollmentError(ENTER_CODE, field="code")
    return code


# --- Authenticator app ----------------------------------------------------------------------------

@dataclass(frozen=True)
class TotpSetup:
    """What the page shows to set up an authenticator app."""

    qr_svg: str
    key: str  # grouped in fours


def start_totp(user) -> PendingEnrollment:
    """A new authenticator secret waiting for its first code (commits)."""
    return _new_pending(user.id, TOTP, secret_encrypted=crypto.encrypt(totp.new_secret()))


def totp_setup(pending: PendingEnrollment, user, settings) -> TotpSetup:
    """The QR code and key for the pending secret."""
    secret = crypto.decrypt(pending.secret_encrypted)
    uri = totp.provisioning_uri(secret, user.email, settings.issuer_name)
    return TotpSetup(qr_svg=totp.qr_svg(uri), key=totp.grouped(secret))


def confirm_totp(user, raw_code: str | None, *, client, settings) -> TwoFactorMethod:
    """Turn the authenticator app on if the code matches the pending secret."""
    pending = pending_for(user.id, TOTP)
    if pending is None:
        raise EnrollmentError("The setup has expired. Turn the switch on again to get a new key.")
    code = _code_or_error(raw_code)
    _check_allowed(user)
    step = totp.matching_step(crypto.decrypt(pending.secret_encrypted), code)
    if step is None:
        events.record(events.FAILED_CODE, user=user, client=client, method=TOTP, details={"purpose": PURPOSE})
        db.session.commit()
        raise EnrollmentError(INCORRECT, field="code")
    secret_encrypted = pending.secret_encrypted
    if not _take_pending(pending):
        raise EnrollmentError(NOT_SENT)
    # The step just used is recorded: the same code cannot pass the sign-in step afterwards.
    return methods.enable(user, TOTP, client=client, secret_encrypted=secret_encrypted, totp_step=step)


# --- SMS and email ----------------------------------------------------------------------------------

def normalize_destination(kind: str, raw: str | None) -> str:
    """A phone number in E.164 or a normalised email address; EnrollmentError otherwise."""
    try:
        return addresses.e164(raw) if kind == SMS else addresses.email(raw)
    except ValueError:
        raise EnrollmentError(INVALID_PHONE if kind == SMS else INVALID_EMAIL, field="destination") from None


def start_destination(user, kind: str) -> PendingEnrollment:
    """Begin setting up (or changing) an SMS or email method: waits for a destination (commits)."""
    return _new_pending(user.id, kind)


def seconds_until_resend(pending: PendingEnrollment | None, settings) -> int:
    """How long before another code may be sent for this enrollment (0: now)."""
    if pending is None or pending.destination is None:
        return 0
    return codes.seconds_until_resend(pending.id, pending.kind, settings.retry_period)


@dataclass(frozen=True)
class Sent:
    destination: str
    resend_in: int


def send_code(user, kind: str, raw_destination: str | None, *, client, settings) -> Sent:
    """Validate the destination, keep it on the pending enrollment and send it a code."""
    destination = normalize_destination(kind, raw_destination)
    pending = pending_for(user.id, kind)
    if pending is None:
        if kind in methods.all_of(user.id):
            # Changing where codes go needs the password again: the view starts it (start_destination).
            raise EnrollmentError("This change has expired. Choose the change again.", status=409)
        pending = _new_pending(user.id, kind)
    return _deliver(user, pending, destination, client=client, settings=settings)


def resend_code(user, kind: str, *, client, settings) -> Sent:
    """Send a new code to the pending destination (the old one stops working)."""
    pending = pending_for(user.id, kind)
    if pending is None or pending.destination is None:
        raise EnrollmentError("Enter where to send the code first.", field="destination", status=409)
    return _deliver(user, pending, pending.destination, client=client, settings=settings)


def _limit_sends(user, pending, destination, settings) -> None:
    """Refuse a send inside the retry period or over the hourly caps."""
    wait = seconds_until_resend(pending, settings)
    if wait:
        raise EnrollmentError(f"You can request a new code in {wait} seconds", status=429, retry_after=wait)
    # Also per user and method, so starting the enrollment again does not skip the wait.
    retry = limits.hit("enroll-send-retry", f"{user.id}:{pending.kind}", 1, settings.retry_period)
    if not retry.allowed:
        raise EnrollmentError(f"You can request a new code in {retry.retry_after} seconds",
                              status=429, retry_after=retry.retry_after)
    per_hour = current_app.config["SEND_LIMIT_PER_HOUR"]
    for name, key in (("enroll-send-user", str(user.id)), ("enroll-send-destination", destination)):
        result = limits.hit(name, key, per_hour, HOUR)
        if not result.allowed:
            minutes = math.ceil(result.retry_after / 60)
            raise EnrollmentError(
                f"Too many codes were sent. You can request a new code in {minutes} minute{'s' if minutes != 1 else ''}.",
                status=429, retry_after=result.retry_after,
            )


def _deliver(user, pending: PendingEnrollment, destination: str, *, client, settings) -> Sent:
    _limit_sends(user, pending, destination, settings)
    kind, pending_id, previous = pending.kind, pending.id, pending.destination
    # A new destination: the code sent to the old one stops working (its hash is bound to it).
    pending.destination = destination
    lifetime = settings.code_lifetime(kind)
    code = codes.issue(user.id, purpose=PURPOSE, context_id=pending.id, method=kind,
                       destination=destination, lifetime=lifetime)
    db.session.commit()
    try:
        if kind == SMS:
            delivery.send_sms(destination, messages.verification_sms(settings.sms_template, code, user.email))
        else:
            subject, text, html = messages.verification_email(code, max(1, math.ceil(lifetime / 60)))
            delivery.send_email(destination, subject, text, html)
    except delivery.DeliveryError as error:
        # Not a failed verification: the code is withdrawn and another send is allowed at once.
        db.session.rollback()
        codes.discard(pending_id)
        pending.destination = previous
        limits.clear("enroll-send-retry", f"{user.id}:{kind}", 1, settings.retry_period)
        events.record(events.SEND_FAILED, user=user, client=client, method=kind,
                      details={"purpose": PURPOSE, "error": str(error)[:200]})
        db.session.commit()
        raise EnrollmentError(str(error), field="destination", status=422) from None
    events.record(events.CODE_SENT, user=user, client=client, method=kind, details={"purpose": PURPOSE})
    db.session.commit()
    return Sent(destination, settings.retry_period)


def confirm_destination(user, kind: str, raw_code: str | None, *, client, settings) -> TwoFactorMethod:
    """Turn SMS or email on (or move it) if the code sent to the pending destination matches."""
    pending = pending_for(user.id, kind)
    if pending is None or pending.destination is None:
        raise EnrollmentError(NOT_SENT)
    code = _code_or_error(raw_code)
    _check_allowed(user)
    result = codes.check(pending.id, kind, pending.destination, code)
    if not result.ok:
        db.session.rollback()
        if result.outcome == codes.INCORRECT:
            events.record(events.FAILED_CODE, user=user, client=client, method=kind, details={"purpose": PURPOSE})
            db.session.commit()
        message = {codes.INCORRECT: INCORRECT, codes.EXPIRED: EXPIRED}.get(result.outcome, NOT_SENT)
        raise EnrollmentError(message, field="code")
    destination = pending.destination
    if not _take_pending(pending):
        db.session.rollback()
        raise EnrollmentError(NOT_SENT)
    codes.discard(pending.id)
    return methods.enable(user, kind, client=client, destination=destination)


# --- Backup codes ---------------------------------------------------------------------------------

def backup_codes_available(user_id: int, settings) -> bool:
    """Backup codes are offered only next to another method that is on."""
    return settings.method_enabled(BACKUP_CODES) and any(
        m.kind != BACKUP_CODES for m in methods.active(user_id, settings)
    )


def generate_backup_codes(user, *, client, settings) -> list[str]:
    """A new set of backup codes (the old set stops working); the plaintext is returned once."""
    if not backup_codes_available(user.id, settings):
        raise EnrollmentError("Backup codes need another method: turn one on first.", status=409)
    regenerating = BACKUP_CODES in methods.all_of(user.id)
    new_codes = backup_codes.generate(user.id, settings.backup_codes_count)
    events.record(events.BACKUP_CODES_GENERATED, user=user, client=client, method=BACKUP_CODES,
                  details={"count": len(new_codes)})
    if regenerating:
        db.session.commit()
        notify.backup_codes_generated(user, len(new_codes), client=client)
    else:
        methods.enable(user, BACKUP_CODES, client=client)
    return new_codes


def remaining_backup_codes(user_id: int) -> int:
    return backup_codes.remaining(user_id)


def seal_codes(user_id: int, plain: list[str]) -> str:
    """The codes encrypted, for keeping in the server-side session until they have been shown."""
    return crypto.encrypt(f"{user_id}:{int(time.time())}:" + ",".join(plain)).decode("ascii")


def unseal_codes(user_id: int, token: str | None, max_age: int) -> list[str] | None:
    """The codes sealed for this user at most `max_age` seconds ago, or None."""
    if not isinstance(token, str) or not token or len(token) > 4096:
        return None
    try:
        text = crypto.decrypt(token.encode("ascii"))
    except (crypto.InvalidToken, ValueError, UnicodeError):
        return None
    owner, _, rest = text.partition(":")
    sealed_at, _, joined = rest.partition(":")
    if owner != str(user_id) or not sealed_at.isdigit() or not 0 <= time.time() - int(sealed_at) <= max_age:
        return None
    return [c for c in joined.split(",") if re.fullmatch(r"[0-9a-f]{8}", c)] or None


# --- Turning methods off and choosing the main one ---------------------------------------------------

def disable_problem(user, kind: str, settings) -> str | None:
    """Why this method may not be turned off now, or None."""
    if kind == BACKUP_CODES or not settings.enforced_for(user):
        return None
    others = [m for m in methods.active(user.id, settings) if m.kind not in (kind, BACKUP_CODES)]
    if not others:
        return (f"Two-factor authentication is required for your account: turn on another method "
                f"before turning off {METHOD_LABELS[kind]}.")
    return None


def disable(user, kind: str, *, client, settings) -> None:
    """Turn a method off (the last non-backup method takes the backup codes with it)."""
    problem = disable_problem(user, kind, settings)
    if problem:
        raise EnrollmentError(problem, status=409)
    _drop_pending(user.id, kind)
    methods.disable(user, kind, client=client)


def can_choose_main(user_id: int, settings, rows=None) -> bool:
    """A main method is chosen only between two or more non-backup methods (`rows`: the user's
    method rows by kind, if already loaded)."""
    rows = methods.all_of(user_id) if rows is None else rows
    return sum(1 for m in methods.active_of(rows, settings) if m.kind != BACKUP_CODES) >= 2


def set_main(user, kind: str, *, client, settings) -> None:
    """Make this method the one the sign-in step starts with."""
    usable = {m.kind for m in methods.active(user.id, settings) if m.kind != BACKUP_CODES}
    if kind not in usable or not methods.set_main(user, kind, client=client):
        raise EnrollmentError("Only a method that is on can be the main method.", status=409)
