"""Re-authentication before sensitive changes to a signed-in account.

Defends against someone using an unattended signed-in browser to weaken the account: turning a
second factor off, getting new backup codes or moving a code to another phone or inbox needs the
password entered within the last few minutes. The time of the last confirmation is kept by the
caller (the server-side session); this module only decides.
"""
import time
from dataclasses import dataclass

from tfa import events, limits, passwords
from tfa.extensions import db

WINDOW_SECONDS = 5 * 60
# Wrong confirmations per user before a pause: enough for typos, too few for guessing.
ATTEMPTS = 10
ATTEMPTS_SECONDS = 15 * 60


@dataclass(frozen=True)
class Confirmation:
    ok: bool
    error: str | None = None
    retry_after: int = 0

    def __bool__(self):
        return self.ok


def now() -> float:
    """The timestamp to store after a successful confirmation."""
    return time.time()


def is_recent(timestamp, *, at: float | None = None) -> bool:
    """Whether a confirmation made at `timestamp` is still within the window."""
    if not isinstance(timestamp, (int, float)) or isinstance(timestamp, bool):
        return False
    at = time.time() if at is None else at
    return 0 <= at - timestamp <= WINDOW_SECONDS


def confirm_password(user, password: str | None, *, client=events.NO_CLIENT) -> Confirmation:
    """Check the user's password again; wrong answers are recorded and rate-limited."""
    if not password or len(password) > passwords.MAX_LENGTH:
        return Confirmation(False, "Password is incorrect")
    allowed = limits.hit("reauth", str(user.id), ATTEMPTS, ATTEMPTS_SECONDS)
    if not allowed.allowed:
        return Confirmation(
            False, f"Too many password attempts. Try again in {allowed.retry_after} seconds.", allowed.retry_after
        )
    if not passwords.verify_password(user.password_hash, password):
        events.record(events.FAILED_PASSWORD, user=user, client=client, details={"reason": "reauth"})
        db.session.commit()
        return Confirmation(False, "Password is incorrect")
    limits.clear("reauth", str(user.id), ATTEMPTS, ATTEMPTS_SECONDS)
    return Confirmation(True)
