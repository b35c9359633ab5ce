"""Accounts: creation, lookup, password changes, and admin actions on them."""
import secrets

from sqlalchemy import select

from tfa import addresses, events, passwords
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
    try:
        return addresses.email(email)
    except ValueError as error:
        raise AccountError(str(error)) from None


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


def change_password(user: User, current: str, new: str, *, client=events.NO_CLIENT, keep_sid=None) -> None:
    """Change the password after checking the current one; ends every other session of the user
    (and every sign-in of theirs halfway through), but the one whose id is `keep_sid`."""
    from tfa import sessions

    if not passwords.verify_password(user.password_hash, current):
        raise AccountError("Current password is incorrect", field="current_password")
    if problem := passwords.password_problem(new):
        raise AccountError(problem, field="new_password")
    set_password(user, new)
    sessions.end_sessions_of(user.id, keep_sid=keep_sid)
    events.record(events.PASSWORD_CHANGED, user=user, client=client)
    db.session.commit()


def set_password(user: User, new: str) -> None:
    """Store a new password hash and invalidate the user's sessions and remembered devices."""
    from tfa import devices

    user.password_hash = passwords.hash_password(new)
    user.password_changed_at = utcnow()
    user.session_token = new_session_token()
    devices.forget_all(user)


# --- Administration ---------------------------------------------------------------------------

def set_enabled(user: User, enabled: bool, *, actor=None, client=events.NO_CLIENT) -> None:
    """Disable or enable an account; disabling signs it out everywhere."""
    from tfa import notify, sessions

    if user.enabled == enabled:
        return
    if not enabled and actor is not None and getattr(actor, "id", None) == user.id:
        raise AccountError("You cannot disable your own account")
    user.enabled = enabled
    if not enabled:
        user.session_token = new_session_token()
        sessions.end_sessions_of(user.id)
    events.record(events.USER_ENABLED if enabled else events.USER_DISABLED, user=user, actor=actor, client=client)
    db.session.commit()
    notify.account_changed_by_admin(user, "your account was enabled" if enabled else "your account was disabled",
                                    client=client)


def unlock(user: User, *, actor=None, client=events.NO_CLIENT) -> bool:
    """Lift a lockout and reset the failure count; False when the account was not locked."""
    from tfa import notify

    was_locked = user.is_locked
    user.locked_at = None
    user.failed_verifications = 0
    events.record(events.UNLOCK, user=user, actor=actor, client=client)
    db.session.commit()
    if was_locked:
        notify.account_changed_by_admin(user, "your account was unlocked", client=client)
    return was_locked


def reset_two_factor(user: User, *, actor=None, client=events.NO_CLIENT) -> None:
    """Remove every method, code and remembered device of the user, and tell them."""
    from tfa import methods, notify

    methods.remove_all(user)
    user.failed_verifications = 0
    events.record(events.TWO_FACTOR_RESET, user=user, actor=actor, client=client)
    db.session.commit()
    notify.account_changed_by_admin(user, "two-factor authentication was reset", client=client)


PAGE_SIZE = 50


def list_for_admin(*, without_2fa: bool = False, page: int = 1, query: str = ""):
    """A page of users (newest first) with their method kinds: ([(user, [kinds])], has_more)."""
    from sqlalchemy import exists

    from tfa.models import TwoFactorMethod

    stmt = select(User).order_by(User.id.desc())
    if without_2fa:
        stmt = stmt.where(~exists().where(TwoFactorMethod.user_id == User.id))
    if query:
        stmt = stmt.where(User.email.contains(normalize_email(query)[:254], autoescape=True))
    page = max(1, page)
    rows = db.session.scalars(stmt.offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)).all()
    has_more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    kinds: dict[int, list[str]] = {u.id: [] for u in rows}
    if rows:
        for user_id, kind in db.session.execute(
            select(TwoFactorMethod.user_id, TwoFactorMethod.kind).where(TwoFactorMethod.user_id.in_(kinds))
        ):
            kinds[user_id].append(kind)
    return [(u, kinds[u.id]) for u in rows], has_more
