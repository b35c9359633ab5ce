"""Forms of the administration pages. They check the shape of the input; the services
(tfa.settings, tfa.delivery) own the rules that span fields."""
import ipaddress
import re
from dataclasses import replace
from urllib.parse import urlsplit

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, StopValidation, ValidationError
from wtforms.widgets import NumberInput

from tfa.delivery import mail as mail_delivery
from tfa.delivery import sms as sms_delivery
from tfa.delivery.sms import http_gateway
from tfa.settings import ENFORCE_CHOICES, RANGES, SMS_TEMPLATE_MAX, TwoFactorSettings

# Longer than any value a number field takes; longer input is "too large", not parsed.
_MAX_DIGITS = 9
_NUMBER = re.compile(r"-?[0-9]+")
_HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$")


class WholeNumberField(StringField):
    """A whole number written with ASCII digits: `int()` would also take other scripts' digits."""

    widget = NumberInput(step=1)

    def process_formdata(self, valuelist):
        self.data = None
        if not valuelist:
            return
        raw = valuelist[0].strip()
        if not raw:
            return
        if not _NUMBER.fullmatch(raw):
            raise ValueError("Enter a whole number using the digits 0-9")
        if len(raw.lstrip("-")) > _MAX_DIGITS:
            raise ValueError("Value is too large")
        self.data = int(raw)

    def pre_validate(self, form):
        if self.process_errors:
            raise StopValidation()  # the parse error is the message; no range check on nothing
        if self.data is None:
            raise StopValidation("Enter a number")

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        return "" if self.data is None else str(self.data)


def _email_or_empty(form, field):
    if field.data:
        try:
            validate_email(field.data, check_deliverability=False)
        except EmailNotValidError:
            raise ValidationError("Enter a valid email address") from None


def e164(value: str) -> str:
    """A phone number in E.164, or ValueError with a message for a person."""
    example = "Enter the number in international format, such as +14155552671"
    try:
        if not value.isascii():  # phonenumbers would read other scripts' digits
            raise phonenumbers.NumberParseException(phonenumbers.NumberParseException.NOT_A_NUMBER, "")
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        raise ValueError(example) from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError("This is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _http_url(value: str) -> bool:
    try:
        parts = urlsplit(value.replace(http_gateway.PHONE, "x").replace(http_gateway.MESSAGE, "x"))
        return parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:
        return False


# --- Two-factor authentication ------------------------------------------------------------------

class TwoFactorForm(FlaskForm):
    totp_enabled = BooleanField("Authenticator app")
    issuer_name = StringField("Issuer name", filters=[lambda v: v.strip() if v else v])
    sms_enabled = BooleanField("SMS")
    sms_template = TextAreaField("Verification message template")
    sms_code_lifetime = WholeNumberField("Verification code lifetime (SMS)")
    email_enabled = BooleanField("Email")
    email_code_lifetime = WholeNumberField("Verification code lifetime (Email)")
    backup_codes_enabled = BooleanField("Backup code")
    backup_codes_count = WholeNumberField("Number of codes")
    total_verification_time = WholeNumberField("Total allowed time for verification")
    retry_period = WholeNumberField("Retry verification code period")
    max_failures = WholeNumberField("Max verification failures before user lockout")
    check_limit_enabled = BooleanField("Verification code check rate limit")
    check_limit_attempts = WholeNumberField("Number of checking attempts")
    check_limit_seconds = WholeNumberField("Within time")
    enforce_enabled = BooleanField("Enforce two-factor authentication")
    enforce_for = SelectField("Enforce for", choices=list(ENFORCE_CHOICES.items()), validate_choice=False,
                              validators=[InputRequired("Choose All users or Administrators")])
    remember_device_days = WholeNumberField("Remember device for (days)")
    lockout_notification_email = EmailField("Lockout notification email",
                                            filters=[lambda v: v.strip() if v else v])

    # The numbers' ranges, for the inputs' min and max (the rules themselves are in tfa.settings).
    ranges = RANGES
    sms_template_max = SMS_TEMPLATE_MAX

    def to_settings(self) -> TwoFactorSettings:
        """The settings this form describes; fields that did not parse keep their defaults."""
        values = {}
        for name in TwoFactorSettings.__dataclass_fields__:
            value = self[name].data
            if value is None:
                continue
            values[name] = value.strip() if name == "sms_template" else value
        return TwoFactorSettings(**values)


# --- Mail server -------------------------------------------------------------------------------

def _host(form, field):
    value = field.data or ""
    try:
        ipaddress.ip_address(value.strip("[]"))
        return
    except ValueError:
        pass
    if not _HOSTNAME.match(value):
        raise ValidationError("Enter a host name or IP address")


class MailForm(FlaskForm):
    host = StringField("SMTP host", filters=[lambda v: v.strip() if v else v],
                       validators=[DataRequired("Enter the SMTP host"), _host])
    port = WholeNumberField("Port", validators=[NumberRange(1, 65535, "Must be between 1 and 65535")])
    security = SelectField("Security", choices=list(mail_delivery.SECURITY_CHOICES.items()), validate_choice=False)
    username = StringField("Username", filters=[lambda v: v.strip() if v else v],
                           validators=[Length(max=254, message="At most 254 characters")])
    password = PasswordField("Password", validators=[Length(max=512, message="At most 512 characters")])
    sender = EmailField("Sender address", filters=[lambda v: v.strip() if v else v],
                        validators=[DataRequired("Enter the sender address"), _email_or_empty])
    timeout = WholeNumberField("Timeout (seconds)", validators=[NumberRange(1, 120, "Must be between 1 and 120")])

    def validate_security(self, field):
        if field.data not in mail_delivery.SECURITY_CHOICES:
            raise ValidationError("Choose None, SSL or STARTTLS")

    def to_settings(self) -> mail_delivery.MailSettings:
        return mail_delivery.MailSettings(
            host=self.host.data, port=self.port.data, security=self.security.data,
            username=self.username.data or "", sender=self.sender.data, timeout=self.timeout.data,
        )


class TestEmailForm(FlaskForm):
    recipient = EmailField("Recipient", filters=[lambda v: v.strip() if v else v],
                           validators=[DataRequired("Enter the recipient's address"), _email_or_empty])


# --- SMS provider ------------------------------------------------------------------------------

def _strip(value):
    return value.strip() if value else value


class SmsForm(FlaskForm):
    provider = SelectField("Provider", choices=list(sms_delivery.PROVIDER_CHOICES.items()), validate_choice=False)
    twilio_account_sid = StringField("Account SID", filters=[_strip])
    twilio_auth_token = PasswordField("Auth token")
    twilio_from_number = StringField("Sender number", filters=[_strip])
    sns_access_key_id = StringField("Access key ID", filters=[_strip])
    sns_secret_key = PasswordField("Secret access key")
    sns_region = StringField("Region", filters=[_strip])
    sns_endpoint_url = StringField("Endpoint URL", filters=[_strip])
    http_url = StringField("URL", filters=[_strip])
    http_method = SelectField("Method", choices=[(m, m) for m in sms_delivery.HTTP_METHODS], validate_choice=False)
    http_headers = TextAreaField("Headers")
    http_headers_clear = BooleanField("Remove the stored headers")
    http_body_template = TextAreaField("Body template")

    def check(self, stored: sms_delivery.SmsSettings, *, outbox_allowed: bool) -> bool:
        """Validate the fields of the chosen provider (the others are kept as they are)."""
        ok = self.validate()
        provider = self.provider.data
        if provider not in sms_delivery.PROVIDER_CHOICES:
            return self._error(self.provider, "Choose Twilio, AWS SNS, HTTP gateway or Outbox")
        if provider == sms_delivery.TWILIO:
            ok &= self._twilio(stored)
        elif provider == sms_delivery.SNS:
            ok &= self._sns(stored)
        elif provider == sms_delivery.HTTP_GATEWAY:
            ok &= self._http()
        elif not outbox_allowed:
            ok = self._error(self.provider, "The outbox is only available in development mode")
        return ok

    def _error(self, field, message) -> bool:
        field.errors = [*field.errors, message]
        return False

    def _twilio(self, stored) -> bool:
        ok = True
        if not re.fullmatch(r"AC[0-9a-fA-F]{32}", self.twilio_account_sid.data or ""):
            ok = self._error(self.twilio_account_sid, "Enter the account SID: AC followed by 32 characters")
        if not self.twilio_auth_token.data and not stored.has_secret("twilio_auth_token"):
            ok = self._error(self.twilio_auth_token, "Enter the auth token")
        elif len(self.twilio_auth_token.data or "") > 256:
            ok = self._error(self.twilio_auth_token, "At most 256 characters")
        try:
            self.twilio_from_number.data = e164(self.twilio_from_number.data or "")
        except ValueError as error:
            ok = self._error(self.twilio_from_number, str(error))
        return ok

    def _sns(self, stored) -> bool:
        ok = True
        if not re.fullmatch(r"[A-Z0-9]{16,128}", self.sns_access_key_id.data or ""):
            ok = self._error(self.sns_access_key_id, "Enter the access key ID: 16 or more capital letters and digits")
        if not self.sns_secret_key.data and not stored.has_secret("sns_secret_key"):
            ok = self._error(self.sns_secret_key, "Enter the secret access key")
        elif len(self.sns_secret_key.data or "") > 256:
            ok = self._error(self.sns_secret_key, "At most 256 characters")
        if not re.fullmatch(r"[a-z]{2}(-[a-z]+)+-[0-9]{1,2}", self.sns_region.data or ""):
            ok = self._error(self.sns_region, "Enter an AWS region, such as us-east-1")
        url = self.sns_endpoint_url.data
        if url and (len(url) > 2000 or not _http_url(url)):
            ok = self._error(self.sns_endpoint_url, "Enter a URL starting with http:// or https://")
        return ok

    def _http(self) -> bool:
        ok = True
        url = self.http_url.data or ""
        if not url:
            ok = self._error(self.http_url, "Enter the gateway URL")
        elif len(url) > 2000 or not _http_url(url):
            ok = self._error(self.http_url, "Enter a URL starting with http:// or https://")
        if self.http_method.data not in sms_delivery.HTTP_METHODS:
            ok = self._error(self.http_method, "Choose POST, PUT or GET")
        if self.http_headers.data:
            if len(self.http_headers.data) > 8000:
                ok = self._error(self.http_headers, "At most 8000 characters")
            else:
                try:
                    http_gateway.parse_headers(self.http_headers.data)
                except ValueError as error:
                    ok = self._error(self.http_headers, str(error))
        body = self.http_body_template.data or ""
        if len(body) > 4000:
            ok = self._error(self.http_body_template, "At most 4000 characters")
        elif self.http_method.data == "GET" and body.strip():
            ok = self._error(self.http_body_template, "A GET request has no body: put ${phone} and ${message} in the URL")
        else:
            for placeholder in (http_gateway.PHONE, http_gateway.MESSAGE):
                if placeholder not in url and placeholder not in body:
                    ok = self._error(self.http_body_template, f"The URL or body template must contain {placeholder}")
        return ok

    # The fields each provider owns; only the chosen provider's are taken from the form.
    provider_fields = {
        sms_delivery.TWILIO: ("twilio_account_sid", "twilio_from_number"),
        sms_delivery.SNS: ("sns_access_key_id", "sns_region", "sns_endpoint_url"),
        sms_delivery.HTTP_GATEWAY: ("http_url", "http_method", "http_body_template"),
        sms_delivery.OUTBOX: (),
    }
    secret_fields = {
        sms_delivery.TWILIO: "twilio_auth_token",
        sms_delivery.SNS: "sns_secret_key",
        sms_delivery.HTTP_GATEWAY: "http_headers",
    }

    def to_settings(self, stored: sms_delivery.SmsSettings) -> sms_delivery.SmsSettings:
        """The new plain settings: the chosen provider's fields from the form, the others as
        stored. Secrets go to the service separately (see secrets())."""
        provider = self.provider.data
        changes = {name: self[name].data or "" for name in self.provider_fields[provider]}
        if "http_body_template" in changes:
            changes["http_body_template"] = changes["http_body_template"].replace("\r\n", "\n")
        return replace(stored, provider=provider, **changes)

    def secrets(self) -> dict:
        """The chosen provider's new secret (empty: keep the stored one)."""
        name = self.secret_fields.get(self.provider.data)
        if name is None:
            return {}
        value = self[name].data or ""
        if name == "http_headers":
            value = value.strip().replace("\r\n", "\n")
        return {name: value}

    def secrets_to_clear(self) -> tuple:
        if self.provider.data == sms_delivery.HTTP_GATEWAY and self.http_headers_clear.data and not self.http_headers.data:
            return ("http_headers",)
        return ()


class TestSmsForm(FlaskForm):
    phone = StringField("Phone number", filters=[_strip], validators=[DataRequired("Enter a phone number"), Length(max=40, message="This is not a valid phone number")])

    def validate_phone(self, field):
        try:
            field.data = e164(field.data)
        except ValueError as error:
            raise ValidationError(str(error)) from None
