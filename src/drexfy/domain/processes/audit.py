"""The audit trail's processes: check the chain, record an action that changed no aggregate, read
pages for the API and the CLI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from drexfy.domain.audit import AuditEntry, AuditFilter, AuditRecord, ChainProblem, verify_chain
from drexfy.domain.ports import Store
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


async def record_action(svc: Services, action: str, subject: str, reason: str, detail: dict[str, Any]) -> AuditEntry:
    """Append an operator or machine action that changed no aggregate (a job put back in its queue),
    as the current actor's."""
    record = AuditRecord.of_action(action, subject, reason, svc.clock.now(), detail)
    (entry,) = await svc.store.audit.append([record])
    return entry


async def audit_page(
    store: Store, where: AuditFilter, *, after: int = 0, limit: int = 100
) -> tuple[list[AuditEntry], int | None]:
    return await store.audit.list(where, after=after, limit=limit)
