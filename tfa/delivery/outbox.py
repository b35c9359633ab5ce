"""The development outbox: messages are stored and shown at /dev/outbox, nothing leaves the machine."""
import logging

from sqlalchemy import select

from tfa.extensions import db
from tfa.models import OutboxMessage

log = logging.getLogger("tfa.outbox")


def store(channel: str, recipient: str, subject: str, body: str) -> OutboxMessage:
    """Keep a message in the outbox and print it to the console (development only)."""
    message = OutboxMessage(channel=channel, recipient=recipient, subject=subject, body=body)
    db.session.add(message)
    db.session.commit()
    # Development convenience, by design: the outbox is only used in development mode.
    log.warning("outbox %s to %s: %s %s", channel, recipient, subject, body)
    return message


def latest(limit: int = 100) -> list[OutboxMessage]:
    """The newest outbox messages first."""
    return db.session.scalars(
        select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit)
    ).all()
