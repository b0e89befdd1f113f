"""JSON-ready dicts from domain objects and back, exactly. Shared by the SQLite and DynamoDB stores.

One cattrs converter knows the domain's value types:

- `Money` -> ``{"minor": 1250, "currency": "EUR"}`` (integers, never float);
- enums -> their *name* (``"EU_ACCREDITED"``, ``"PAID"``), so `Classification` (int-valued) reads
  the same as the string-valued enums and can key a JSON object;
- datetimes -> ISO 8601 UTC with microseconds and a ``Z`` (``2026-11-22T04:05:06.000007Z``): fixed
  width, so the strings sort as the instants do and stores can compare them as text. Naive
  datetimes are refused: the domain's clock is always aware;
- frozensets -> sorted lists (deterministic), tuples -> lists, ``dict[Classification, Money]`` ->
  an object keyed by class name;
- an aggregate's transient ``events`` list is never written (the store drains it into the event
  log); loading gives an empty list.

``from_dict(cls, to_dict(obj)) == obj`` for every aggregate, queued message, journal entry, stored
event, idempotent response and domain event (tests/unit/test_serialization.py).
"""

from __future__ import annotations

import enum
import json
import os
import secrets
import threading
import time
import typing
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from drexfy.domain import events as ev
from drexfy.domain.money import Money
from drexfy.domain.ports import MessageStatus, QueuedMessage, StoredEvent

T = TypeVar("T")

__all__ = [
    "converter",
    "dump_event",
    "dumps",
    "exact_int",
    "format_timestamp",
    "from_dict",
    "load_event",
    "loads",
    "new_sortable_id",
    "outbox_message",
    "parse_timestamp",
    "stored_event",
    "to_dict",
]


# --- timestamps ------------------------------------------------------------------------------------


def format_timestamp(value: datetime) -> str:
    """ISO 8601 in UTC, microseconds, ``Z``: fixed width, so text order is time order."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"refusing a naive datetime ({value.isoformat()}): use an aware UTC time")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_timestamp(text: str) -> datetime:
    """The inverse of `format_timestamp` (also accepts any ISO 8601 string with an offset)."""
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError(f"timestamp without a timezone: {text!r}")
    return value.astimezone(UTC)


def format_optional_timestamp(value: datetime | None) -> str | None:
    return None if value is None else format_timestamp(value)


def parse_optional_timestamp(value: str | None) -> datetime | None:
    return None if value is None else parse_timestamp(value)


def exact_int(value: Any) -> int:
    """An integer read back from JSON or DynamoDB (which returns `Decimal`): never truncated.

    Floats, booleans and non-integral decimals are refused rather than rounded.
    """
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise ValueError(f"expected an integer, got {type(value).__name__} {value!r}")
    if isinstance(value, Decimal):
        if not value.is_finite() or value != value.to_integral_value():
            raise ValueError(f"expected an integer, got {value!r}")
        return int(value)
    return value


def _exact_bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected a boolean, got {type(value).__name__} {value!r}")
    return value


# --- the converter -----------------------------------------------------------------------------------


def _has_events_field(cls: type) -> bool:
    return attrs.has(cls) and any(f.name == "events" for f in attrs.fields(cls))


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=False)

    conv.register_unstructure_hook(datetime, format_timestamp)
    conv.register_structure_hook(datetime, lambda value, _: parse_timestamp(value))

    conv.register_structure_hook(int, lambda value, _: exact_int(value))
    conv.register_structure_hook(bool, lambda value, _: _exact_bool(value))
    conv.register_unstructure_hook(Money, lambda m: {"minor": m.minor, "currency": m.currency})
    conv.register_structure_hook(Money, lambda d, _: Money(exact_int(d["minor"]), d["currency"]))

    conv.register_unstructure_hook_func(lambda t: isinstance(t, type) and issubclass(t, enum.Enum), lambda e: e.name)
    conv.register_structure_hook_func(
        lambda t: isinstance(t, type) and issubclass(t, enum.Enum),
        lambda value, t: value if isinstance(value, t) else t[value],
    )

    # Sets become sorted lists so two dumps of the same value are byte-identical.
    def _unstructure_set(value: frozenset[Any] | set[Any]) -> list[Any]:
        items = [conv.unstructure(v) for v in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))

    def _is_set(t: Any) -> bool:
        return t in (set, frozenset) or typing.get_origin(t) in (set, frozenset)

    conv.register_unstructure_hook_func(_is_set, _unstructure_set)

    # Aggregates: the transient `events` list is neither written nor expected back.
    def _unstructure_aggregate(cls: type) -> Any:
        return make_dict_unstructure_fn(cls, conv, events=override(omit=True))

    def _structure_aggregate(cls: type) -> Any:
        return make_dict_structure_fn(cls, conv, events=override(omit=True))

    conv.register_unstructure_hook_factory(_has_events_field, _unstructure_aggregate)
    conv.register_structure_hook_factory(_has_events_field, _structure_aggregate)
    return conv


#: The configured converter; use `to_dict` / `from_dict` unless you need cattrs itself.
converter = _make_converter()


def to_dict(obj: Any) -> dict[str, Any]:
    """A JSON-ready dict of an attrs object (aggregate, message, journal entry, ...)."""
    data = converter.unstructure(obj)
    if not isinstance(data, dict):
        raise TypeError(f"{type(obj).__name__} does not unstructure to a dict")
    return data


def from_dict(cls: type[T], data: Mapping[str, Any]) -> T:
    """Rebuild `cls` from `to_dict` output. Raises cattrs errors on malformed data."""
    return converter.structure(dict(data), cls)


# --- domain events -----------------------------------------------------------------------------------


def _event_classes() -> dict[str, type[ev.DomainEvent]]:
    found: dict[str, type[ev.DomainEvent]] = {}
    pending: list[type[ev.DomainEvent]] = [ev.DomainEvent]
    while pending:
        cls = pending.pop()
        for sub in cls.__subclasses__():
            found[sub.__name__] = sub
            pending.append(sub)
    return found


def dump_event(event: ev.DomainEvent) -> dict[str, Any]:
    """The event with its class name under ``"name"``, so `load_event` can rebuild it."""
    return {"name": event.name, **to_dict(event)}


def load_event(data: Mapping[str, Any]) -> ev.DomainEvent:
    """Rebuild a domain event from `dump_event` output; unknown names raise KeyError."""
    fields = dict(data)
    name = fields.pop("name")
    cls = _event_classes().get(name)
    if cls is None:
        raise KeyError(f"unknown domain event {name!r}")
    return from_dict(cls, fields)


def stored_event(event_id: str, event: ev.DomainEvent) -> StoredEvent:
    """The audit-trail form of an event: its own fields as a JSON-ready payload."""
    return StoredEvent(
        id=event_id,
        name=event.name,
        aggregate_id=event.aggregate_id,
        occurred_at=event.occurred_at,
        payload=event.payload(),
    )


def outbox_message(event_id: str, event: ev.DomainEvent, now: datetime) -> QueuedMessage:
    """The outbox message of a notify event. Its key is the event id, so it is queued once.

    The payload carries what `Notifier.notify(event_id, name, aggregate_id, payload)` needs.
    """
    return QueuedMessage(
        id=f"msg_{event_id}",
        key=event_id,
        kind=event.name,
        payload={
            "event_id": event_id,
            "name": event.name,
            "aggregate_id": event.aggregate_id,
            "occurred_at": format_timestamp(event.occurred_at),
            "payload": event.notice(),  # never an AML reason (no tipping-off)
        },
        created_at=now,
        status=MessageStatus.PENDING,
    )


# --- ids and JSON text ----------------------------------------------------------------------------------

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_id_lock = threading.Lock()
_id_last: list[int] = [0, 0]  # [millis, random80] of the previous id


def new_sortable_id(prefix: str) -> str:
    """A ULID-style id, ``<prefix>_<26 chars>``: time-ordered and, within a process, strictly
    increasing, so stores can page by id (keyset) in creation order."""
    with _id_lock:
        millis = time.time_ns() // 1_000_000
        if millis <= _id_last[0]:
            millis = _id_last[0]
            rand = _id_last[1] + 1
        else:
            rand = int.from_bytes(os.urandom(10), "big") >> 1  # room to increment
        _id_last[0], _id_last[1] = millis, rand
    value = (millis << 80) | (rand & ((1 << 80) - 1))
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return f"{prefix}_{''.join(reversed(chars))}"


def _json_default(value: Any) -> Any:
    # Domain values that reach a payload dict as they are (an event field holding a datetime, say)
    # get the same JSON form as in aggregates; anything else is a bug and stays a TypeError.
    if isinstance(value, datetime | Money | enum.Enum | set | frozenset):
        return converter.unstructure(value)
    raise TypeError(f"{type(value).__name__} is not JSON-ready")


def dumps(data: Any) -> str:
    """Compact, deterministic JSON; NaN and infinities refused (money is never float anyway)."""
    return json.dumps(
        data, separators=(",", ":"), sort_keys=True, ensure_ascii=False, allow_nan=False, default=_json_default
    )


def loads(text: str) -> Any:
    return json.loads(text)


def random_nonce_base() -> int:
    """Where a store's settlement nonces start (`OperationJournal.order_nonce`): a random multiple
    of 2^32 below 2^62 (fits SQLite's INTEGER), so two stores that share one Settlement contract do
    not hand out the same nonces, while one store's nonces stay consecutive (shared bitmap words)."""
    return (1 + secrets.randbelow((1 << 30) - 1)) << 32
