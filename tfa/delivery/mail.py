"""Email through an SMTP server with Flask-Mail. (Placeholder: the mail settings page fills it in.)"""
from flask import current_app

from tfa.delivery import DeliveryError


def is_configured_server() -> bool:
    return bool(current_app.config.get("MAIL_SERVER"))


def send(to, subject, text, html=None):
    raise DeliveryError("Mail server is not configured")
