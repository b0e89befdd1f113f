"""The /metrics text stays parseable whatever the values: label values with newlines, quotes and
backslashes are escaped, and a NaN or infinite gauge renders as the format spells it (issue 15)."""

from __future__ import annotations

from drexfy.entrypoints.runtime.metrics import Metrics


def test_label_values_are_escaped_and_odd_numbers_spelled_as_the_format_does() -> None:
    metrics = Metrics()
    metrics.ledger_drift.set(2, instrument='a"b\\c\nd')
    metrics.ledger_head_age.set(float("nan"))
    metrics.ledger_up.set(float("inf"))
    text = metrics.render()
    assert 'drexfy_ledger_drift_addresses{instrument="a\\"b\\\\c\\nd"} 2' in text
    assert "drexfy_ledger_head_age_seconds NaN" in text
    assert "drexfy_ledger_up +Inf" in text
    for line in text.splitlines():
        assert line.startswith(("#", "drexfy_")), line  # no sample broken over two lines
