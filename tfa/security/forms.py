from flask_wtf import FlaskForm
from wtforms import PasswordField, SubmitField
from wtforms.validators import DataRequired, EqualTo, Length


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
