"""Authenticator app codes (RFC 6238: HMAC-SHA1, 6 digits, 30-second steps).

Defends against replay: a code is accepted at most once — the last accepted step is stored
(User.totp_last_step) and only later steps pass, with a conditional UPDATE in tfa.signin so that two
simultaneous requests (in any number of processes) cannot both use it. Secrets are 160 random bits,
stored encrypted.
"""
import hmac
import io
import time

import pyotp

STEP_SECONDS = 30
DIGITS = 6
VALID_WINDOW = 1  # the previous, current and next step


def new_secret() -> str:
    """A random 160-bit secret in Base32 (32 characters)."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, email: str, issuer: str) -> str:
    """The otpauth:// URL an authenticator app scans."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(name=email, issuer_name=issuer)


def qr_svg(uri: str) -> str:
    """The URL as an inline SVG QR code (no script, no external reference)."""
    import qrcode.image.svg  # deferred to keep workers small: only enrollment draws QR codes

    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, box_size=10, border=2)
    buffer = io.BytesIO()
    image.save(buffer)
    svg = buffer.getvalue().decode()
    return svg[svg.index("<svg"):]  # drop the XML declaration for inline HTML


def grouped(secret: str) -> str:
    """The secret in groups of four, for typing by hand."""
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


def matching_step(secret: str, code: str, now: float | None = None) -> int | None:
    """The time step (±1 around now) whose code equals `code`, compared in constant time."""
    now = time.time() if now is None else now
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    current = int(now) // STEP_SECONDS
    found = None
    for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        if hmac.compare_digest(totp.generate_otp(step).encode(), code.encode()):
            found = step  # no early exit: the same work whichever step matches
    return found
