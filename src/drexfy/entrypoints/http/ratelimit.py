"""Token buckets per key (a token's id, a client address), in this process.

Hand-written because it is twenty lines and sits on every request: the libraries for aiohttp either
bring a Redis dependency or a whole middleware stack. A bucket holds `burst` requests and refills at
`per_second`; a refused request learns when one is available again (`Retry-After`). Full, idle
buckets are forgotten once the table grows, so memory stays bounded under many addresses.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from drexfy.entrypoints.runtime.access import Bucket

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

    def _forget_full(self, now: float) -> None:
        burst, rate = float(self.bucket.burst), self.bucket.per_second
        full = [k for k, (t, then) in self._state.items() if t + (now - then) * rate >= burst]
        for key in full:
            del self._state[key]


def retry_after_seconds(wait: float) -> int:
    return max(1, math.ceil(wait))
