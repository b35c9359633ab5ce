"""The rate limiter's moving window, in memory and in Redis: the same answers to the same attempts."""
import secrets

import pytest
from freezegun import freeze_time

from tests.conftest import REDIS_URL
from tfa.limits import LocalLimits, RateLimits


def backends():
    yield "memory", LocalLimits()
    if REDIS_URL:
        yield "redis", RateLimits(REDIS_URL, f"test-{secrets.token_hex(4)}")


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_moving_window_allows_amount_per_window_then_tells_when(kind):
    limiter = dict(backends()).get(kind)
    if limiter is None:
        pytest.skip("Redis tests need REDIS_URL")
    with freeze_time("2026-12-04 10:00:00", tick=False) as clock:
        assert [limiter.hit("login", "a@example.com", 3, 60).allowed for _ in range(3)] == [True] * 3
        refused = limiter.hit("login", "a@example.com", 3, 60)
        assert not refused.allowed and 55 <= refused.retry_after <= 60
        # Other keys and other limits count apart.
        assert limiter.hit("login", "b@example.com", 3, 60).allowed
        assert limiter.hit("code-check", "a@example.com", 3, 60).allowed
        clock.tick(30)
        assert not limiter.hit("login", "a@example.com", 3, 60).allowed
        clock.tick(31)  # a moving window: the first attempts have left it, so there is room again
        assert limiter.hit("login", "a@example.com", 3, 60).allowed
        limiter.clear("login", "a@example.com", 3, 60)
        assert [limiter.hit("login", "a@example.com", 3, 60).allowed for _ in range(3)] == [True] * 3


def test_memory_window_forgets_idle_keys():
    limiter = LocalLimits()
    with freeze_time("2026-12-04 10:00:00", tick=False) as clock:
        for n in range(1000):
            limiter.hit("login", f"user{n}@example.com", 5, 60)
        assert len(limiter.attempts) == 1000
        clock.tick(LocalLimits.SWEEP_SECONDS + 61)
        limiter.hit("login", "late@example.com", 5, 60)
        assert list(limiter.attempts) == [("login", "late@example.com", 5, 60)]


def test_a_limit_of_no_attempts_refuses_without_error():
    result = LocalLimits().hit("send-user", "1", 0, 3600)
    assert not result.allowed and result.retry_after == 3600
