"""Forms of the mail server and SMS provider pages."""
import ipaddress
import re
from dataclasses import replace
from urllib.parse import urlsplit

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, ValidationError

from tfa.addresses import e164
from tfa.admin.forms import WholeNumberField, email_or_empty, strip
from tfa.delivery import mail as mail_delivery
from tfa.delivery import sms as sms_delivery
from tfa.delivery.sms import http_gateway

_HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$")


def _http_url(value: str) -> bool:
    try:
        parts = urlsplit(value.replace(http_gateway.PHONE, "x").replace(http_gateway.MESSAGE, "x"))
        return parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:
        return False


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
    host = StringField("SMTP host", filters=[strip],
                       validators=[DataRequired("Enter the SMTP host"), _host])
    port = WholeNumberField("Port", validators=[NumberRange(1, 65535, "Must be between 1 and 65535")])
    security = SelectField("Security", choices=list(mail_delivery.SECURITY_CHOICES.items()), validate_choice=False)
    username = StringField("Username", filters=[strip],
                           validators=[Length(max=254, message="At most 254 characters")])
    password = PasswordField("Password", validators=[Length(max=512, message="At most 512 characters")])
    sender = EmailField("Sender address", filters=[strip],
                        validators=[DataRequired("Enter the sender address"), email_or_empty])
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
    recipient = EmailField("Recipient", filters=[strip],
                           validators=[DataRequired("Enter the recipient's address"), email_or_empty])


# --- SMS provider ------------------------------------------------------------------------------

class SmsForm(FlaskForm):
    provider = SelectField("Provider", choices=list(sms_delivery.PROVIDER_CHOICES.items()), validate_choice=False)
    twilio_account_sid = StringField("Account SID", filters=[strip])
    twilio_auth_token = PasswordField("Auth token")
    twilio_from_number = StringField("Sender number", filters=[strip])
    sns_access_key_id = StringField("Access key ID", filters=[strip])
    sns_secret_key = PasswordField("Secret access key")
    sns_region = StringField("Region", filters=[strip])
    sns_endpoint_url = StringField("Endpoint URL", filters=[strip])
    http_url = StringField("URL", filters=[strip])
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
    phone = StringField("Phone number", filters=[strip], validators=[DataRequired("Enter a phone number"), Length(max=40, message="This is not a valid phone number")])

    def validate_phone(self, field):
        try:
            field.data = e164(field.data)
        except ValueError as error:
            raise ValidationError(str(error)) from None
