from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, HiddenField, PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, Length


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired("Enter your email"), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired("Enter your password"), Length(max=256)])
    submit = SubmitField("Sign in")


class VerifyForm(FlaskForm):
    code = StringField("Verification code", validators=[DataRequired("Enter the code"), Length(max=64)])
    remember = BooleanField("Remember this device")
    submit = SubmitField("Continue")


class ChooseMethodForm(FlaskForm):
    method = HiddenField(validators=[DataRequired(), Length(max=16)])


class ActionForm(FlaskForm):
    """A button that only needs the CSRF token (resend, continue)."""
