"""Accounts: creation, lookup, password changes, and admin actions on them."""
import secrets

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select

from tfa import events, passwords
from tfa.extensions import db
from tfa.models import ROLE_SYSADMIN, ROLE_USER, User
from tfa.types import utcnow


class AccountError(ValueError):
    """A request about an account that cannot be done; str() is for a person, `field` names the input."""

    def __init__(self, message, field=None):
        super().__init__(message)
        self.field = field


def normalize_email(email: str) -> str:
    """The stored form of an address: trimmed and lower-cased."""
    return (email or "").strip().lower()


def valid_email(email: str) -> str:
    """The normalised address, or AccountError with a message."""
    email = normalize_email(email)
    if not email or len(email) > 254:
        raise AccountError("Enter a valid email address")
    try:
        return validate_email(email, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        raise AccountError("Enter a valid email address") from None


def by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == normalize_email(email)))


def new_session_token() -> str:
    return secrets.token_urlsafe(24)


def create_user(email, password, *, name="", role=ROLE_USER, actor=None, client=events.NO_CLIENT,
                check_policy=True) -> User:
    """Create an account (AccountError when the address is taken or the password too weak)."""
    email = valid_email(email)
    if role not in (ROLE_USER, ROLE_SYSADMIN):
        raise AccountError("Role must be user or sysadmin")
    if check_policy and (problem := passwords.password_problem(password)):
        raise AccountError(problem)
    if by_email(email) is not None:
        raise AccountError("A user with this email already exists")
    user = User(
        email=email,
        name=(name or "").strip()[:100],
        role=role,
        enabled=True,
        password_hash=passwords.hash_password(password),
        session_token=new_session_token(),
    )
    db.session.add(user)
    db.session.flush()
    events.record(events.USER_CREATED, user=user, actor=actor, client=client, details={"role": role})
    db.session.commit()
    return user


def change_password(user: User, current: str, new: str, *, client=events.NO_CLIENT) -> None:
    """Change the password after checking the current one; signs out every other session."""
    if not passwords.verify_password(user.password_hash, current):
        raise AccountError("Current password is incorrect", field="current_password")
    if problem := passwords.password_problem(new):
        raise AccountError(problem, field="new_password")
    set_password(user, new)
    events.record(events.PASSWORD_CHANGED, user=user, client=client)
    db.session.commit()


def set_password(user: User, new: str) -> None:
    """Store a new password hash and invalidate the user's sessions and remembered devices."""
    from tfa import devices

    user.password_hash = passwords.hash_password(new)
    user.password_changed_at = utcnow()
    user.session_token = new_session_token()
    devices.forget_all(user)
