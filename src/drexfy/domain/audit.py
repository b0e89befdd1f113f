"""The audit trail: one append-only, hash-chained log of every state change and operator action.

Each entry names who (actor and role), what (action, subject, reason, a digest of the change), when,
and under which request, and carries the SHA-256 of the previous entry, so editing, removing,
inserting or reordering an entry breaks the chain where it happened (`verify_chain`). The stores
append entries in the same transaction as the change they record; the chain head can be anchored on
the ledger, which catches even a rewrite of the whole chain from some entry on.

Entries hold ids, codes and reasons only: personal data (names, e-mails) never enters the log.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import attrs

from drexfy.domain.events import DomainEvent

#: The `prev_hash` of the first entry.
GENESIS = "0" * 64


@attrs.frozen
class Actor:
    """Who acts: a person's or client's id (`principal.subject`) and role, or a system actor
    (`worker`, `webhook:<provider>`, `cli`)."""

    subject: str
    role: str


SYSTEM = Actor("system", "system")
WORKER = Actor("worker", "system")
CLI = Actor("cli", "operator")


def webhook_actor(provider: str) -> Actor:
    return Actor(f"webhook:{provider}", "system")


#: Who the current task acts for; the HTTP edge, the worker and the CLI set it.
AUDIT_ACTOR: ContextVar[Actor] = ContextVar("drexfy_audit_actor", default=SYSTEM)
#: The request (or job) the current task serves; "" when none.
AUDIT_REQUEST: ContextVar[str] = ContextVar("drexfy_audit_request", default="")


AuditContext = tuple[Actor, str]


def current_context() -> AuditContext:
    """The actor and request id changes are recorded under now."""
    return AUDIT_ACTOR.get(), AUDIT_REQUEST.get()


@contextmanager
def acting_as(actor: Actor, request_id: str | None = None) -> Iterator[None]:
    """Record every change made inside the block as `actor`'s (under `request_id` if given)."""
    token = AUDIT_ACTOR.set(actor)
    request_token = AUDIT_REQUEST.set(request_id) if request_id is not None else None
    try:
        yield
    finally:
        AUDIT_ACTOR.reset(token)
        if request_token is not None:
            AUDIT_REQUEST.reset(request_token)


def canonical(data: dict[str, Any]) -> bytes:
    """The canonical encoding hashed: JSON with sorted keys, no whitespace, UTF-8. For the strings,
    integers, booleans and lists entries and event payloads hold this is RFC 8785 (JCS) output, so
    the standard library does the job."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def event_digest(event: DomainEvent) -> str:
    """The digest of a change: SHA-256 over the event's canonical encoding (the event itself, which
    may hold addresses or amounts, stays in the event log; the audit entry holds only this)."""
    return sha256_hex(
        canonical(
            {
                "name": event.name,
                "aggregate_id": event.aggregate_id,
                "occurred_at": event.occurred_at.isoformat(),
                "payload": event.payload(),
            }
        )
    )


def _reason_of(event: DomainEvent) -> str:
    reason = getattr(event, "reason", None)
    if isinstance(reason, str):
        return reason
    reasons = getattr(event, "reasons", None)
    if isinstance(reasons, tuple):
        return "; ".join(str(r) for r in reasons)
    return ""


@attrs.frozen
class AuditRecord:
    """An entry before it has a place in the chain."""

    actor: str
    role: str
    action: str
    subject: str
    reason: str
    request_id: str
    at: datetime
    #: The event row the entry stands for ("" for an action that changed no aggregate).
    ref: str
    digest: str

    @classmethod
    def of_event(cls, event: DomainEvent, event_id: str, at: datetime, context: AuditContext) -> AuditRecord:
        """The entry for a persisted event (`context`: `current_context()` where the change was made;
        store threads do not see the caller's context variables)."""
        actor, request_id = context
        return cls(
            actor=actor.subject,
            role=actor.role,
            action=event.name,
            subject=event.aggregate_id,
            reason=_reason_of(event),
            request_id=request_id,
            at=at,
            ref=event_id,
            digest=event_digest(event),
        )

    @classmethod
    def of_action(cls, action: str, subject: str, reason: str, at: datetime, detail: dict[str, Any]) -> AuditRecord:
        """The entry for an operator or machine action that changed no aggregate (a job retried)."""
        actor = AUDIT_ACTOR.get()
        return cls(
            actor=actor.subject,
            role=actor.role,
            action=action,
            subject=subject,
            reason=reason,
            request_id=AUDIT_REQUEST.get(),
            at=at,
            ref="",
            digest=sha256_hex(canonical({"action": action, "subject": subject, "detail": detail})),
        )


@attrs.frozen
class AuditHead:
    """The last entry's sequence number and hash (seq 0 and GENESIS for an empty log)."""

    seq: int = 0
    hash: str = GENESIS


@attrs.frozen
class AuditEntry:
    seq: int
    actor: str
    role: str
    action: str
    subject: str
    reason: str
    request_id: str
    at: datetime
    ref: str
    digest: str
    prev_hash: str
    hash: str

    def body(self) -> dict[str, Any]:
        """Every field but `hash`: what the hash covers."""
        return {
            "seq": self.seq,
            "actor": self.actor,
            "role": self.role,
            "action": self.action,
            "subject": self.subject,
            "reason": self.reason,
            "request_id": self.request_id,
            "at": format_at(self.at),
            "ref": self.ref,
            "digest": self.digest,
            "prev_hash": self.prev_hash,
        }

    def computed_hash(self, seq: int | None = None) -> str:
        body = self.body()
        if seq is not None:
            body["seq"] = seq
        return sha256_hex(canonical(body))


def format_at(at: datetime) -> str:
    """Times are hashed as ISO 8601 in UTC with microseconds, so a store's round trip keeps the hash."""
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def chain(records: Iterable[AuditRecord], head: AuditHead) -> list[AuditEntry]:
    """Place `records` after `head`: numbered and linked."""
    out: list[AuditEntry] = []
    seq, prev = head.seq, head.hash
    for record in records:
        seq += 1
        draft = AuditEntry(seq=seq, prev_hash=prev, hash="", **attrs.asdict(record, recurse=False))
        entry = attrs.evolve(draft, hash=draft.computed_hash())
        out.append(entry)
        prev = entry.hash
    return out


@attrs.frozen
class AuditFilter:
    actor: str | None = None
    action: str | None = None
    subject: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def matches(self, entry: AuditEntry) -> bool:
        return (
            (self.actor is None or entry.actor == self.actor)
            and (self.action is None or entry.action == self.action)
            and (self.subject is None or entry.subject == self.subject)
            and (self.since is None or entry.at >= self.since)
            and (self.until is None or entry.at < self.until)
        )


@attrs.frozen
class ChainProblem:
    """The first place the log differs from what was appended.

    kind: `edited` (an entry's fields no longer match its hash), `removed` (an entry is missing),
    `inserted` (an entry that was never appended sits before `seq`), `reordered` (an entry stands at
    another entry's place), or `anchor` (an anchored head does not match the log)."""

    kind: str
    seq: int
    detail: str


def verify_chain(entries: Iterable[AuditEntry], head: AuditHead | None = None) -> ChainProblem | None:
    """Walk the log in storage order (by seq) and report the first tampering, or None.

    Each entry is checked against its own hash and linked to its predecessor. When that fails, the
    entry's `prev_hash` says where it was appended: after the entry two places back (one was
    inserted in between), after a later entry (reordered), after an entry no longer in the log
    (removed); otherwise its fields were edited. `head`, the store's record of the last entry,
    catches entries removed from the end. Holds the log in memory (a reordered entry is recognised
    by a later entry's hash); `drexfy audit verify` is an offline check.
    """
    pending = list(entries)
    seen: set[str] = set()
    hashes: list[str] = []
    expected, prev = 1, GENESIS
    later = {e.hash: i for i, e in enumerate(pending)}
    for position, entry in enumerate(pending):
        if entry.seq > expected and entry.prev_hash not in seen and entry.computed_hash() == entry.hash:
            return ChainProblem("removed", expected, f"entry {expected} is missing (the next one is {entry.seq})")
        if entry.seq < expected:
            kind = "reordered" if entry.computed_hash() == entry.hash else "inserted"
            return ChainProblem(kind, entry.seq, f"entry {entry.seq} appears after entry {expected - 1}")
        self_ok = entry.computed_hash() == entry.hash
        if self_ok and entry.prev_hash == prev:
            seen.add(entry.hash)
            hashes.append(entry.hash)
            expected, prev = entry.seq + 1, entry.hash
            continue
        if (
            position >= 2
            and entry.prev_hash == hashes[position - 2]
            and entry.computed_hash(entry.seq - 1) == entry.hash
        ):
            return ChainProblem(
                "inserted",
                entry.seq - 1,
                f"entry {entry.seq - 1} was not appended where it stands (its successor links past it)",
            )
        if entry.prev_hash in later and later[entry.prev_hash] > position:
            return ChainProblem("reordered", entry.seq, f"entry {entry.seq} holds an entry appended after a later one")
        if entry.prev_hash != prev and entry.prev_hash not in seen and entry.prev_hash not in later:
            return ChainProblem("removed", entry.seq, f"the entry before {entry.seq} is no longer in the log")
        return ChainProblem("edited", entry.seq, f"entry {entry.seq} does not match its hash")
    if head is not None and head.seq > expected - 1:
        return ChainProblem("removed", expected, f"the log ends at {expected - 1} but its head says {head.seq}")
    if head is not None and head.seq == expected - 1 and head.hash != prev:
        return ChainProblem("edited", head.seq, f"entry {head.seq} does not match the recorded head")
    return None
