"""The platform two-factor settings: defaults (ThingsBoard's), validation, load and save.

Everything reads them through `two_factor()`, which applies the defaults, so no caller looks up a
single key. Saving validates the whole object, across fields too, and records the change.
"""
import time
from dataclasses import asdict, dataclass, fields, replace

from flask import current_app, g

from tfa import addresses, events
from tfa.extensions import db
from tfa.models import BACKUP_CODES, EMAIL, METHOD_ORDER, SMS, TOTP, Setting

KEY = "two_factor"
ENFORCE_ALL = "all"
ENFORCE_ADMINS = "admins"
ENFORCE_CHOICES = {ENFORCE_ALL: "All users", ENFORCE_ADMINS: "Administrators"}
SMS_TEMPLATE_MAX = 320


@dataclass(frozen=True)
class TwoFactorSettings:
    totp_enabled: bool = False
    issuer_name: str = "tfa"
    sms_enabled: bool = False
    sms_template: str = "Verification code: ${code}"
    sms_code_lifetime: int = 120
    email_enabled: bool = False
    email_code_lifetime: int = 120
    backup_codes_enabled: bool = False
    backup_codes_count: int = 10
    total_verification_time: int = 3600
    retry_period: int = 30
    max_failures: int = 30
    check_limit_enabled: bool = False
    check_limit_attempts: int = 3
    check_limit_seconds: int = 900
    enforce_enabled: bool = False
    enforce_for: str = ENFORCE_ALL
    remember_device_days: int = 0
    lockout_notification_email: str = ""

    def method_enabled(self, kind: str) -> bool:
        """Whether a method is turned on at platform level."""
        return {
            TOTP: self.totp_enabled,
            SMS: self.sms_enabled,
            EMAIL: self.email_enabled,
            BACKUP_CODES: self.backup_codes_enabled,
        }[kind]

    @property
    def enabled_methods(self) -> list[str]:
        """Platform-enabled methods in display order."""
        return [k for k in METHOD_ORDER if self.method_enabled(k)]

    def code_lifetime(self, kind: str) -> int:
        return self.sms_code_lifetime if kind == SMS else self.email_code_lifetime

    def enforced_for(self, user) -> bool:
        """Whether this user must have a second factor."""
        if not self.enforce_enabled:
            return False
        return self.enforce_for == ENFORCE_ALL or user.is_admin

    def as_dict(self) -> dict:
        return asdict(self)


DEFAULTS = TwoFactorSettings()
_FIELDS = {f.name: f for f in fields(TwoFactorSettings)}

# (minimum, maximum or None) for each number, checked in validate().
RANGES = {
    "sms_code_lifetime": (1, None),
    "email_code_lifetime": (1, None),
    "backup_codes_count": (1, 50),
    "total_verification_time": (60, None),
    "retry_period": (5, None),
    "max_failures": (0, 65535),
    "check_limit_attempts": (1, None),
    "check_limit_seconds": (1, None),
    "remember_device_days": (0, 365),
}
# Large enough for any sensible value; keeps numbers inside a 32-bit column and timedelta.
NUMBER_CEILING = 10**8


def _from_stored(value: dict | None) -> TwoFactorSettings:
    value = value or {}
    known = {k: v for k, v in value.items() if k in _FIELDS}
    return replace(DEFAULTS, **known)


def two_factor() -> TwoFactorSettings:
    """The current platform settings, defaults applied."""
    return cached(KEY, _load_two_factor)


def _load_two_factor() -> TwoFactorSettings:
    row = db.session.get(Setting, KEY)
    return _from_stored(row.value if row else None)


def cached(key: str, load):
    """A settings document (two-factor, mail, SMS) as `load()` builds it, read at most once per
    request and at most once per SETTINGS_CACHE_SECONDS in each process: every sign-in step needs
    them, and they change rarely (a save, through remember(), is seen at once in its process)."""
    per_request = g.setdefault("_tfa_settings", {}) if g else {}
    if key in per_request:
        return per_request[key]
    value, until = current_app.extensions.setdefault("tfa_settings", {}).get(key, (None, 0.0))
    if value is None or time.monotonic() >= until:
        value = load()
        remember(key, value)
    per_request[key] = value
    return value


def forget_cached() -> None:
    """Read every settings document again on next use (after they were rewritten in bulk)."""
    current_app.extensions.pop("tfa_settings", None)
    if g:
        g.pop("_tfa_settings", None)


def remember(key: str, value) -> None:
    """Use `value` for this settings document from now on (after it was saved)."""
    ttl = current_app.config.get("SETTINGS_CACHE_SECONDS", 0)
    current_app.extensions.setdefault("tfa_settings", {})[key] = (value, time.monotonic() + ttl)
    if g:
        g.setdefault("_tfa_settings", {})[key] = value


def validate(s: TwoFactorSettings, *, mail_configured: bool, sms_configured: bool) -> dict[str, str]:
    """Field name → message for every rule the settings break (SPEC 2)."""
    errors = {}
    for name, (low, high) in RANGES.items():
        value = getattr(s, name)
        if high is None and not low <= value <= NUMBER_CEILING:
            errors[name] = f"Must be at least {low}" if value < low else "Value is too large"
        elif high is not None and not low <= value <= high:
            errors[name] = f"Must be between {low} and {high}"
    if not s.issuer_name.strip():
        errors["issuer_name"] = "Issuer name is required"
    elif len(s.issuer_name) > 64:
        errors["issuer_name"] = "Issuer name must be at most 64 characters"
    if "${code}" not in s.sms_template:
        errors["sms_template"] = "Verification message must contain ${code}"
    elif len(s.sms_template) > SMS_TEMPLATE_MAX:
        errors["sms_template"] = f"Verification message must be at most {SMS_TEMPLATE_MAX} characters"
    if s.sms_enabled and not sms_configured:
        errors["sms_enabled"] = "SMS provider is not configured"
    if s.email_enabled and not mail_configured:
        errors["email_enabled"] = "Mail server is not configured"
    if s.backup_codes_enabled and not (s.totp_enabled or s.sms_enabled or s.email_enabled):
        errors["backup_codes_enabled"] = "Backup codes need another method"
    if s.enforce_for not in ENFORCE_CHOICES:
        errors["enforce_for"] = "Choose All users or Administrators"
    if s.enforce_enabled and not (s.totp_enabled or s.sms_enabled or s.email_enabled):
        errors["enforce_enabled"] = "Enforcement needs at least one method turned on"
    if s.lockout_notification_email:
        try:
            addresses.email(s.lockout_notification_email)
        except ValueError as error:
            errors["lockout_notification_email"] = str(error)
    return errors


def save_two_factor(new: TwoFactorSettings, *, actor, client, mail_configured, sms_configured):
    """Validate and store the settings; returns the errors (nothing is saved when there are any)."""
    errors = validate(new, mail_configured=mail_configured, sms_configured=sms_configured)
    if errors:
        return errors
    old = two_factor()
    changed = {k: [v, getattr(new, k)] for k, v in old.as_dict().items() if getattr(new, k) != v}
    store(KEY, new.as_dict(), new, actor=actor, client=client, details={"changes": changed})
    return {}


def store(key: str, stored: dict, value, *, actor, client, details: dict) -> None:
    """Save a settings document (`stored`: its JSON; `value`: what cached() returns for it from
    now on), record who changed what (`details`: never a secret's value), and commit."""
    row = db.session.get(Setting, key)
    if row is None:
        row = Setting(key=key, value={})
        db.session.add(row)
    row.value = stored
    events.record(events.SETTINGS_CHANGED, actor=actor, user=actor, client=client,
                  details={"section": key, **details})
    db.session.commit()
    remember(key, value)


def update_two_factor(**changes) -> TwoFactorSettings:
    """Store settings without validation or event (for the CLI and tests)."""
    new = replace(two_factor(), **changes)
    row = db.session.get(Setting, KEY)
    if row is None:
        db.session.add(Setting(key=KEY, value=new.as_dict()))
    else:
        row.value = new.as_dict()
    db.session.commit()
    remember(KEY, new)
    return new
