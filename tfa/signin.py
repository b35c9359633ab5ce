"""Signing in: the password step, the pending second step, limits, lockout and finishing.

Defends against password guessing (limits per IP and per account, one message for a wrong email
or password, the same work either way), against skipping the second factor (the pending sign-in
lives on the server and grants nothing), and against guessing codes (limits, lockout that a
correct password does not reset).
"""
from dataclasses import dataclass

from tfa import events, limits, passwords, users
from tfa.extensions import db
from tfa.models import User
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
    """Record a finished sign-in: counters reset, last sign-in time, event."""
    user.last_sign_in_at = utcnow()
    user.failed_verifications = 0
    events.record(events.SIGN_IN, user=user, client=client, method=method)
    db.session.commit()
