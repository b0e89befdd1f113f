"""Reading a /metrics page the way Prometheus does: prometheus-client's own parser."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of the page by (name, labels); parsing fails on a malformed page."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def sample(text: str, name: str, **labels: str) -> float | None:
    """One sample's value, or None when the page does not have it."""
    return samples(text).get((name, frozenset(labels.items())))


def families(text: str) -> dict[str, str]:
    """Metric family name -> type (counter families are named without `_total`)."""
    return {family.name: family.type for family in text_string_to_metric_families(text)}
