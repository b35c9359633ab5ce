"""A user's second factors: which are on, which is the main one, turning them on and off.

Turning a method on or off forgets the user's remembered devices and tells the user by email.
"""
from sqlalchemy import bindparam, delete, or_, select, update

from tfa import devices, events, notify
from tfa.extensions import db
from tfa.methods import backup_codes
from tfa.models import BACKUP_CODES, METHOD_ORDER, TOTP, PendingEnrollment, TwoFactorMethod, User


_OF_USER = select(TwoFactorMethod).where(TwoFactorMethod.user_id == bindparam("user_id"))  # built once


def all_of(user_id: int) -> dict[str, TwoFactorMethod]:
    """Every method row of the user by kind, whatever the platform settings."""
    rows = db.session.scalars(_OF_USER, {"user_id": user_id}).all()
    return {row.kind: row for row in rows}


# Both sign-in steps load the user with their methods: the statements are built once.
_WITH_METHODS = select(User, TwoFactorMethod).outerjoin(TwoFactorMethod, TwoFactorMethod.user_id == User.id)
_BY_ID = _WITH_METHODS.where(User.id == bindparam("user_id"))
_BY_EMAIL = _WITH_METHODS.where(User.email == bindparam("email"))


def user_with_methods(*, user_id: int | None = None, email: str | None = None):
    """(user, their method rows by kind) in one statement, or (None, {}). `email` is normalised."""
    if email is None:
        rows = db.session.execute(_BY_ID, {"user_id": user_id}).all()
    else:
        rows = db.session.execute(_BY_EMAIL, {"email": email}).all()
    if not rows:
        return None, {}
    return rows[0][0], {method.kind: method for _, method in rows if method is not None}


def active(user_id: int, settings) -> list[TwoFactorMethod]:
    """The user's methods that are turned on at platform level, in display order."""
    return active_of(all_of(user_id), settings)


def active_of(rows: dict[str, TwoFactorMethod], settings) -> list[TwoFactorMethod]:
    """Of these method rows, the ones turned on at platform level, in display order."""
    return [rows[k] for k in METHOD_ORDER if k in rows and settings.method_enabled(k)]


def main_method(user_id: int, settings) -> TwoFactorMethod | None:
    """The method the second step starts with: the chosen main one, else the first on."""
    return main_of(all_of(user_id), settings)


def main_of(rows: dict[str, TwoFactorMethod], settings) -> TwoFactorMethod | None:
    """Of these method rows, the one the second step starts with."""
    usable = [m for m in active_of(rows, settings) if m.kind != BACKUP_CODES]
    for method in usable:
        if method.is_main:
            return method
    return usable[0] if usable else None


def has_second_factor(user_id: int, settings) -> bool:
    """Whether the user must pass a second step (a usable non-backup method is on)."""
    return main_method(user_id, settings) is not None


def enable(user, kind: str, *, client, secret_encrypted=None, destination=None, totp_step=None,
           notify_user=True) -> TwoFactorMethod:
    """Turn a method on (or replace its secret or destination) and commit.

    `totp_step`: the authenticator-app step the enrollment code used, which sign-in will not accept again.
    """
    rows = all_of(user.id)
    method = rows.get(kind)
    changed = method is not None
    if method is None:
        method = TwoFactorMethod(user_id=user.id, kind=kind)
        db.session.add(method)
    method.secret_encrypted = secret_encrypted
    method.destination = destination
    if kind == TOTP and totp_step is not None:
        # Only ever raised, by the database itself: a value read earlier cannot lower it.
        db.session.execute(
            update(User).where(User.id == user.id, or_(User.totp_last_step.is_(None), User.totp_last_step < totp_step))
            .values(totp_last_step=totp_step).execution_options(synchronize_session=False)
        )
    if kind != BACKUP_CODES and not any(r.is_main for k, r in rows.items() if k != kind):
        method.is_main = True
    devices.forget_all(user)
    events.record(events.METHOD_CHANGED if changed else events.METHOD_ENABLED, user=user, client=client, method=kind)
    db.session.commit()
    if notify_user:
        notify.method_changed(user, kind, enabled=True, client=client)
    return method


def disable(user, kind: str, *, client) -> None:
    """Turn a method off and commit; the last non-backup method takes the backup codes with it."""
    rows = all_of(user.id)
    method = rows.get(kind)
    if method is None:
        return
    db.session.delete(method)
    events.record(events.METHOD_DISABLED, user=user, client=client, method=kind)
    others = [r for k, r in rows.items() if k not in (kind, BACKUP_CODES)]
    if kind == BACKUP_CODES:
        backup_codes.delete_all(user.id)
    elif not others and BACKUP_CODES in rows:
        db.session.delete(rows[BACKUP_CODES])
        backup_codes.delete_all(user.id)
        events.record(events.METHOD_DISABLED, user=user, client=client, method=BACKUP_CODES)
    if method.is_main and others:
        ordered = sorted(others, key=lambda r: METHOD_ORDER.index(r.kind))
        ordered[0].is_main = True
    devices.forget_all(user)
    db.session.commit()
    notify.method_changed(user, kind, enabled=False, client=client)


def set_main(user, kind: str, *, client) -> bool:
    """Make a non-backup method the main one and commit."""
    rows = all_of(user.id)
    if kind == BACKUP_CODES or kind not in rows:
        return False
    for k, row in rows.items():
        row.is_main = k == kind
    events.record(events.MAIN_METHOD_CHANGED, user=user, client=client, method=kind)
    db.session.commit()
    return True


def remove_all(user) -> None:
    """Delete every method, backup code, pending enrollment and remembered device (the caller commits)."""
    db.session.execute(delete(TwoFactorMethod).where(TwoFactorMethod.user_id == user.id))
    db.session.execute(delete(PendingEnrollment).where(PendingEnrollment.user_id == user.id))
    backup_codes.delete_all(user.id)
    devices.forget_all(user)
