"""Password hashing (Argon2id) and the password policy.

Defends against offline cracking of a leaked database and against the most common passwords.
"""
import gzip
from functools import lru_cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app

MIN_LENGTH = 8
MAX_LENGTH = 256  # hashing cost grows with length; nobody needs more


def init_app(app):
    app.extensions["tfa_hasher"] = PasswordHasher(
        time_cost=app.config["ARGON2_TIME_COST"],
        memory_cost=app.config["ARGON2_MEMORY_COST"],
        parallelism=app.config["ARGON2_PARALLELISM"],
    )
    # Verified against when the email is unknown, so timing does not tell accounts apart.
    app.extensions["tfa_dummy_hash"] = app.extensions["tfa_hasher"].hash("not a password")


def _hasher() -> PasswordHasher:
    return current_app.extensions["tfa_hasher"]


def hash_password(password: str) -> str:
    """An Argon2id hash of the password."""
    return _hasher().hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether the password matches; spends the same time when there is no hash."""
    try:
        return _hasher().verify(password_hash or current_app.extensions["tfa_dummy_hash"], password) and bool(
            password_hash
        )
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Whether the hash was made with other parameters than the current ones."""
    return _hasher().check_needs_rehash(password_hash)


@lru_cache(maxsize=1)
def _common_passwords() -> frozenset[str]:
    # Django's list of 20,000 common passwords (BSD licence), see tfa/data/.
    path = Path(__file__).parent / "data" / "common-passwords.txt.gz"
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return frozenset(line.strip() for line in f if line.strip())


def password_problem(password: str) -> str | None:
    """Why the password is not acceptable, or None."""
    if len(password) < MIN_LENGTH:
        return f"Password must be at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"Password must be at most {MAX_LENGTH} characters"
    if password.lower().strip() in _common_passwords():
        return "This password is too common"
    return None
