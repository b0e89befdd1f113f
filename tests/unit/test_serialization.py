"""drexfy.adapters.serialization: exact round trips of every persisted domain type through JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import attrs
import pytest
from cattrs.errors import ClassValidationError
from hypothesis import given
from hypothesis import strategies as st

from drexfy.adapters import serialization as ser
from drexfy.domain import events as ev
from drexfy.domain.bounds import MAX_MINOR
from drexfy.domain.classification import Classification
from drexfy.domain.errors import InvalidAmount
from drexfy.domain.model import Investor, Order, Withdrawal
from drexfy.domain.money import MINOR_UNITS, Money
from drexfy.domain.ports import (
    IdempotentResponse,
    JournalEntry,
    JournalStatus,
    MessageStatus,
    QueuedMessage,
    StoredEvent,
)
from tests.contract import builders as b
from tests.contract.builders import T0


def through_json(obj: Any) -> Any:
    """to_dict, then real JSON text and back, then from_dict: what a store does."""
    return ser.from_dict(type(obj), json.loads(ser.dumps(ser.to_dict(obj))))


@pytest.mark.parametrize(
    "aggregate",
    [b.investor(), b.instrument(), b.order(), b.repayment(), b.withdrawal()],
    ids=lambda a: type(a).__name__,
)
def test_every_aggregate_round_trips_exactly_through_json(aggregate: Any) -> None:
    aggregate.version = 7
    back = through_json(aggregate)
    assert back == aggregate
    assert back.version == 7
    # every field compared, including those eq ignores (events is the only one, and is transient)
    for field in attrs.fields(type(aggregate)):
        if field.name != "events":
            assert getattr(back, field.name) == getattr(aggregate, field.name), field.name


def test_transient_events_are_neither_written_nor_read() -> None:
    investor = b.investor()
    investor.events.append(ev.KycStarted(investor.id, T0, "app"))
    data = ser.to_dict(investor)
    assert "events" not in data
    assert ser.from_dict(Investor, data).events == []


def test_value_types_have_readable_json_forms() -> None:
    data = ser.to_dict(b.instrument())
    assert data["unit_price"] == {"minor": 100_00, "currency": "EUR"}
    assert data["eligible"] == ["EU_ACCREDITED", "EU_NON_ACCREDITED"]  # names, sorted
    assert data["class_caps"] == {"EU_NON_ACCREDITED": {"minor": 10_000_00, "currency": "EUR"}}
    assert data["created_at"] == "2026-11-22T09:30:15.123456Z"
    order = ser.to_dict(b.order())
    assert order["tx_ids"] == ["0xaa", "0xbb"]
    assert order["steps"] == ["PAYMENT_CONFIRMED", "ELIGIBILITY_RECHECKED"]


def test_frozensets_dump_deterministically() -> None:
    one = b.instrument(eligible=frozenset({Classification.US_ACCREDITED, Classification.EU_ACCREDITED}))
    two = b.instrument(eligible=frozenset({Classification.EU_ACCREDITED, Classification.US_ACCREDITED}))
    assert ser.dumps(ser.to_dict(one)) == ser.dumps(ser.to_dict(two))


def test_port_records_round_trip() -> None:
    records = [
        QueuedMessage("m", "k", "kind", {"a": [1, None, {"b": "c"}]}, T0, MessageStatus.RUNNING, 3, T0, "err"),
        JournalEntry("op", "xrpl", "fp", JournalStatus.SUBMITTED, T0, "rAcc", 9, "HASH", "1200...", {"x": 1}, T0),
        IdempotentResponse("scope", "key", "hash", 201, {"id": "ord_1"}, T0),
        StoredEvent("evt_1", "OrderPaid", "ord_1", T0, {"payment_ref": "pi", "amount_minor": 5}),
    ]
    for record in records:
        assert through_json(record) == record


def _sample(annotation: Any) -> Any:
    """A non-default value of an event field's type."""
    if annotation in (str, "str"):
        return "v"
    if annotation in (int, "int"):
        return 42
    if annotation in (bool, "bool"):
        return True
    if annotation in ("str | None",):
        return "maybe"
    if annotation in ("tuple[str, ...]",):
        return ("t1", "t2")
    raise AssertionError(f"no sample for {annotation!r}")


def _all_event_classes() -> list[type[ev.DomainEvent]]:
    return [
        cls
        for cls in vars(ev).values()
        if isinstance(cls, type) and issubclass(cls, ev.DomainEvent) and cls is not ev.DomainEvent
    ]


@pytest.mark.parametrize("cls", _all_event_classes(), ids=lambda c: c.__name__)
def test_every_domain_event_round_trips(cls: type[ev.DomainEvent]) -> None:
    values = {f.name: _sample(f.type) for f in attrs.fields(cls) if f.name not in ("aggregate_id", "occurred_at")}
    event = cls("agg_1", T0, **values)
    dumped = ser.dump_event(event)
    assert dumped["name"] == cls.__name__
    assert ser.load_event(json.loads(ser.dumps(dumped))) == event
    stored = ser.stored_event("evt_1", event)
    assert stored.payload == event.payload()
    json.dumps(stored.payload)  # JSON-ready


def test_unknown_event_names_are_refused() -> None:
    with pytest.raises(KeyError):
        ser.load_event({"name": "NoSuchEvent", "aggregate_id": "a", "occurred_at": "2026-01-01T00:00:00Z"})


def test_outbox_message_carries_what_the_notifier_needs() -> None:
    event = ev.OrderSettled("ord_1", T0, "inv_1", "ins_1", 3, ("0x1",))
    msg = ser.outbox_message("evt_9", event, T0 + timedelta(seconds=1))
    assert (msg.key, msg.kind, msg.status, msg.created_at) == (
        "evt_9",
        "OrderSettled",
        MessageStatus.PENDING,
        T0 + timedelta(seconds=1),
    )
    assert msg.payload == {
        "event_id": "evt_9",
        "name": "OrderSettled",
        "aggregate_id": "ord_1",
        "occurred_at": "2026-11-22T09:30:15.123456Z",
        "payload": {"investor_id": "inv_1", "instrument_id": "ins_1", "units": 3, "tx_ids": ["0x1"]},
    }


# --- strictness ----------------------------------------------------------------------------------------


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        ser.format_timestamp(datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="timezone"):
        ser.parse_timestamp("2026-01-01T00:00:00")


def test_other_offsets_are_stored_as_the_same_instant_in_utc() -> None:
    plus_two = datetime(2026, 6, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    assert ser.format_timestamp(plus_two) == "2026-06-01T10:00:00.000000Z"
    assert ser.parse_timestamp(ser.format_timestamp(plus_two)) == plus_two


@pytest.mark.parametrize("bad", [1.5, 2.0, True, "100", Decimal("1.5"), Decimal("NaN")])
def test_amounts_are_never_rounded_or_coerced(bad: Any) -> None:
    with pytest.raises(ValueError, match="expected an integer"):
        ser.exact_int(bad)
    data = ser.to_dict(b.withdrawal())
    data["amount"] = {"minor": bad, "currency": "EUR"}
    with pytest.raises(ClassValidationError):
        ser.from_dict(Withdrawal, data)


def test_unsupported_currency_is_refused_on_load() -> None:
    data = ser.to_dict(b.withdrawal())
    data["amount"] = {"minor": 1, "currency": "XXX"}
    with pytest.raises(ClassValidationError) as caught:
        ser.from_dict(Withdrawal, data)
    assert caught.group_contains(InvalidAmount)


def test_integral_decimals_from_dynamodb_are_accepted_exactly() -> None:
    data = ser.to_dict(b.order())
    data["amount"] = {"minor": Decimal("30000"), "currency": "EUR"}
    data["units"] = Decimal("3")
    assert ser.from_dict(Order, data) == b.order()
    assert ser.exact_int(Decimal(10**30)) == 10**30


def test_nan_is_refused_in_json() -> None:
    with pytest.raises(ValueError):
        ser.dumps({"x": float("nan")})


# --- properties -------------------------------------------------------------------------------------------

aware = st.datetimes(min_value=datetime(1000, 1, 1), max_value=datetime(9998, 12, 31), timezones=st.just(UTC))


@given(aware, aware)
def test_timestamp_text_orders_like_the_instants(a: datetime, c: datetime) -> None:
    sa, sc = ser.format_timestamp(a), ser.format_timestamp(c)
    assert len(sa) == len(sc) == 27
    assert (sa < sc) == (a < c)
    assert ser.parse_timestamp(sa) == a


@given(st.integers(min_value=-MAX_MINOR, max_value=MAX_MINOR), st.sampled_from(sorted(MINOR_UNITS)))
def test_money_round_trips_at_any_size(minor: int, currency: str) -> None:
    order = b.order(amount=Money(minor, currency), paid_amount=None)
    assert through_json(order).amount == Money(minor, currency)


@given(st.lists(st.sampled_from([c for c in Classification if c is not Classification.SANCTIONED]), min_size=1))
def test_classification_sets_and_caps_round_trip(classes: list[Classification]) -> None:
    instrument = b.instrument(
        eligible=frozenset(classes),
        class_caps={c: Money(i + 1, "EUR") for i, c in enumerate(classes)},
    )
    assert through_json(instrument) == instrument


def test_sortable_ids_increase_strictly() -> None:
    ids = [ser.new_sortable_id("evt") for _ in range(5_000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert all(len(i) == len("evt_") + 26 for i in ids)


def test_domain_values_inside_payload_dicts_get_their_json_form() -> None:
    text = ser.dumps({"at": T0, "amount": Money(5, "EUR"), "cls": Classification.US_ACCREDITED})
    assert json.loads(text) == {
        "at": "2026-11-22T09:30:15.123456Z",
        "amount": {"minor": 5, "currency": "EUR"},
        "cls": "US_ACCREDITED",
    }
    with pytest.raises(TypeError, match="not JSON-ready"):
        ser.dumps({"x": object()})
