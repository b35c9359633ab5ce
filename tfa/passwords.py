"""Password hashing (Argon2id) and the password policy.

Defends against offline cracking of a leaked database and against the most common passwords.
"""
import base64
import binascii
import gzip
import hmac
import mmap
import threading
from functools import lru_cache
from pathlib import Path

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from argon2.low_level import ffi, lib
from flask import current_app

MIN_LENGTH = 8
MAX_LENGTH = 256  # hashing cost grows with length; nobody needs more


class Verifier:
    """Argon2 verification of hashes made with the current parameters, with its memory kept.

    argon2-cffi's `verify` has the C library allocate the hash's memory (64 MiB by default) and give
    it back each time: the kernel then maps and zeroes 16,384 fresh pages per sign-in, about a fifth
    of the verify's CPU. Here the library computes the same Argon2 through `argon2_ctx` with
    allocation callbacks, and the memory is kept for the next verify. The library wipes it before
    handing it back, so nothing derived from a password stays in it.

    `threads` is how many threads fill the lanes (the hash does not depend on it). One thread
    costs the least CPU, which is what bounds sign-ins per second; more lower one verify's latency.

    `verify` answers None for hashes made with other parameters or in another form than argon2-cffi
    writes: the caller then uses argon2-cffi's own verify. So it does when the verifier is off
    (`enabled=False`), when callbacks cannot be made (they need a page of writable code, which some
    hosts forbid), or when this build of the library does not wipe the memory itself.
    """

    def __init__(self, hasher: PasswordHasher, threads: int = 1, enabled: bool = True, _probe: bool = False):
        self.type, self.version = hasher.type, lib.ARGON2_VERSION_NUMBER
        self.time_cost, self.memory_cost, self.lanes = hasher.time_cost, hasher.memory_cost, hasher.parallelism
        self.threads = max(1, min(threads, self.lanes))
        # Hashes this verifier takes: exactly what argon2-cffi writes with these parameters.
        self._prefix = (f"$argon2{self.type.name.lower()}$v={self.version}"
                        f"$m={self.memory_cost},t={self.time_cost},p={self.lanes}$")
        self._lock = threading.Lock()
        self._idle: list[tuple[mmap.mmap, object]] = []  # at most one buffer waits for the next verify
        self._busy: dict[int, tuple[mmap.mmap, object]] = {}
        self._allocate_cb = self._free_cb = None
        if not enabled or not (_probe or _library_wipes_memory()):
            return
        error = lib.ARGON2_MEMORY_ALLOCATION_ERROR
        try:
            self._allocate_cb = ffi.callback("int(uint8_t **, size_t)", self._allocate, error=error)
            self._free_cb = ffi.callback("void(uint8_t *, size_t)", self._free)
        except (MemoryError, OSError, RuntimeError):  # a host that forbids writable code (W^X)
            self._allocate_cb = None

    def _allocate(self, memory, size):
        with self._lock:
            kept = self._idle.pop() if self._idle and len(self._idle[-1][0]) == size else None
        if kept is None:
            buffer = mmap.mmap(-1, size)  # anonymous and private: pages come zeroed, on first touch
            if hasattr(mmap, "MADV_DONTDUMP"):
                buffer.madvise(mmap.MADV_DONTDUMP)  # a crash in the middle of a verify dumps none of it
            kept = (buffer, ffi.from_buffer("uint8_t[]", buffer))
        address = ffi.cast("uint8_t *", kept[1])
        with self._lock:
            self._busy[int(ffi.cast("uintptr_t", address))] = kept
        memory[0] = address
        return lib.ARGON2_OK

    def _free(self, memory, size):
        # The library has already wiped the memory (clear_internal_memory) when it calls this.
        with self._lock:
            kept = self._busy.pop(int(ffi.cast("uintptr_t", memory)))
            if not self._idle:
                self._idle.append(kept)
                return
        ffi.release(kept[1])
        kept[0].close()

    def verify(self, encoded: str, password: str) -> bool | None:
        if self._allocate_cb is None:
            return None
        if not encoded.startswith(self._prefix):
            return None
        salt_text, _, tag_text = encoded[len(self._prefix):].partition("$")
        try:
            salt, tag = (base64.b64decode(part + "=" * (-len(part) % 4), validate=True)
                         for part in (salt_text, tag_text))
        except (binascii.Error, ValueError):
            return None
        # No padding and no stray bits in the last base64 character: libargon2's decoder refuses those.
        if _b64(salt) != salt_text or _b64(tag) != tag_text:
            return None
        secret = password.encode("utf-8")
        out = ffi.new("uint8_t[]", max(len(tag), 1))
        # Named, so that they live until argon2_ctx returns (the struct does not hold them).
        pwd, salt_buffer = ffi.from_buffer("uint8_t[]", secret), ffi.from_buffer("uint8_t[]", salt)
        context = ffi.new("argon2_context *", {
            "out": out, "outlen": len(tag),
            "pwd": pwd, "pwdlen": len(secret),
            "salt": salt_buffer, "saltlen": len(salt),
            "t_cost": self.time_cost, "m_cost": self.memory_cost,
            "lanes": self.lanes, "threads": self.threads, "version": self.version,
            "allocate_cbk": self._allocate_cb, "free_cbk": self._free_cb,
            "flags": lib.ARGON2_DEFAULT_FLAGS,
        })
        if lib.argon2_ctx(context, self.type.value) != lib.ARGON2_OK:
            return None
        return hmac.compare_digest(ffi.buffer(out, len(tag))[:], tag)

    def kept(self) -> list[tuple[int, int, bool]]:
        """The memory waiting for the next verify: (identity, size, all zeros) of each buffer."""
        with self._lock:
            return [(id(buffer), len(buffer), buffer[:].count(0) == len(buffer)) for buffer, _ in self._idle]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


@lru_cache(maxsize=1)
def _library_wipes_memory() -> bool:
    """Whether this build of libargon2 wipes its memory before giving it to the free callback.

    The bundled library does (clear_internal_memory); an old system library built without that
    would leave password-derived memory in the kept buffer, so the verifier stays off there.
    """
    hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    probe = Verifier(hasher, _probe=True)
    return bool(probe.verify(hasher.hash("probe"), "probe")) and all(wiped for _, _, wiped in probe.kept())


def init_app(app):
    hasher = app.extensions["tfa_hasher"] = PasswordHasher(
        time_cost=app.config["ARGON2_TIME_COST"],
        memory_cost=app.config["ARGON2_MEMORY_COST"],
        parallelism=app.config["ARGON2_PARALLELISM"],
        type=Type.ID,
    )
    app.extensions["tfa_verifier"] = Verifier(hasher, threads=app.config["ARGON2_THREADS"],
                                              enabled=app.config["ARGON2_KEEP_MEMORY"])
    # Verified against when the email is unknown, so timing does not tell accounts apart.
    app.extensions["tfa_dummy_hash"] = hasher.hash("not a password")


def _hasher() -> PasswordHasher:
    return current_app.extensions["tfa_hasher"]


def hash_password(password: str) -> str:
    """An Argon2id hash of the password."""
    return _hasher().hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether the password matches; spends the same time when there is no hash."""
    encoded = password_hash or current_app.extensions["tfa_dummy_hash"]
    usable = True
    try:
        password.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: no password has one; the same time is spent
        password, usable = "", False
    matched = current_app.extensions["tfa_verifier"].verify(encoded, password)
    if matched is None:  # other parameters or an older form: argon2-cffi's own verify
        try:
            matched = _hasher().verify(encoded, password)
        except (VerificationError, InvalidHashError):
            matched = False
    return matched and usable and bool(password_hash)


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
