"""Forms of the administration pages: shared fields and the two-factor settings. They check the
shape of the input; the services (tfa.settings, tfa.delivery) own the rules that span fields."""
import re

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, StopValidation, ValidationError
from wtforms.widgets import NumberInput

from tfa import addresses
from tfa.settings import ENFORCE_CHOICES, RANGES, SMS_TEMPLATE_MAX, TwoFactorSettings

# Longer than any value a number field takes; longer input is "too large", not parsed.
_MAX_DIGITS = 9
_NUMBER = re.compile(r"-?[0-9]+")


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


def strip(value):
    """A filter: surrounding spaces are never meant."""
    return value.strip() if value else value


def email_or_empty(form, field):
    if field.data:
        try:
            addresses.email(field.data)
        except ValueError as error:
            raise ValidationError(str(error)) from None


# --- Two-factor authentication ------------------------------------------------------------------

class TwoFactorForm(FlaskForm):
    totp_enabled = BooleanField("Authenticator app")
    issuer_name = StringField("Issuer name", filters=[strip])
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
                                            filters=[strip])

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
