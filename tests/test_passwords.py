"""Password verification: tfa's Argon2 verifier against argon2-cffi's, its kept memory, fallbacks."""
import secrets
from concurrent.futures import ThreadPoolExecutor

import pytest
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from tests.conftest import PASSWORD, gen_user, sign_in
from tfa import passwords
from tfa.extensions import db
from tfa.passwords import Verifier

# Small costs keep the suite fast; the code path is the same at argon2-cffi's defaults.
PARAMS = [
    {"time_cost": 1, "memory_cost": 1024, "parallelism": 1},
    {"time_cost": 2, "memory_cost": 2048, "parallelism": 4},
    {"time_cost": 1, "memory_cost": 1500, "parallelism": 3},  # blocks rounded down to 4 × lanes
]
PASSWORDS = ["correct horse battery staple", "", "ünïcødé пароль 密码", "x" * 256, "a\x00b"]


@pytest.mark.parametrize("params", PARAMS)
@pytest.mark.parametrize("threads", [1, 2, 8])
def test_verifier_answers_as_argon2_cffi_does(params, threads):
    hasher = PasswordHasher(**params)
    verifier = Verifier(hasher, threads=threads)
    for password in PASSWORDS:
        encoded = hasher.hash(password)
        assert verifier.verify(encoded, password) is True
        assert hasher.verify(encoded, password)
        for wrong in {password + "!", password[:-1], password.upper() + "X", secrets.token_hex(8)} - {password}:
            assert verifier.verify(encoded, wrong) is False


def test_kept_memory_is_wiped_and_reused():
    hasher = PasswordHasher(**PARAMS[1])
    verifier = Verifier(hasher)
    encoded = hasher.hash(PASSWORD)
    assert verifier.verify(encoded, PASSWORD)
    (kept,) = verifier.kept()
    identity, size, wiped = kept
    assert size == 2048 * 1024
    assert wiped, "memory derived from the password was left in the buffer"
    assert verifier.verify(encoded, "wrong password") is False
    assert verifier.kept() == [kept]


def test_the_bundled_library_wipes_its_memory():
    assert passwords._library_wipes_memory()


def test_parallel_verifies_each_get_their_own_memory():
    hasher = PasswordHasher(**PARAMS[1])
    verifier = Verifier(hasher, threads=2)
    hashes = {f"password {i}": hasher.hash(f"password {i}") for i in range(6)}
    jobs = [(encoded, password, True) for password, encoded in hashes.items()]
    jobs += [(encoded, password + "?", False) for password, encoded in hashes.items()]
    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(lambda job: verifier.verify(job[0], job[1]), jobs * 3))
    assert answers == [expected for _, _, expected in jobs * 3]
    assert len(verifier.kept()) == 1  # one kept; the others were given back


@pytest.mark.parametrize("params", [
    {"time_cost": 2, "memory_cost": 1024, "parallelism": 1},
    {"time_cost": 1, "memory_cost": 2048, "parallelism": 1},
    {"time_cost": 1, "memory_cost": 1024, "parallelism": 2},
    {"time_cost": 1, "memory_cost": 1024, "parallelism": 1, "type": Type.I},
])
def test_hashes_with_other_parameters_are_left_to_argon2_cffi(params):
    verifier = Verifier(PasswordHasher(**PARAMS[0]))
    assert verifier.verify(PasswordHasher(**params).hash(PASSWORD), PASSWORD) is None


B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _stray_bits(part):
    """The same bytes in base64 with a non-zero leftover bit in the last character."""
    return part[:-1] + B64[B64.index(part[-1]) ^ 1]


def test_only_the_form_argon2_cffi_writes_is_verified_here():
    """Strings libargon2's decoder refuses are never accepted by the verifier, with the right password."""
    hasher = PasswordHasher(**PARAMS[0])
    verifier = Verifier(hasher)
    good = hasher.hash(PASSWORD)
    prefix, salt, tag = good.rsplit("$", 2)
    for odd in [
        good.replace("m=1024,t=1,p=1", "t=1,m=1024,p=1"),
        good.replace("v=19$m=1024,t=1,p=1", "m=1024$v=19,t=1,p=1"),
        good.replace("m=1024,", "m=1024,m=1024,"),
        good.replace("t=1", "t=+1"),
        good + "=",
        f"{prefix}${salt}${_stray_bits(tag)}",
        f"{prefix}${_stray_bits(salt)}${tag}",
    ]:
        with pytest.raises((VerificationError, InvalidHashError)):
            hasher.verify(odd, PASSWORD)
        assert verifier.verify(odd, PASSWORD) is None, odd


def test_the_verifier_can_be_turned_off():
    hasher = PasswordHasher(**PARAMS[0])
    assert Verifier(hasher, enabled=False).verify(hasher.hash(PASSWORD), PASSWORD) is None


def test_malformed_hashes_are_not_verified():
    hasher = PasswordHasher(**PARAMS[0])
    verifier = Verifier(hasher)
    good = hasher.hash(PASSWORD)
    prefix, salt, tag = good.rsplit("$", 2)
    for bad in ["", "garbage", "$argon2id$", good.replace("m=1024", "m=x"),
                f"{prefix}$!!!!$!!!!", f"{prefix}$c2FsdA$AAAA", f"{prefix}$$", f"{prefix}${salt}$"]:
        assert verifier.verify(bad, PASSWORD) in (None, False), bad


def test_verify_password_refuses_malformed_and_missing_hashes(app):
    good = passwords.hash_password(PASSWORD)
    assert passwords.verify_password(good, PASSWORD)
    assert not passwords.verify_password(good, "not the password")
    assert not passwords.verify_password(None, PASSWORD)
    assert not passwords.verify_password("", PASSWORD)
    for bad in ["garbage", good[:-10], good.replace("$argon2id$", "$argon2x$"), good.rsplit("$", 1)[0] + "$!!"]:
        assert passwords.verify_password(bad, PASSWORD) is False
    assert passwords.verify_password(good, "lone \ud800 surrogate") is False


def test_a_hash_with_older_parameters_signs_in_and_is_rehashed(app, client):
    old = PasswordHasher(time_cost=2, memory_cost=1024, parallelism=1).hash(PASSWORD)
    user = gen_user(password_hash=old)
    assert sign_in(client, user.email).status_code == 303
    db.session.refresh(user)
    assert user.password_hash != old
    assert "$m=1024,t=1,p=1$" in user.password_hash
    assert passwords.verify_password(user.password_hash, PASSWORD)


def test_without_callbacks_argon2_cffi_verifies(app, monkeypatch):
    """A host that forbids writable code cannot make the allocation callbacks: sign-in still works."""

    class NoCallbacks:
        def callback(self, *args, **kwargs):
            raise MemoryError("Cannot allocate write+execute memory for ffi.callback()")

    monkeypatch.setattr(passwords, "ffi", NoCallbacks())
    hasher = PasswordHasher(**PARAMS[0])
    verifier = Verifier(hasher)
    encoded = hasher.hash(PASSWORD)
    assert verifier.verify(encoded, PASSWORD) is None
    app.extensions["tfa_verifier"] = verifier
    good = passwords.hash_password(PASSWORD)
    assert passwords.verify_password(good, PASSWORD)
    assert not passwords.verify_password(good, "not the password")


def test_the_verifier_stays_off_where_the_library_would_leave_memory_unwiped(monkeypatch):
    monkeypatch.setattr(passwords, "_library_wipes_memory", lambda: False)
    hasher = PasswordHasher(**PARAMS[0])
    assert Verifier(hasher).verify(hasher.hash(PASSWORD), PASSWORD) is None
