"""Rate limits: in Redis shared by every process (through the `limits` library), or in memory.

Defends against guessing (passwords, codes) and against using tfa to flood a phone or an inbox.
Keys are hashed so that no email address or phone number is written to Redis.

Both count a moving window: at most `amount` attempts in any `seconds`. In memory, the counting is
done here (LocalLimits) rather than by `limits`' memory storage, which starts a thread on every call
and has it sweep every key it holds: with thousands of accounts that cost milliseconds of CPU per
sign-in attempt (measured by `make bench`).
"""
import hashlib
import math
import threading
import time
from collections import deque
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


class LocalLimits:
    """The same moving windows in this process's memory: a deque of attempt times per key."""

    SWEEP_SECONDS = 60  # how often keys whose attempts have all expired are dropped

    def __init__(self):
        self.attempts: dict[tuple, deque] = {}
        self.lock = threading.Lock()
        self.next_sweep = time.monotonic() + self.SWEEP_SECONDS

    def hit(self, name: str, key: str, amount: int, seconds: int) -> LimitResult:
        if amount <= 0:  # a limit of no attempts at all
            return LimitResult(False, max(1, seconds))
        now = time.monotonic()
        with self.lock:
            if now >= self.next_sweep:
                self._sweep(now)
            window = self.attempts.setdefault((name, key, amount, seconds), deque())
            while window and window[0] <= now - seconds:
                window.popleft()
            if len(window) >= amount:
                return LimitResult(False, max(1, math.ceil(window[0] + seconds - now)))
            window.append(now)
            return LimitResult(True, 0)

    def clear(self, name: str, key: str, amount: int, seconds: int) -> None:
        with self.lock:
            self.attempts.pop((name, key, amount, seconds), None)

    def _sweep(self, now: float) -> None:
        self.next_sweep = now + self.SWEEP_SECONDS
        for k in [k for k, window in self.attempts.items() if not window or window[-1] <= now - k[3]]:
            del self.attempts[k]


def init_app(app):
    uri = app.config.get("REDIS_URL")
    app.extensions["tfa_limits"] = RateLimits(uri, app.config["LIMITS_KEY_PREFIX"]) if uri else LocalLimits()


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
