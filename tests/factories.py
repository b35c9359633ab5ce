"""Factories for second factors: enroll methods directly, the way a finished enrollment leaves them."""
import pyotp

from tfa import crypto, events, methods, settings
from tfa.methods import backup_codes
from tfa.models import BACKUP_CODES, EMAIL, SMS, TOTP


def enable_platform(**changes):
    """Turn platform settings on (all four methods by default)."""
    values = dict(totp_enabled=True, sms_enabled=True, email_enabled=True, backup_codes_enabled=True)
    values.update(changes)
    return settings.update_two_factor(**values)


def gen_totp(user) -> pyotp.TOTP:
    """Enroll the authenticator app; returns a pyotp.TOTP that makes its codes."""
    secret = pyotp.random_base32(32)
    methods.enable(user, TOTP, secret_encrypted=crypto.encrypt(secret), client=events.NO_CLIENT, notify_user=False)
    return pyotp.TOTP(secret)


def gen_sms(user, phone="+15555550123"):
    methods.enable(user, SMS, destination=phone, client=events.NO_CLIENT, notify_user=False)
    return phone


def gen_email(user, address=None):
    address = address or user.email
    methods.enable(user, EMAIL, destination=address, client=events.NO_CLIENT, notify_user=False)
    return address


def gen_backup_codes(user, count=10) -> list[str]:
    codes = backup_codes.generate(user.id, count)
    methods.enable(user, BACKUP_CODES, client=events.NO_CLIENT, notify_user=False)
    return codes
