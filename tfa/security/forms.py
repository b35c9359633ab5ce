from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, PasswordField, StringField, SubmitField
from wtforms.validators import AnyOf, DataRequired, EqualTo, Length

from tfa.enrollment import ENTER_CODE, INVALID_EMAIL, INVALID_PHONE

# What a password confirmation may lead to (see tfa.security.two_factor.confirm_password).
REAUTH_ACTIONS = ("disable", "change", "regenerate")


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(
        "Current password", validators=[DataRequired("Enter your current password"), Length(max=256)]
    )
    new_password = PasswordField("New password", validators=[DataRequired("Enter a new password"), Length(max=256)])
    confirm_password = PasswordField(
        "Confirm new password",
        validators=[DataRequired("Confirm the new password"), EqualTo("new_password", "Passwords do not match")],
    )
    submit = SubmitField("Change password")


class SwitchForm(FlaskForm):
    """The on/off switch of a method; its label is set per method ("Enable SMS")."""

    enabled = BooleanField("Enable", false_values=(False, "false", "", "off", "0"))


class PhoneForm(FlaskForm):
    destination = StringField(
        "Phone number", validators=[DataRequired("Enter a phone number"), Length(max=32, message=INVALID_PHONE)]
    )


class EmailForm(FlaskForm):
    destination = StringField(
        "Email", validators=[DataRequired("Enter an email address"), Length(max=254, message=INVALID_EMAIL)]
    )


class CodeForm(FlaskForm):
    code = StringField("Verification code", validators=[DataRequired(ENTER_CODE), Length(max=32, message=ENTER_CODE)])


class ConfirmPasswordForm(FlaskForm):
    password = PasswordField("Password", validators=[DataRequired("Enter your password"), Length(max=256)])
    action = HiddenField(validators=[AnyOf(REAUTH_ACTIONS, message="Choose the change again.")])


class ActionForm(FlaskForm):
    """A button that changes something: only the CSRF token."""
