"""Encryption at rest, keyed hashes and constant-time comparison.

Defends against a leaked database: TOTP secrets and provider credentials are stored encrypted
(Fernet, several keys so they can be rotated); backup codes, sent codes and device tokens are stored
only as HMAC-SHA256 under a key that is not in the database. Keys are derived once per process,
never per request.
"""
import base64
import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

__all__ = ["InvalidToken", "encrypt", "decrypt", "keyed_hash", "rotate", "init_app"]


def _derive(secret, info):
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(
        secret.encode()
    )


class Keys:
    """The keys of one application, built once from its configuration."""

    def __init__(self, config):
        raw = [k.strip() for k in (config.get("TFA_ENCRYPTION_KEYS") or "").split(",") if k.strip()]
        if not raw:
            raw = [base64.urlsafe_b64encode(_derive(config["SECRET_KEY"], b"tfa-encryption")).decode()]
        self.fernet = MultiFernet([Fernet(k) for k in raw])
        hmac_key = config.get("TFA_HMAC_KEY") or ""
        self.hmac_key = hmac_key.encode() if hmac_key else _derive(config["SECRET_KEY"], b"tfa-hmac")


def init_app(app):
    app.extensions["tfa_keys"] = Keys(app.config)


def _keys():
    return current_app.extensions["tfa_keys"]


def encrypt(plaintext: str) -> bytes:
    """Encrypt text under the newest key."""
    return _keys().fernet.encrypt(plaintext.encode())


def decrypt(token: bytes) -> str:
    """Decrypt text encrypted under any configured key (raises InvalidToken otherwise)."""
    return _keys().fernet.decrypt(bytes(token)).decode()


def rotate(token: bytes) -> bytes:
    """Re-encrypt a token under the newest key."""
    return _keys().fernet.rotate(bytes(token))


def keyed_hash(value: str) -> str:
    """HMAC-SHA256 of a value under the application's hash key, as hex."""
    return hmac.new(_keys().hmac_key, value.encode(), hashlib.sha256).hexdigest()
