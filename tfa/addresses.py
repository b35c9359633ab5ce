"""Phone numbers and email addresses as tfa stores them: E.164 and lower-cased addresses.

One place for both, so that enrollment, accounts and the admin pages accept the same input.
Other scripts' digits are refused: phonenumbers would read them as ASCII digits.
"""
# phonenumbers and email_validator are imported where used: deferred to keep workers small.

INVALID_EMAIL = "Enter a valid email address"
PHONE_FORMAT = "Enter the number in international format, such as +14155552671"
INVALID_PHONE = "This is not a valid phone number"


def email(raw: str | None) -> str:
    """A trimmed, validated, lower-cased address, or ValueError with a message for a person."""
    from email_validator import EmailNotValidError, validate_email

    raw = (raw or "").strip()
    if not raw or len(raw) > 254:
        raise ValueError(INVALID_EMAIL)
    try:
        return validate_email(raw, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        raise ValueError(INVALID_EMAIL) from None


def e164(raw: str | None) -> str:
    """A phone number in E.164 (international, with +country code), or ValueError with a message."""
    import phonenumbers

    raw = (raw or "").strip()
    if not raw or len(raw) > 32 or not raw.isascii() or not raw.startswith("+"):
        raise ValueError(PHONE_FORMAT)
    try:
        number = phonenumbers.parse(raw, None)
    except phonenumbers.NumberParseException:
        raise ValueError(PHONE_FORMAT) from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError(INVALID_PHONE)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
