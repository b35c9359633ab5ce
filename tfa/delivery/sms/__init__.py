"""SMS providers, configured on the "SMS provider" admin page: Twilio, AWS SNS, an HTTP gateway, or
the development outbox.

Defends against leaking provider credentials: the auth token, the secret key and the gateway headers
are stored encrypted, never shown back and never recorded in the event log. Every provider has a
timeout, and every failure becomes a DeliveryError whose message is fit for a person. Message texts
hold codes, so nothing here logs one.
"""
from dataclasses import asdict, dataclass, replace

from flask import current_app

from tfa import crypto
from tfa.delivery import DeliveryError
from tfa.extensions import db
from tfa.settings import cached, store
from tfa.models import Setting

KEY = "sms"
TWILIO = "twilio"
SNS = "sns"
HTTP_GATEWAY = "http"
OUTBOX = "outbox"
PROVIDER_CHOICES = {TWILIO: "Twilio", SNS: "AWS SNS", HTTP_GATEWAY: "HTTP gateway", OUTBOX: "Outbox"}
HTTP_METHODS = ("POST", "PUT", "GET")
# Secret field → stored as "<name>_encrypted" (a Fernet token as ASCII text).
SECRET_FIELDS = ("twilio_auth_token", "sns_secret_key", "http_headers")
# Seconds to wait for a provider (SMS_TIMEOUT in the configuration overrides it).
TIMEOUT = 10


@dataclass(frozen=True)
class SmsSettings:
    provider: str = ""
    twilio_account_sid: str = ""
    twilio_from_number: str = ""
    twilio_auth_token_encrypted: str = ""
    sns_access_key_id: str = ""
    sns_region: str = ""
    sns_endpoint_url: str = ""
    sns_secret_key_encrypted: str = ""
    http_url: str = ""
    http_method: str = "POST"
    http_body_template: str = ""
    http_headers_encrypted: str = ""

    def has_secret(self, name: str) -> bool:
        return bool(getattr(self, f"{name}_encrypted"))

    def secret(self, name: str) -> str:
        """Decrypt one stored secret (for the providers only)."""
        token = getattr(self, f"{name}_encrypted")
        if not token:
            return ""
        try:
            return crypto.decrypt(token.encode("ascii"))
        except crypto.InvalidToken:
            raise DeliveryError("The stored SMS credentials cannot be read: enter them again") from None

    @property
    def is_complete(self) -> bool:
        """Whether the chosen provider has everything it needs."""
        if self.provider == TWILIO:
            return bool(self.twilio_account_sid and self.twilio_from_number and self.twilio_auth_token_encrypted)
        if self.provider == SNS:
            return bool(self.sns_access_key_id and self.sns_region and self.sns_secret_key_encrypted)
        if self.provider == HTTP_GATEWAY:
            return bool(self.http_url)
        return self.provider == OUTBOX


_STORED_FIELDS = set(asdict(SmsSettings()))
_PLAIN_FIELDS = [name for name in _STORED_FIELDS if not name.endswith("_encrypted")]


def current_settings() -> SmsSettings:
    """The saved SMS provider settings (empty when none), cached as the platform settings are
    (tfa.settings.cached)."""
    return cached(KEY, _load)


def _load() -> SmsSettings:
    row = db.session.get(Setting, KEY)
    known = {k: v for k, v in ((row.value if row else None) or {}).items() if k in _STORED_FIELDS}
    return replace(SmsSettings(), **known)


def save_settings(new: SmsSettings, *, secrets: dict, clear=(), actor, client) -> SmsSettings:
    """Store the settings. `secrets` maps a secret field to its new value (empty keeps the stored
    one); fields in `clear` are removed. Records which fields changed, never a secret's value."""
    old = current_settings()
    changed_secrets = []
    for name in SECRET_FIELDS:
        value = secrets.get(name)
        if value:
            new = replace(new, **{f"{name}_encrypted": crypto.encrypt(value).decode("ascii")})
            changed_secrets.append(name)
        elif name in clear:
            new = replace(new, **{f"{name}_encrypted": ""})
            if old.has_secret(name):
                changed_secrets.append(name)
        else:
            new = replace(new, **{f"{name}_encrypted": getattr(old, f"{name}_encrypted")})
    changes = {name: [getattr(old, name), getattr(new, name)]
               for name in sorted(_PLAIN_FIELDS) if getattr(old, name) != getattr(new, name)}
    store(KEY, asdict(new), new, actor=actor, client=client,
             details={"changes": changes, "secrets_changed": changed_secrets})
    return new


def timeout() -> float:
    """Seconds to wait for a provider before giving up."""
    return float(current_app.config.get("SMS_TIMEOUT") or TIMEOUT)


def outbox_allowed() -> bool:
    """The outbox keeps messages on this machine: only in development mode."""
    return current_app.config["TFA_ENV"] == "development"


def provider_for(settings: SmsSettings):
    """The provider object for these settings, or None when they are incomplete."""
    if not settings.is_complete:
        return None
    if settings.provider == TWILIO:
        from tfa.delivery.sms.twilio import TwilioProvider

        return TwilioProvider(settings)
    if settings.provider == SNS:
        from tfa.delivery.sms.sns import SnsProvider

        return SnsProvider(settings)
    if settings.provider == HTTP_GATEWAY:
        from tfa.delivery.sms.http_gateway import HttpGatewayProvider

        return HttpGatewayProvider(settings)
    if settings.provider == OUTBOX and outbox_allowed():
        from tfa.delivery.sms.outbox import OutboxProvider

        return OutboxProvider()
    return None


def configured_provider():
    """The configured provider (with `.send(phone, text)`), or None when none is set up."""
    return provider_for(current_settings())
