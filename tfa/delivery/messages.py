"""The texts of verification messages: the code email and the SMS from the admin's template."""
from flask import render_template


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
    return template.replace("${userEmail}", user_email).replace("${code}", code)
