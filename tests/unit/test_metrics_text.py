"""The /metrics text stays parseable whatever the values: label values with newlines, quotes and
backslashes are escaped, and a NaN or infinite gauge renders as the format spells it (issue 15).
Read back with prometheus-client's parser, as Prometheus would."""

from __future__ import annotations

import math

import pytest
from prometheus_client.parser import text_string_to_metric_families

from drexfy.entrypoints.runtime.metrics import Counter, Metrics
from tests.support.metrics import families, sample, samples

ODD = 'a"b\\c\nd}{,=é'


def test_label_values_are_escaped_and_odd_numbers_spelled_as_the_format_does() -> None:
    metrics = Metrics()
    metrics.ledger_drift.set(2, instrument=ODD)
    metrics.ledger_head_age.set(float("nan"))
    metrics.ledger_up.set(float("inf"))
    metrics.webhooks_rejected.inc(source="payments\nx", reason="signature")
    text = metrics.render()
    assert sample(text, "drexfy_ledger_drift_addresses", instrument=ODD) == 2
    assert math.isnan(sample(text, "drexfy_ledger_head_age_seconds") or 0.0)
    assert sample(text, "drexfy_ledger_up") == math.inf
    assert sample(text, "drexfy_webhooks_rejected_total", reason="signature", source="payments\nx") == 1
    for line in text.splitlines():
        assert line.startswith(("#", "drexfy_", "process_", "python_")), line  # no sample broken over two lines


def test_the_facade_reads_back_what_it_counted_and_the_page_has_the_process_metrics() -> None:
    metrics = Metrics()
    metrics.jobs_processed.inc(queue="inbox", outcome="done")
    metrics.jobs_processed.inc(2, queue="inbox", outcome="done")
    metrics.settlement_latency.observe(0.3)
    metrics.observe_request("GET", "/api/v1/orders/{id}", 200, 0.004)
    metrics.observe_request("GET", "/api/v1/orders/{id}", 200, 0.006)
    assert metrics.jobs_processed.value(queue="inbox", outcome="done") == 3
    assert metrics.jobs_processed.value(queue="inbox", outcome="dead") == 0
    assert metrics.settlement_latency.count() == 1
    text = metrics.render()
    got = samples(text)
    assert (
        got[
            (
                "drexfy_http_requests_total",
                frozenset({"method": "GET", "route": "/api/v1/orders/{id}", "status": "200"}.items()),
            )
        ]
        == 2
    )
    assert sample(text, "drexfy_http_request_seconds_bucket", route="/api/v1/orders/{id}", le="0.005") == 1
    assert families(text)["process_cpu_seconds"] == "counter"
    assert "python_info" in families(text)
    assert not any(name.endswith("_created") for name, _ in got)  # no timestamp series per counter


def test_a_metric_declared_without_labels_takes_those_of_its_first_use() -> None:
    """Metrics added as `Counter(name, help)` (the facade's form before label names were declared)
    still work; a later call with other label names is a programming error, refused."""
    metrics = Metrics()
    metrics.added = Counter("drexfy_added_total", "A metric another change adds")  # type: ignore[attr-defined]
    metrics.added.inc(kind="x")  # type: ignore[attr-defined]
    assert sample(metrics.render(), "drexfy_added_total", kind="x") == 1
    with pytest.raises(ValueError, match="labels"):
        metrics.added.inc(other="y")  # type: ignore[attr-defined]


def test_two_facades_do_not_share_values() -> None:
    first, second = Metrics(), Metrics()
    first.webhooks_received.inc(source="kyc")
    assert second.webhooks_received.value(source="kyc") == 0
    assert list(text_string_to_metric_families(second.render()))
