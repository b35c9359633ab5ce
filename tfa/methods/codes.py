"""Codes sent by SMS or email, and the shape of every code a person types.

Defends against guessing and reuse: 6 random digits from `secrets`, stored only as a keyed hash
that binds them to one sign-in attempt or enrollment, one method and one destination; valid for a
configured lifetime; replaced by a newer send; consumed at most once with a conditional UPDATE.
"""
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select, update

from tfa import crypto
from tfa.extensions import db
from tfa.models import SentCode
from tfa.types import utcnow

_SIX_DIGITS = re.compile(r"[0-9]{6}")
_SPACES = re.compile(r"[\s\-]+")

OK = "ok"
INCORRECT = "incorrect"
EXPIRED = "expired"
NOT_SENT = "not_sent"


def normalize_code(raw: str | None) -> str | None:
    """Six ASCII digits with spaces removed, or None (other scripts' digits are refused)."""
    if raw is None or len(raw) > 32:
        return None
    code = _SPACES.sub("", raw)
    return code if _SIX_DIGITS.fullmatch(code) else None


def new_code() -> str:
    return f"{secrets.randbelow(10**6):06d}"


def _hash(context_id: str, method: str, destination: str, code: str) -> str:
    return crypto.keyed_hash(f"sent:{context_id}:{method}:{destination}:{code}")


def issue(user_id: int, *, purpose: str, context_id: str, method: str, destination: str, lifetime: int,
          replace: bool = True) -> str:
    """A new code for this context and method, replacing any earlier one (the caller commits;
    `replace=False` when the context is known to have none yet)."""
    if replace:
        db.session.execute(
            delete(SentCode).where(SentCode.context_id == context_id, SentCode.method == method)
        )
    code = new_code()
    now = utcnow()
    db.session.add(
        SentCode(
            user_id=user_id,
            purpose=purpose,
            context_id=context_id,
            method=method,
            destination=destination,
            code_hash=_hash(context_id, method, destination, code),
            created_at=now,
            expires_at=now + timedelta(seconds=lifetime),
        )
    )
    return code


def latest(context_id: str, method: str) -> SentCode | None:
    return db.session.scalar(
        select(SentCode)
        .where(SentCode.context_id == context_id, SentCode.method == method)
        .order_by(SentCode.created_at.desc(), SentCode.id.desc())
        .limit(1)
    )


def seconds_until_resend(context_id: str, method: str, retry_period: int) -> int:
    """How long before another code may be sent for this context and method (0: now)."""
    return wait_after(latest(context_id, method), retry_period)


def wait_after(sent: SentCode | None, retry_period: int) -> int:
    """Seconds left of the retry period that began when `sent` was sent (0: none was, or it is over)."""
    if sent is None:
        return 0
    wait = (sent.created_at + timedelta(seconds=retry_period) - utcnow()).total_seconds()
    return max(0, int(wait + 0.999))


@dataclass(frozen=True)
class CheckResult:
    outcome: str
    destination: str | None = None

    @property
    def ok(self):
        return self.outcome == OK


def check(context_id: str, method: str, destination: str, code: str) -> CheckResult:
    """Check and consume the code sent for this context, method and destination (the caller commits).

    A right code is consumed by one conditional UPDATE (unused, unexpired, this hash), so two
    requests cannot both use it; only a failure looks the code up, to say why.
    """
    now = utcnow()
    consumed = db.session.execute(
        update(SentCode)
        .where(SentCode.context_id == context_id, SentCode.method == method,
               SentCode.code_hash == _hash(context_id, method, destination, code),
               SentCode.used_at.is_(None), SentCode.expires_at > now)
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if consumed.rowcount == 1:
        return CheckResult(OK, destination)
    sent = latest(context_id, method)
    if sent is None or sent.used_at is not None:
        return CheckResult(NOT_SENT)
    if sent.expires_at <= now:
        return CheckResult(EXPIRED)
    return CheckResult(INCORRECT)


def discard(context_id: str) -> None:
    """Forget every code sent for a context (when it ends)."""
    db.session.execute(delete(SentCode).where(SentCode.context_id == context_id))
