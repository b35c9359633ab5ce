"""Deleting what has expired: sessions (with any pending sign-in in them), enrollments, sent codes.

Everything here is already refused once expired; deleting it keeps the tables small, so that a
flood of anonymous visits (each sign-in page opens a session for its CSRF token) cannot grow them
without bound.
"""
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, or_

from tfa.extensions import db
from tfa.models import PendingEnrollment, SentCode, WebSession
from tfa.types import utcnow


def purge_expired() -> dict[str, int]:
    """Delete expired rows; returns how many of each kind went."""
    now = utcnow()
    idle = timedelta(minutes=current_app.config["SESSION_IDLE_MINUTES"])
    absolute = timedelta(hours=current_app.config["SESSION_ABSOLUTE_HOURS"])
    counts = {
        "sessions": db.session.execute(
            delete(WebSession).where(or_(WebSession.last_seen_at < now - idle, WebSession.created_at < now - absolute))
        ).rowcount,
        "pending enrollments": db.session.execute(
            delete(PendingEnrollment).where(PendingEnrollment.expires_at < now)
        ).rowcount,
        # Kept for an hour even when spent: the newest code of a context anchors its resend period.
        "sent codes": db.session.execute(
            delete(SentCode).where(
                SentCode.created_at < now - timedelta(hours=1),
                or_(SentCode.expires_at < now, SentCode.used_at.is_not(None)),
            )
        ).rowcount,
    }
    db.session.commit()
    return counts
