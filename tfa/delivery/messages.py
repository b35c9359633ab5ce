"""The texts of verification messages: the code email and the SMS from the admin's template."""
import re

from flask import render_template

_PLACEHOLDER = re.compile(r"\$\{(code|userEmail)\}")


def verification_email(code: str, minutes: int) -> tuple[str, str, str]:
    """(subject, text, html) of the email that carries a verification code."""
    context = {"code": code, "minutes": minutes}
    return (
        "Your verification code",
        render_template("email/verification_code.txt", **context),
        render_template("email/verification_code.html", **context),
    )


def verification_sms(template: str, code: str, user_email: str) -> str:
    """The admin's SMS template with ${code} and ${userEmail} replaced — plain replacement only."""
    values = {"code": code, "userEmail": user_email}
    # One pass, so a value that contains a placeholder is never substituted again.
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)
