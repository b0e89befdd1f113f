"""Sequence holes on the XRP Ledger, and how they are closed.

An operation takes its Sequence from the journal (`allocate_sequence`) before it signs and journals
its transaction. A process that dies between the two leaves a claimed number that nothing sends,
and rippled holds every later transaction of that account (`terPRE_SEQ`) until the number is used:
one crash stalls the account. The operation's own retry would use the number, but it may never come
(the order became ineligible, the job was dead-lettered, nobody restarts it).

So the keeper closes the hole itself, as the EVM keeper does for an unsigned nonce:
- A *hole* is a number between the account's next sequence on the ledger and the lowest sequence of
  its unfinished journalled transactions that no journal entry holds. Only claims without an entry
  can leave one (a refused transaction's number is filled by the submitter at once).
- A hole seen for `grace_s` across keeper passes is spent on a journalled no-op `AccountSet`
  (`gap_id`), signed with the key of the account's waiting transactions (they name it), so
  investors' own accounts are covered as well as the platform's.
- The operation that held the claim, if it ever runs again, finds its number used on the ledger
  before it journalled anything and claims a new one (`reclaim_id`). If it was only slow, and
  journalled a transaction with the number after the keeper did, at most one of the two applies:
  when the no-op is the one in a validated ledger, the operation re-signs with a new number
  (`Submitter._replace`), never twice, because a sequence is used once.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from drexfy.domain.ports import JournalEntry, JournalStatus

log = logging.getLogger(__name__)

#: At most this many numbers are filled per account and keeper pass (a run-away claim loop must not
#: turn the keeper into one).
MAX_FILLS_PER_PASS = 20


def gap_id(account: str, sequence: int) -> str:
    """The journal id of the keeper's no-op for `sequence` of `account` (one per number, ever)."""
    return f"gap:{account}:{sequence}"


def reclaim_id(op_id: str, sequence: int) -> str:
    """The claim under which `op_id` asks for a new number after `sequence` was used by a no-op.
    Deterministic, so two processes re-claiming for the same operation get the same number."""
    return f"{op_id}@{sequence}"


def holes(account: str, chain_next: int, unfinished: list[JournalEntry]) -> list[int]:
    """Numbers of `account` below its lowest waiting transaction that no journal entry holds."""
    mine = [e.sequence for e in unfinished if e.account == account and e.sequence is not None]
    if not mine:
        return []
    held = set(mine)
    return [n for n in range(chain_next, min(mine)) if n not in held][:MAX_FILLS_PER_PASS]


class HoleKeeper:
    """Remembers when each hole was first seen, and fills those older than the grace period."""

    def __init__(self, grace_s: float) -> None:
        self.grace_s = grace_s
        self._seen: dict[tuple[str, int], datetime] = {}

    async def pass_(
        self,
        unfinished: list[JournalEntry],
        chain_next: Callable[[str], Awaitable[int]],
        fill: Callable[[str, JournalEntry, int], Awaitable[None]],
        now: datetime | None = None,
    ) -> int:
        """One pass over the accounts with waiting transactions; returns the holes still open.
        `fill(gap id, a waiting entry of the account (its signer), number)` spends a number."""
        now = now or datetime.now(UTC)
        waiting = [e for e in unfinished if e.payload is not None and e.account and e.sequence is not None]
        current: set[tuple[str, int]] = set()
        for account in sorted({str(e.account) for e in waiting}):
            found = holes(account, await chain_next(account), waiting)
            if not found:
                continue
            signer_of = min((e for e in waiting if e.account == account), key=lambda e: e.sequence or 0)
            for number in found:
                key = (account, number)
                current.add(key)
                first = self._seen.setdefault(key, now)
                if (now - first).total_seconds() >= self.grace_s:
                    log.warning(
                        "sequence %s of %s was claimed and never sent; filling it with a no-op", number, account
                    )
                    await fill(gap_id(account, number), signer_of, number)
        for key in [k for k in self._seen if k not in current]:
            del self._seen[key]
        return len(current)


def filled_by_keeper(entry: JournalEntry | None, sequence: int) -> bool:
    """Whether `entry` (the journal's `gap_id` entry) is the keeper's no-op for `sequence`."""
    return (
        entry is not None
        and entry.sequence == sequence
        and entry.status is not JournalStatus.FAILED
        and entry.tx_id is not None
    )
