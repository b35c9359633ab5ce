"""Rate limits over the `limits` library: in memory, or in Redis shared by every process.

Defends against guessing (passwords, codes) and against using tfa to flood a phone or an inbox.
Keys are hashed so that no email address or phone number is written to Redis.
"""
import hashlib
import math
import time
from dataclasses import dataclass

from flask import current_app
from limits import RateLimitItemPerSecond
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter


@dataclass(frozen=True)
class LimitResult:
    allowed: bool
    retry_after: int  # seconds until another attempt is allowed (0 when allowed)


class RateLimits:
    def __init__(self, uri: str, prefix: str):
        self.storage = storage_from_string(uri)
        self.limiter = MovingWindowRateLimiter(self.storage)
        self.prefix = prefix

    def _key(self, name: str, key: str) -> str:
        return hashlib.sha256(f"{self.prefix}:{name}:{key}".encode()).hexdigest()[:40]

    def hit(self, name: str, key: str, amount: int, seconds: int) -> LimitResult:
        """Count one attempt; refused once `amount` attempts fall within `seconds`."""
        item = RateLimitItemPerSecond(amount, seconds)
        k = self._key(name, key)
        if self.limiter.hit(item, k):
            return LimitResult(True, 0)
        stats = self.limiter.get_window_stats(item, k)
        return LimitResult(False, max(1, math.ceil(stats.reset_time - time.time())))

    def clear(self, name: str, key: str, amount: int, seconds: int) -> None:
        self.limiter.clear(RateLimitItemPerSecond(amount, seconds), self._key(name, key))


def init_app(app):
    uri = app.config.get("REDIS_URL") or "memory://"
    app.extensions["tfa_limits"] = RateLimits(uri, app.config["LIMITS_KEY_PREFIX"])


def hit(name: str, key: str, amount: int, seconds: int) -> LimitResult:
    """Count an attempt against the named limit (see RateLimits.hit)."""
    return current_app.extensions["tfa_limits"].hit(name, key, amount, seconds)


def clear(name: str, key: str, amount: int, seconds: int) -> None:
    """Forget the attempts counted against a limit."""
    current_app.extensions["tfa_limits"].clear(name, key, amount, seconds)


def parse(spec: str) -> tuple[int, int]:
    """'N/S' (N attempts per S seconds) as (N, S)."""
    amount, seconds = spec.split("/", 1)
    return int(amount), int(seconds)
