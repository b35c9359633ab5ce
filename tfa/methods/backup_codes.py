"""Single-use backup codes: 8 lowercase hexadecimal characters, as ThingsBoard's.

Defends against a leaked database (only keyed hashes are stored) and against reuse (each code is
consumed with a conditional UPDATE, so two simultaneous requests cannot both use it).
"""
import re
import secrets

from sqlalchemy import delete, func, select, update

from tfa import crypto
from tfa.extensions import db
from tfa.models import BackupCode
from tfa.types import utcnow

_CODE = re.compile(r"[0-9a-f]{8}")
_SEPARATORS = re.compile(r"[\s\-]+")


def normalize(raw: str | None) -> str | None:
    """A backup code as stored: lower-case, spaces and dashes removed; None if not one."""
    if raw is None or len(raw) > 64:
        return None
    code = _SEPARATORS.sub("", raw).lower()
    return code if _CODE.fullmatch(code) else None


def _hash(user_id: int, code: str) -> str:
    return crypto.keyed_hash(f"backup:{user_id}:{code}")


def generate(user_id: int, count: int) -> list[str]:
    """A new set of codes for the user; the old set stops working (the caller commits)."""
    db.session.execute(delete(BackupCode).where(BackupCode.user_id == user_id))
    codes = set()
    while len(codes) < count:
        codes.add(secrets.token_hex(4))
    codes = sorted(codes, key=lambda _: secrets.randbelow(1 << 30))
    db.session.add_all(BackupCode(user_id=user_id, code_hash=_hash(user_id, c)) for c in codes)
    return codes


def use(user_id: int, raw: str) -> bool:
    """Consume a code; False when it is not an unused code of this user (the caller commits)."""
    code = normalize(raw)
    if code is None:
        return False
    result = db.session.execute(
        update(BackupCode)
        .where(
            BackupCode.user_id == user_id,
            BackupCode.code_hash == _hash(user_id, code),
            BackupCode.used_at.is_(None),
        )
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def remaining(user_id: int) -> int:
    """How many unused codes the user has."""
    return db.session.scalar(
        select(func.count()).select_from(BackupCode).where(BackupCode.user_id == user_id, BackupCode.used_at.is_(None))
    )


def delete_all(user_id: int) -> None:
    db.session.execute(delete(BackupCode).where(BackupCode.user_id == user_id))
