"""Remembered devices: a browser that passed the second step may skip it for N days.

Defends against a stolen device cookie being useful forever or unnoticed: the browser gets a random
token, only its keyed hash is stored, it expires, it is listed to the user, and it is forgotten
when the password or any 2FA method changes.
"""
import secrets
from datetime import timedelta

from sqlalchemy import delete, select, update

from tfa import crypto, events
from tfa.extensions import db
from tfa.models import RememberedDevice
from tfa.types import utcnow


def remember(user, days: int, *, client=events.NO_CLIENT) -> str:
    """Remember a browser for `days`; returns the token for its cookie (the caller commits)."""
    token = secrets.token_urlsafe(32)
    db.session.add(
        RememberedDevice(
            user_id=user.id,
            token_hash=crypto.keyed_hash(token),
            expires_at=utcnow() + timedelta(days=days),
            ip=client.ip,
            user_agent=(client.user_agent or "")[:255] or None,
        )
    )
    events.record(events.DEVICE_REMEMBERED, user=user, client=client, details={"days": days})
    return token


def is_remembered(user, token: str | None) -> bool:
    """Whether the token is a live remembered device of this user; marks it used."""
    if not token or len(token) > 128:
        return False
    now = utcnow()
    result = db.session.execute(
        update(RememberedDevice)
        .where(
            RememberedDevice.token_hash == crypto.keyed_hash(token),
            RememberedDevice.user_id == user.id,
            RememberedDevice.expires_at > now,
        )
        .values(last_used_at=now)
    )
    return result.rowcount == 1


def list_for(user) -> list[RememberedDevice]:
    """The user's live remembered devices, newest first."""
    return db.session.scalars(
        select(RememberedDevice)
        .where(RememberedDevice.user_id == user.id, RememberedDevice.expires_at > utcnow())
        .order_by(RememberedDevice.created_at.desc())
    ).all()


def forget(user, device_id: int, *, client=events.NO_CLIENT) -> bool:
    """Forget one of the user's devices (the caller commits)."""
    result = db.session.execute(
        delete(RememberedDevice).where(RememberedDevice.id == device_id, RememberedDevice.user_id == user.id)
    )
    if result.rowcount:
        events.record(events.DEVICE_FORGOTTEN, user=user, client=client)
    return bool(result.rowcount)


def forget_all(user, *, client=None) -> int:
    """Forget every device of the user (the caller commits); records an event when a client is given."""
    result = db.session.execute(delete(RememberedDevice).where(RememberedDevice.user_id == user.id))
    if result.rowcount and client is not None:
        events.record(events.DEVICE_FORGOTTEN, user=user, client=client, details={"all": True})
    return result.rowcount
