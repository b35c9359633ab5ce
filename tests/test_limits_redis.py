"""Limits hold across processes: two app instances share their counters through Redis."""
import secrets

import pytest

from tests.conftest import REDIS_URL, build_app, gen_user, sign_in
from tfa.extensions import db

pytestmark = pytest.mark.skipif(not REDIS_URL, reason="Redis tests need REDIS_URL")


def test_sign_in_limit_is_shared_between_two_instances(tmp_path):
    prefix = f"test-{secrets.token_hex(4)}"
    uri = f"sqlite:///{tmp_path / 'shared.db'}"
    first = build_app(uri, REDIS_URL=REDIS_URL, LIMITS_KEY_PREFIX=prefix, LOGIN_LIMIT_PER_ACCOUNT="4/600")
    second = build_app(uri, REDIS_URL=REDIS_URL, LIMITS_KEY_PREFIX=prefix, LOGIN_LIMIT_PER_ACCOUNT="4/600")
    with first.app_context():
        db.create_all()
        user = gen_user()
        email = user.email
    a, b = first.test_client(), second.test_client()
    with first.app_context():
        assert sign_in(a, email, "wrong").status_code == 422
        assert sign_in(a, email, "wrong").status_code == 422
    with second.app_context():
        assert sign_in(b, email, "wrong").status_code == 422
        assert sign_in(b, email, "wrong").status_code == 422
        # The fifth attempt, on the other instance, is refused even with the right password.
        assert sign_in(b, email).status_code == 429
    with first.app_context():
        assert sign_in(a, email).status_code == 429


def test_without_redis_instances_count_separately(tmp_path):
    uri = f"sqlite:///{tmp_path / 'shared.db'}"
    first = build_app(uri, LOGIN_LIMIT_PER_ACCOUNT="2/600")
    second = build_app(uri, LOGIN_LIMIT_PER_ACCOUNT="2/600")
    with first.app_context():
        db.create_all()
        email = gen_user().email
        for _ in range(2):
            sign_in(first.test_client(), email, "wrong")
        assert sign_in(first.test_client(), email).status_code == 429
    with second.app_context():
        assert sign_in(second.test_client(), email).status_code == 303
