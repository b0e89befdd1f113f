"""The audit trail's processes: check the chain, record an action that changed no aggregate, read
pages for the API and the CLI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from drexfy.domain.audit import AuditEntry, AuditFilter, AuditRecord, ChainProblem, verify_chain
from drexfy.domain.ports import AuditAnchor, Store
from drexfy.domain.processes.base import Services

#: Entries read per query while walking the whole log.
_WALK_PAGE = 1000


async def all_entries(store: Store) -> AsyncIterator[AuditEntry]:
    """Every entry in seq order (storage order)."""
    after = 0
    while True:
        entries, following = await store.audit.list(None, after=after, limit=_WALK_PAGE)
        for entry in entries:
            yield entry
        if following is None:
            return
        after = following


async def verify_audit(store: Store) -> tuple[int, ChainProblem | None]:
    """How many entries were read, and the first tampering found (None: the chain is intact)."""
    entries = [e async for e in all_entries(store)]
    return len(entries), verify_chain(entries, await store.audit.head())


async def verify_audit_with_anchors(svc: Services) -> tuple[int, int, ChainProblem | None]:
    """`verify_audit`, then every anchor against the ledger: (entries, anchors checked, problem)."""
    entries = [e async for e in all_entries(svc.store)]
    problem = verify_chain(entries, await svc.store.audit.head())
    if problem is not None:
        return len(entries), 0, problem
    checked, problem = await verify_anchors(svc, entries)
    return len(entries), checked, problem


async def record_action(svc: Services, action: str, subject: str, reason: str, detail: dict[str, Any]) -> AuditEntry:
    """Append an operator or machine action that changed no aggregate (a job put back in its queue),
    as the current actor's."""
    return await append_action(svc.store, svc.clock.now(), action, subject, reason, detail)


async def append_action(
    store: Store, at: datetime, action: str, subject: str, reason: str, detail: dict[str, Any]
) -> AuditEntry:
    """`record_action` for callers that hold only the store (the operator and token commands)."""
    (entry,) = await store.audit.append([AuditRecord.of_action(action, subject, reason, at, detail)])
    return entry


async def audit_page(
    store: Store, where: AuditFilter, *, after: int = 0, limit: int = 100
) -> tuple[list[AuditEntry], int | None]:
    return await store.audit.list(where, after=after, limit=limit)


# -- anchors ----------------------------------------------------------------------------------------

#: The action of the entry that records an anchor: subject = the ledger transaction, reason = "<seq>:<head>".
ANCHORED = "AuditHeadAnchored"


async def _anchor_entries(store: Store) -> list[AuditEntry]:
    found: list[AuditEntry] = []
    after: int | None = 0
    while after is not None:
        page, after = await store.audit.list(AuditFilter(action=ANCHORED), after=after, limit=_WALK_PAGE)
        found.extend(page)
    return found


async def anchor_audit(svc: Services) -> AuditAnchor | None:
    """Publish the log's head on the ledger and record the anchor as an entry; None when nothing was
    appended since the last anchor (its own entry aside). Safe to run again after a crash: the
    operation id is the head's seq, so the ledger sends one transaction per head."""
    head = await svc.store.audit.head()
    if head.seq == 0:
        return None
    anchors = await _anchor_entries(svc.store)
    if anchors and anchors[-1].seq == head.seq:
        return None  # the last entry is the last anchor's own record
    result = await svc.ledger.anchor_audit_head(f"audit-anchor:{head.seq}", head.seq, head.hash)
    if not result.tx_ids:
        return None
    tx_id = result.tx_ids[-1]
    detail = {"seq": head.seq, "head": head.hash, "tx_id": tx_id}
    record = AuditRecord.of_action(ANCHORED, tx_id, f"{head.seq}:{head.hash}", svc.clock.now(), detail)
    await svc.store.audit.append([record])
    return AuditAnchor(head.seq, head.hash, tx_id)


async def verify_anchors(svc: Services, entries: list[AuditEntry]) -> tuple[int, ChainProblem | None]:
    """Check the log against the anchors the *ledger* lists (`Ledger.published_audit_anchors`), not the ones the
    log names: a database operator who rewrites the chain consistently and drops its anchor entries
    still leaves the anchors on chain. Every anchor on the ledger must match the log's entry at its
    seq (else the log was rewritten, or truncated, after it was anchored), and every anchor entry in
    the log must name an anchor on the ledger (else it was forged or the ledger lost it). Returns how
    many ledger anchors matched and the first problem."""
    by_seq = {e.seq: e for e in entries}
    on_chain = await svc.ledger.published_audit_anchors()
    checked = 0
    for anchor in on_chain:
        logged = by_seq.get(anchor.seq)
        if logged is None:
            return checked, ChainProblem(
                "anchor", anchor.seq, f"entry {anchor.seq}, anchored on the ledger in {anchor.tx_id}, is missing"
            )
        if logged.hash != anchor.head_hash.lower():
            return checked, ChainProblem(
                "anchor", anchor.seq, f"entry {anchor.seq} differs from the head anchored in {anchor.tx_id}"
            )
        checked += 1
    published = {(_tx_key(a.tx_id), a.seq, a.head_hash.lower()) for a in on_chain}
    for entry in entries:
        if entry.action != ANCHORED:
            continue
        seq, _, head = entry.reason.partition(":")
        if (_tx_key(entry.subject), int(seq) if seq.isdigit() else -1, head.lower()) not in published:
            return checked, ChainProblem(
                "anchor", entry.seq, f"the anchor recorded in entry {entry.seq} ({entry.subject}) is not on the ledger"
            )
    return checked, None


def _tx_key(tx_id: str) -> str:
    """Transaction ids as the ledgers spell them differently (0x-prefixed or not, either case)."""
    text = tx_id.lower()
    return text[2:] if text.startswith("0x") else text
