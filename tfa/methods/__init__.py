"""A user's second factors: which are on, which is the main one, turning them on and off.

Turning a method on or off forgets the user's remembered devices and tells the user by email.
"""
from sqlalchemy import delete, select

from tfa import devices, events, notify
from tfa.extensions import db
from tfa.methods import backup_codes
from tfa.models import BACKUP_CODES, METHOD_ORDER, PendingEnrollment, TwoFactorMethod


def all_of(user_id: int) -> dict[str, TwoFactorMethod]:
    """Every method row of the user by kind, whatever the platform settings."""
    rows = db.session.scalars(select(TwoFactorMethod).where(TwoFactorMethod.user_id == user_id)).all()
    return {row.kind: row for row in rows}


def active(user_id: int, settings) -> list[TwoFactorMethod]:
    """The user's methods that are turned on at platform level, in display order."""
    rows = all_of(user_id)
    return [rows[k] for k in METHOD_ORDER if k in rows and settings.method_enabled(k)]


def main_method(user_id: int, settings) -> TwoFactorMethod | None:
    """The method the second step starts with: the chosen main one, else the first on."""
    usable = [m for m in active(user_id, settings) if m.kind != BACKUP_CODES]
    for method in usable:
        if method.is_main:
            return method
    return usable[0] if usable else None


def has_second_factor(user_id: int, settings) -> bool:
    """Whether the user must pass a second step (a usable non-backup method is on)."""
    return main_method(user_id, settings) is not None


def enable(user, kind: str, *, client, secret_encrypted=None, destination=None, last_used_step=None,
           notify_user=True) -> TwoFactorMethod:
    """Turn a method on (or replace its secret or destination) and commit."""
    rows = all_of(user.id)
    method = rows.get(kind)
    changed = method is not None
    if method is None:
        method = TwoFactorMethod(user_id=user.id, kind=kind)
        db.session.add(method)
    method.secret_encrypted = secret_encrypted
    method.destination = destination
    method.last_used_step = last_used_step
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
