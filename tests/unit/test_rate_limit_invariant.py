"""The token bucket's promise over random arrivals (hypothesis): in any window of t seconds a key is
allowed at most burst + rate * t requests, and a refused request's wait is exactly when one is
allowed again."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from drexfy.entrypoints.http.ratelimit import TokenBuckets
from drexfy.entrypoints.runtime.access import Bucket


@settings(max_examples=200, deadline=None)
@given(
    burst=st.integers(min_value=1, max_value=20),
    rate=st.floats(min_value=0.1, max_value=50.0),
    gaps=st.lists(st.floats(min_value=0.0, max_value=2.0), min_size=1, max_size=200),
)
def test_no_window_allows_more_than_burst_plus_refill(burst: int, rate: float, gaps: list[float]) -> None:
    now = [0.0]
    buckets = TokenBuckets(Bucket(burst, rate), clock=lambda: now[0])
    allowed: list[float] = []
    for gap in gaps:
        now[0] += gap
        wait = buckets.take("k")
        if wait == 0.0:
            allowed.append(now[0])
        else:
            assert wait > 0
            # the wait is right: one request later than that passes, one much earlier does not
            probe = TokenBuckets(Bucket(burst, rate), clock=lambda: now[0])
            probe._state = dict(buckets._state)
            now[0] += wait * 0.5
            assert probe.take("k") > 0
            now[0] += wait * 0.5 + 1e-9
            assert probe.take("k") == 0.0
            now[0] -= wait + 1e-9
    for i, start in enumerate(allowed):
        for j in range(i, len(allowed)):
            window = allowed[j] - start
            assert j - i + 1 <= burst + rate * window + 1e-6
