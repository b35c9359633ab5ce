"""Limits and counters hold across processes: two OS processes, one database, one Redis."""
import multiprocessing
import secrets

import pytest

from tests.conftest import REDIS_URL, gen_user
from tests.factories import enable_platform, gen_totp
from tfa.extensions import db
from tfa.models import User

pytestmark = pytest.mark.skipif(not REDIS_URL, reason="Redis tests need REDIS_URL")


def _attempts(database_uri, redis_url, prefix, email, code, count, results):
    """In a fresh process: sign in with the password, then submit `code` `count` times."""
    from tests.conftest import build_app, csrf_token, sign_in

    app = build_app(database_uri, REDIS_URL=redis_url, LIMITS_KEY_PREFIX=prefix)
    with app.app_context():
        client = app.test_client()
        sign_in(client, email)
        statuses = []
        for _ in range(count):
            token = csrf_token(client.get("/login/verify"))
            statuses.append(client.post("/login/verify", data={"csrf_token": token, "code": code}).status_code)
        results.put(statuses)


def _run_in_process(*args):
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    process = ctx.Process(target=_attempts, args=(*args, results))
    process.start()
    statuses = results.get(timeout=60)
    process.join(30)
    assert process.exitcode == 0
    return statuses


def test_check_rate_limit_holds_across_two_processes(app):
    enable_platform(check_limit_enabled=True, check_limit_attempts=3, check_limit_seconds=900, max_failures=0)
    user = gen_user()
    totp = gen_totp(user)
    wrong = "000000" if totp.now() != "000000" else "111111"
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    prefix = f"test-{secrets.token_hex(4)}"
    first = _run_in_process(uri, REDIS_URL, prefix, user.email, wrong, 2)
    second = _run_in_process(uri, REDIS_URL, prefix, user.email, wrong, 2)
    assert first == [422, 422]
    assert second == [422, 429]
    # Refused checks are not failures: only the three checked codes counted.
    db.session.expire_all()
    assert db.session.get(User, user.id).failed_verifications == 3


def test_lockout_count_is_shared_across_processes(app):
    enable_platform(max_failures=3)
    user = gen_user()
    totp = gen_totp(user)
    wrong = "000000" if totp.now() != "000000" else "111111"
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    prefix = f"test-{secrets.token_hex(4)}"
    assert _run_in_process(uri, REDIS_URL, prefix, user.email, wrong, 2) == [422, 422]
    # The third failure, in another process after a fresh correct password, locks the account.
    assert _run_in_process(uri, REDIS_URL, prefix, user.email, wrong, 1) == [303]
    db.session.expire_all()
    assert db.session.get(User, user.id).is_locked
