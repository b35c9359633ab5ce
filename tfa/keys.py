"""Key rotation: re-encrypt every stored secret under the newest key of TFA_ENCRYPTION_KEYS.

Defends against a key that has leaked or aged out: put a new key first in TFA_ENCRYPTION_KEYS,
run `flask --app app rotate-keys`, then drop the old key. Secrets are the TOTP secrets (enrolled
and pending) and the encrypted values in the settings documents (fields named `*_encrypted`).
"""
from sqlalchemy import select

from tfa import crypto, settings
from tfa.extensions import db
from tfa.models import PendingEnrollment, Setting, TwoFactorMethod

ENCRYPTED_SUFFIX = "_encrypted"


def _rotate_setting(value: dict) -> tuple[dict, int]:
    rotated, count = dict(value), 0
    for name, token in value.items():
        if name.endswith(ENCRYPTED_SUFFIX) and isinstance(token, str) and token:
            rotated[name] = crypto.rotate(token.encode("ascii")).decode("ascii")
            count += 1
    return rotated, count


def rotate_all() -> int:
    """Re-encrypt every stored secret under the newest key, in one transaction; returns how many.

    Raises crypto.InvalidToken (and changes nothing) when a secret cannot be decrypted with any
    configured key.
    """
    count = 0
    try:
        for model in (TwoFactorMethod, PendingEnrollment):
            rows = db.session.scalars(
                select(model).where(model.secret_encrypted.is_not(None)).with_for_update()
            )
            for row in rows:
                row.secret_encrypted = crypto.rotate(row.secret_encrypted)
                count += 1
        for setting in db.session.scalars(select(Setting).with_for_update()):
            rotated, n = _rotate_setting(setting.value or {})
            if n:
                setting.value = rotated  # a new dict, so the JSON column sees the change
                count += n
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    settings.forget_cached()  # the cached settings hold the old ciphertexts
    return count
