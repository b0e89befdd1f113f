"""Rate limits per key (a token's id, a client address): in this process, or shared by every API
process on the store (`rate_limits.kind`, docs/http.md).

`TokenBuckets` (in process): hand-written because it is twenty lines and sits on every request: the
libraries for aiohttp either bring a Redis dependency or a whole middleware stack. A bucket holds
`burst` requests and refills at `per_second`; a refused request learns when one is available again
(`Retry-After`). Full, idle buckets are forgotten once the table grows, so memory stays bounded.

`SharedWindows` (on the store): a fixed-window counter per key, counted atomically by the store
(`AccessRecords.count_in_window`: one SQLite UPSERT, or one conditional DynamoDB UpdateItem), so
replicas share one count. A window lasts `burst / per_second` seconds (the time a bucket takes to
refill) and admits `burst` requests: the same sustained rate as the bucket; at a window's edge up to
twice `burst` may pass in a short span (the price of one write per request instead of a
read-modify-write). Keys are stored hashed (no client address in the database). If the store fails,
the request is let through (and logged): a limiter must not turn a store hiccup into refusals.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable
from typing import Protocol

from drexfy.domain.ports import AccessRecords
from drexfy.entrypoints.runtime.access import Bucket

log = logging.getLogger(__name__)

_MAX_KEYS = 50_000


class TokenBuckets:
    def __init__(self, bucket: Bucket, clock: Callable[[], float] = time.monotonic) -> None:
        self.bucket = bucket
        self._clock = clock
        #: key -> (tokens left, when they were counted)
        self._state: dict[str, tuple[float, float]] = {}

    def take(self, key: str) -> float:
        """Take one request for `key`: 0.0 if allowed, else the seconds until one is."""
        now = self._clock()
        burst, rate = float(self.bucket.burst), self.bucket.per_second
        tokens, then = self._state.get(key, (burst, now))
        tokens = min(burst, tokens + (now - then) * rate)
        if tokens >= 1.0:
            self._state[key] = (tokens - 1.0, now)
            if len(self._state) > _MAX_KEYS:
                self._forget_full(now)
            return 0.0
        self._state[key] = (tokens, now)
        return (1.0 - tokens) / rate

    async def acquire(self, key: str) -> float:
        return self.take(key)

    def _forget_full(self, now: float) -> None:
        burst, rate = float(self.bucket.burst), self.bucket.per_second
        full = [k for k, (t, then) in self._state.items() if t + (now - then) * rate >= burst]
        for key in full:
            del self._state[key]


def retry_after_seconds(wait: float) -> int:
    return max(1, math.ceil(wait))


class Limiter(Protocol):
    bucket: Bucket

    async def acquire(self, key: str) -> float:
        """Count one request for `key`: 0.0 if allowed, else the seconds until one is."""
        ...


class SharedWindows:
    def __init__(
        self, bucket: Bucket, name: str, access: AccessRecords, clock: Callable[[], float] = time.time
    ) -> None:
        self.bucket = bucket
        self.name = name
        self._access = access
        self._clock = clock  # wall clock: every replica must agree on the window numbers
        self._span = bucket.burst / bucket.per_second

    async def acquire(self, key: str) -> float:
        now = self._clock()
        window = math.floor(now / self._span)
        ends = (window + 1) * self._span
        counter = hashlib.sha256(f"{self.name}\x00{key}".encode()).hexdigest()[:32]
        try:
            if await self._access.count_in_window(counter, window, self.bucket.burst, ends):
                return 0.0
        except Exception as exc:
            log.warning("shared rate limit unavailable; request let through", extra={"error": type(exc).__name__})
            return 0.0
        return max(ends - now, 0.001)
