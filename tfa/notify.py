"""Security emails to the user: best effort, never holding a code, never blocking the action."""
import logging

from flask import render_template

from tfa import delivery
from tfa.models import METHOD_LABELS
from tfa.types import utcnow

log = logging.getLogger("tfa.notify")


def _send(to: str, subject: str, template: str, **context) -> bool:
    if not delivery.mail_configured():
        return False
    context.setdefault("when", utcnow().strftime("%Y-%m-%d %H:%M UTC"))
    text = render_template(f"email/{template}.txt", **context)
    try:
        delivery.send_email(to, subject, text)
    except delivery.DeliveryError as error:
        log.warning("security email %r to user could not be sent: %s", template, error)
        return False
    return True


def method_changed(user, kind: str, *, enabled: bool, client) -> bool:
    label = METHOD_LABELS.get(kind, kind)
    action = "enabled" if enabled else "disabled"
    return _send(user.email, f"{label} was {action} on your account", "method_changed",
                 user=user, label=label, action=action, client=client)


def backup_codes_generated(user, count: int, *, client) -> bool:
    return _send(user.email, "New backup codes were generated", "backup_codes_generated",
                 user=user, count=count, client=client)


def backup_code_used(user, remaining: int, *, client) -> bool:
    return _send(user.email, "A backup code was used to sign in", "backup_code_used",
                 user=user, remaining=remaining, client=client)


def second_step_failed(user, *, client) -> bool:
    return _send(user.email, "Someone entered your password but did not pass the second step",
                 "second_step_failed", user=user, client=client)


def account_locked(user, *, client, also_to: str = "") -> bool:
    sent = _send(user.email, "Your account was locked", "account_locked", user=user, client=client)
    if also_to:
        _send(also_to, f"Account {user.email} was locked", "account_locked", user=user, client=client, admin=True)
    return sent


def device_remembered(user, days: int, *, client) -> bool:
    return _send(user.email, "A device was remembered for your account", "device_remembered",
                 user=user, days=days, client=client)


def account_changed_by_admin(user, what: str, *, client) -> bool:
    return _send(user.email, f"Your account: {what}", "account_changed_by_admin", user=user, what=what, client=client)
