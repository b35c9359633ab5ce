"""Delivery of emails and SMS: the one interface the rest of tfa sends through.

`send_email(to, subject, text, html)` and `send_sms(phone, text)` raise DeliveryError, whose
message is fit to show to a person, on any failure. Nothing here logs a message body: bodies hold
codes.
"""
import logging

from flask import current_app

log = logging.getLogger("tfa.delivery")


class DeliveryError(Exception):
    """A message could not be delivered; str() is a message for a person."""


def is_development() -> bool:
    return current_app.config["TFA_ENV"] == "development"


def send_email(to: str, subject: str, text: str, html: str | None = None) -> None:
    """Send an email through the configured mail server, or to the outbox in development."""
    from tfa.delivery import mail, outbox

    if mail.is_configured_server():
        mail.send(to, subject, text, html)
    elif is_development():
        outbox.store("email", to, subject, text)
    else:
        raise DeliveryError("Mail server is not configured")


def send_sms(phone: str, text: str) -> None:
    """Send an SMS through the configured provider, or to the outbox in development."""
    from tfa.delivery import outbox, sms

    provider = sms.configured_provider()
    if provider is not None:
        provider.send(phone, text)
    elif is_development():
        outbox.store("sms", phone, "", text)
    else:
        raise DeliveryError("SMS provider is not configured")


def mail_configured() -> bool:
    """Whether emails can be sent (a mail server, or the outbox in development)."""
    from tfa.delivery import mail

    return mail.is_configured_server() or is_development()


def sms_configured() -> bool:
    """Whether SMS can be sent (a provider, or the outbox in development)."""
    from tfa.delivery import sms

    return sms.configured_provider() is not None or is_development()
