"""A small Prometheus text-format registry (counters, gauges, histograms) and a timing ledger proxy.

Hand-rolled because the needs are small and the exposition format is simple; values are per process
(the worker process serves its own /metrics when run alone only through the serve command).
"""

from __future__ import annotations

import bisect
import math
import time
from collections.abc import Callable, Iterable
from typing import Any

LabelKey = tuple[tuple[str, str], ...]

DEFAULT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


def _labels(labels: dict[str, str]) -> LabelKey:
    return tuple(sorted(labels.items()))


def _fmt_labels(key: LabelKey, extra: tuple[tuple[str, str], ...] = ()) -> str:
    items = key + extra
    if not items:
        return ""
    escaped = (f'{k}="{_escape(str(v))}"' for k, v in items)
    return "{" + ",".join(escaped) + "}"


def _escape(value: str) -> str:
    """A label value as the text format requires: backslash, double quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _num(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value):
        return str(int(value))
    return repr(float(value))


class Counter:
    def __init__(self, name: str, help_text: str) -> None:
        self.name, self.help = name, help_text
        self.values: dict[LabelKey, float] = {}

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        self.inc_key(_labels(labels), amount)

    def inc_key(self, key: LabelKey, amount: float = 1.0) -> None:
        """`inc` with labels already made into a key (for hot paths that cache their keys)."""
        self.values[key] = self.values.get(key, 0.0) + amount

    def value(self, **labels: str) -> float:
        return self.values.get(_labels(labels), 0.0)

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} counter"
        for key, value in sorted(self.values.items()):
            yield f"{self.name}{_fmt_labels(key)} {_num(value)}"


class Gauge:
    def __init__(self, name: str, help_text: str) -> None:
        self.name, self.help = name, help_text
        self.values: dict[LabelKey, float] = {}

    def set(self, value: float, **labels: str) -> None:
        self.values[_labels(labels)] = value

    def value(self, **labels: str) -> float:
        return self.values.get(_labels(labels), 0.0)

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} gauge"
        for key, value in sorted(self.values.items()):
            yield f"{self.name}{_fmt_labels(key)} {_num(value)}"


class Histogram:
    def __init__(self, name: str, help_text: str, buckets: tuple[float, ...] = DEFAULT_BUCKETS) -> None:
        self.name, self.help, self.buckets = name, help_text, buckets
        self.series: dict[LabelKey, tuple[list[int], list[float]]] = {}

    def observe(self, seconds: float, **labels: str) -> None:
        self.observe_key(_labels(labels), seconds)

    def observe_key(self, key: LabelKey, seconds: float) -> None:
        counts, sums = self.series.get(key) or self.series.setdefault(key, ([0] * (len(self.buckets) + 1), [0.0, 0.0]))
        counts[bisect.bisect_left(self.buckets, seconds)] += 1
        sums[0] += seconds
        sums[1] += 1

    def count(self, **labels: str) -> int:
        series = self.series.get(_labels(labels))
        return int(series[1][1]) if series else 0

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} histogram"
        for key, (counts, (total, n)) in sorted(self.series.items()):
            running = 0
            for bound, c in zip(self.buckets, counts, strict=False):
                running += c
                yield f"{self.name}_bucket{_fmt_labels(key, (('le', _num(bound)),))} {running}"
            yield f"{self.name}_bucket{_fmt_labels(key, (('le', '+Inf'),))} {int(n)}"
            yield f"{self.name}_sum{_fmt_labels(key)} {total!r}"
            yield f"{self.name}_count{_fmt_labels(key)} {int(n)}"


class Metrics:
    """Every metric the service exposes."""

    def __init__(self) -> None:
        self.webhooks_received = Counter("drexfy_webhooks_received_total", "Verified webhooks accepted into the inbox")
        self.webhooks_duplicate = Counter("drexfy_webhooks_duplicate_total", "Verified webhooks already in the inbox")
        self.webhooks_conflicting = Counter(
            "drexfy_webhooks_conflicting_total",
            "Verified webhooks reusing a stored event id with another content (a provider bug or a replay)",
        )
        self.webhooks_ignored = Counter("drexfy_webhooks_ignored_total", "Verified webhooks of event types we ignore")
        self.webhooks_rejected = Counter(
            "drexfy_webhooks_rejected_total", "Webhooks refused (bad signature, stale, malformed)"
        )
        self.inbox_depth = Gauge("drexfy_inbox_depth", "Inbox messages not yet processed (pending or running)")
        self.jobs = Gauge(
            "drexfy_jobs", "Queue messages by queue and state (pending, retrying, running, dead, parked, done)"
        )
        self.jobs_processed = Counter(
            "drexfy_jobs_processed_total", "Messages the worker finished, by queue and outcome"
        )
        self.ledger_latency = Histogram("drexfy_ledger_tx_seconds", "Ledger write latency by operation")
        self.settlement_latency = Histogram(
            "drexfy_settlement_seconds", "From payment webhook accepted to order settled on the ledger"
        )
        self.ledger_drift = Gauge(
            "drexfy_ledger_drift_addresses",
            "Addresses whose units differ between the ledger and the store, by instrument, at the last reconciliation",
        )
        self.reserved_without_order = Gauge(
            "drexfy_reserved_units_without_order",
            "Units an instrument counts as reserved minus those its open orders hold, at the last reconciliation",
        )
        self.reconciled_at = Gauge(
            "drexfy_reconciliation_timestamp_seconds", "When the last reconciliation of ledger and store finished"
        )
        self.ledger_up = Gauge("drexfy_ledger_up", "1 if the ledger node answered the last health read, else 0")
        self.ledger_head_age = Gauge(
            "drexfy_ledger_head_age_seconds", "Seconds since the newest block (EVM) or validated ledger (XRPL)"
        )
        self.ledger_unconfirmed = Gauge(
            "drexfy_ledger_unconfirmed_transactions", "Journalled platform transactions not final on the ledger yet"
        )
        self.ledger_oldest_unconfirmed = Gauge(
            "drexfy_ledger_oldest_unconfirmed_seconds", "Age of the oldest unconfirmed platform transaction (0: none)"
        )
        self.relayer_nonce_gap = Gauge(
            "drexfy_relayer_nonce_gap", "Nonces or sequences the platform claimed that the chain has not seen used yet"
        )
        self.relayer_unsigned_claims = Gauge(
            "drexfy_relayer_unsigned_claims", "Claimed nonces whose operation has not signed (the keeper fills them)"
        )
        self.orders_paid_unsettled = Gauge(
            "drexfy_orders_paid_unsettled", "Orders paid by the customer and not settled on the ledger yet"
        )
        self.orders_paid_unsettled_oldest = Gauge(
            "drexfy_orders_paid_unsettled_oldest_seconds",
            "How long the oldest paid, unsettled order has waited (0: none)",
        )
        self.http_requests = Counter("drexfy_http_requests_total", "HTTP requests by route and status")
        self.http_latency = Histogram("drexfy_http_request_seconds", "HTTP request latency by route")
        self._request_keys: dict[tuple[str, str, int], tuple[LabelKey, LabelKey]] = {}

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one HTTP request and its latency: the hot path of every request, so the label keys
        of each (method, route, status) are built once and reused."""
        keys = self._request_keys.get((method, route, status))
        if keys is None:
            keys = self._request_keys[(method, route, status)] = (
                _labels({"method": method, "route": route, "status": str(status)}),
                _labels({"route": route}),
            )
        counted, timed = keys
        self.http_requests.inc_key(counted)
        self.http_latency.observe_key(timed, seconds)

    def all(self) -> list[Counter | Gauge | Histogram]:
        return [v for v in vars(self).values() if isinstance(v, Counter | Gauge | Histogram)]

    def render(self) -> str:
        lines: list[str] = []
        for metric in self.all():
            lines.extend(metric.render())
        return "\n".join(lines) + "\n"


#: Ledger methods that write (and are timed).
LEDGER_WRITES = frozenset(
    {
        "activate_wallet",
        "record_classification",
        "issue_instrument",
        "settle_purchase",
        "distribute",
        "set_frozen",
        "burn_stablecoin",
    }
)


class TimedLedger:
    """Wraps a Ledger and records the latency of every write in `drexfy_ledger_tx_seconds`."""

    def __init__(self, inner: Any, histogram: Histogram) -> None:
        self._inner = inner
        self._histogram = histogram

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name not in LEDGER_WRITES:
            return attr
        return self._timed(name, attr)

    def _timed(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        async def call(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            outcome = "error"
            try:
                result = await method(*args, **kwargs)
                outcome = "ok"
                return result
            finally:
                self._histogram.observe(time.perf_counter() - started, operation=name, outcome=outcome)

        return call

    @property
    def inner(self) -> Any:
        return self._inner


async def refresh_settlement_gauges(services: Any, metrics: Metrics) -> None:
    """The ledger's progress and the settlement backlog, read at scrape time: a node that stopped
    producing blocks, a relayer nonce nobody sends, or customers who paid and hold nothing show
    here whichever process is scraped."""
    from drexfy.domain.errors import DomainError
    from drexfy.domain.processes import queries

    try:
        health = await services.ledger.health()
    except DomainError:
        metrics.ledger_up.set(0)
    else:
        metrics.ledger_up.set(1)
        metrics.ledger_head_age.set(health.head_age_s or 0.0)
        metrics.ledger_unconfirmed.set(health.unconfirmed)
        metrics.ledger_oldest_unconfirmed.set(health.oldest_unconfirmed_s or 0.0)
        metrics.relayer_nonce_gap.set(health.sequence_gap)
        metrics.relayer_unsigned_claims.set(health.unsigned_claims)
    backlog = await queries.settlement_backlog(services)
    metrics.orders_paid_unsettled.set(backlog.paid_unsettled)
    oldest = backlog.oldest_paid_at
    metrics.orders_paid_unsettled_oldest.set(
        0.0 if oldest is None else max(0.0, (services.clock.now() - oldest).total_seconds())
    )
