"""The service's metrics, exposed through prometheus-client, and a timing ledger proxy.

`Metrics` keeps one attribute per metric with small methods (`inc`, `set`, `observe`, `value`,
`count`) over a prometheus-client metric in the instance's own `CollectorRegistry`, beside the
standard process, platform and GC collectors; the library writes the exposition text (escaping, NaN,
+Inf). A metric declared without label names takes those of its first use. Values are per process
(the worker process serves its own /metrics when run alone with `--metrics-port`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import prometheus_client
from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.metrics_core import Metric

# The `_created` series (a timestamp per counter and histogram series) double the page for nothing
# an alert of ours reads.
prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]

DEFAULT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class _Metric:
    """One prometheus-client metric, created unregistered (its `Metrics` collects it) when its
    label names are known: at once when declared, else at first use."""

    _kind: type[MetricWrapperBase]

    def __init__(self, name: str, help_text: str, labels: Sequence[str] | None = None, **options: Any) -> None:
        self.name, self.help = name, help_text
        self._options = options
        self._labels: tuple[str, ...] | None = None
        self._metric: Any = None
        if labels is not None:
            self._create(tuple(sorted(labels)))

    def _create(self, names: tuple[str, ...]) -> None:
        self._labels = names
        self._metric = self._kind(self.name, self.help, names, registry=None, **self._options)

    def _child(self, labels: dict[str, str]) -> Any:
        names = tuple(sorted(labels))
        if self._labels is None:
            self._create(names)
        if names != self._labels:
            raise ValueError(f"{self.name}: labels {names}, declared {self._labels}")
        return self._metric.labels(**labels) if names else self._metric

    def collect(self) -> Iterable[Metric]:
        return self._metric.collect() if self._metric is not None else ()

    def _read(self, sample: str, labels: dict[str, str]) -> float:
        wanted = {k: str(v) for k, v in labels.items()}
        for family in self.collect():
            for s in family.samples:
                if s.name == sample and s.labels == wanted:
                    return float(s.value)
        return 0.0


class Counter(_Metric):
    _kind = prometheus_client.Counter

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        self._child(labels).inc(amount)

    def value(self, **labels: str) -> float:
        return self._read(self.name if self.name.endswith("_total") else f"{self.name}_total", labels)


class Gauge(_Metric):
    _kind = prometheus_client.Gauge

    def set(self, value: float, **labels: str) -> None:
        self._child(labels).set(value)

    def value(self, **labels: str) -> float:
        return self._read(self.name, labels)


class Histogram(_Metric):
    _kind = prometheus_client.Histogram

    def __init__(
        self,
        name: str,
        help_text: str,
        labels: Sequence[str] | None = None,
        buckets: tuple[float, ...] = DEFAULT_BUCKETS,
    ) -> None:
        super().__init__(name, help_text, labels, buckets=buckets)

    def observe(self, seconds: float, **labels: str) -> None:
        self._child(labels).observe(seconds)

    def count(self, **labels: str) -> int:
        return int(self._read(f"{self.name}_count", labels))

    def total(self, **labels: str) -> float:
        """The sum of the observed values (seconds) with these labels."""
        return self._read(f"{self.name}_sum", labels)


class _Collected:
    """The registry's view of a `Metrics`: every metric attribute, including ones added later."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterable[Metric]:
        for metric in self._metrics.all():
            yield from metric.collect()

    def describe(self) -> Iterable[Metric]:
        return ()


class Metrics:
    """Every metric the service exposes."""

    def __init__(self) -> None:
        self.webhooks_received = Counter(
            "drexfy_webhooks_received_total", "Verified webhooks accepted into the inbox", ("source",)
        )
        self.webhooks_duplicate = Counter(
            "drexfy_webhooks_duplicate_total", "Verified webhooks already in the inbox", ("source",)
        )
        self.webhooks_conflicting = Counter(
            "drexfy_webhooks_conflicting_total",
            "Verified webhooks reusing a stored event id with another content (a provider bug or a replay)",
            ("source",),
        )
        self.webhooks_ignored = Counter(
            "drexfy_webhooks_ignored_total", "Verified webhooks of event types we ignore", ("source",)
        )
        self.webhooks_rejected = Counter(
            "drexfy_webhooks_rejected_total", "Webhooks refused (bad signature, stale, malformed)", ("source", "reason")
        )
        self.inbox_depth = Gauge("drexfy_inbox_depth", "Inbox messages not yet processed (pending or running)", ())
        self.jobs = Gauge(
            "drexfy_jobs",
            "Queue messages by queue and state (pending, retrying, running, dead, parked, done)",
            ("queue", "status"),
        )
        self.jobs_processed = Counter(
            "drexfy_jobs_processed_total", "Messages the worker finished, by queue and outcome", ("queue", "outcome")
        )
        self.ledger_latency = Histogram(
            "drexfy_ledger_tx_seconds", "Ledger write latency by operation", ("operation", "outcome")
        )
        self.settlement_latency = Histogram(
            "drexfy_settlement_seconds", "From payment webhook accepted to order settled on the ledger", ()
        )
        self.ledger_drift = Gauge(
            "drexfy_ledger_drift_addresses",
            "Addresses whose units differ between the ledger and the store, by instrument, at the last reconciliation",
            ("instrument",),
        )
        self.reserved_without_order = Gauge(
            "drexfy_reserved_units_without_order",
            "Units an instrument counts as reserved minus those its open orders hold, at the last reconciliation",
            ("instrument",),
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
        self.http_requests = Counter(
            "drexfy_http_requests_total", "HTTP requests by route and status", ("method", "route", "status")
        )
        self.http_latency = Histogram("drexfy_http_request_seconds", "HTTP request latency by route", ("route",))
        self._request_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self.registry = CollectorRegistry(auto_describe=False)
        for collector in (ProcessCollector, PlatformCollector, GCCollector):
            collector(registry=self.registry)
        self.registry.register(_Collected(self))

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one HTTP request and its latency: the hot path of every request, so the series of
        each (method, route, status) are looked up once and reused."""
        children = self._request_children.get((method, route, status))
        if children is None:
            children = self._request_children[(method, route, status)] = (
                self.http_requests._child({"method": method, "route": route, "status": str(status)}),
                self.http_latency._child({"route": route}),
            )
        counted, timed = children
        counted.inc()
        timed.observe(seconds)

    def all(self) -> list[Counter | Gauge | Histogram]:
        return [v for v in vars(self).values() if isinstance(v, Counter | Gauge | Histogram)]

    def render(self) -> str:
        """The Prometheus text exposition of every metric and the process's."""
        return prometheus_client.generate_latest(self.registry).decode()


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
