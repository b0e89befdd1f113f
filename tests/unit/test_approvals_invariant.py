"""Four-eyes invariants over random sequences of decisions (hypothesis): whatever people try, in
whatever order, with transient failures and the clock moving past the expiry, the action runs at
most once, never on the requester's own word, never after a rejection or the expiry; DONE means it
ran exactly once. The store is a dict fake of the AccessRecords port (compare-and-set on version)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from drexfy.domain.errors import DomainError, LedgerUnavailable
from drexfy.domain.ports import AccessRecord
from drexfy.domain.processes import approvals as ap

T0 = datetime(2026, 12, 2, tzinfo=UTC)


class DictAccess:
    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], AccessRecord] = {}

    async def get(self, kind: str, record_id: str) -> AccessRecord | None:
        row = self.rows.get((kind, record_id))
        await asyncio.sleep(0)  # a store round trip: others act before the answer arrives
        return row

    async def create(self, kind: str, record_id: str, data: Mapping[str, Any]) -> bool:
        if (kind, record_id) in self.rows:
            return False
        self.rows[(kind, record_id)] = AccessRecord(kind, record_id, 1, dict(data))
        return True

    async def replace(self, kind: str, record_id: str, data: Mapping[str, Any], version: int) -> bool:
        row = self.rows.get((kind, record_id))
        if row is None or row.version != version:
            return False
        self.rows[(kind, record_id)] = AccessRecord(kind, record_id, version + 1, dict(data))
        return True

    async def list(self, kind: str, after: str | None = None, limit: int = 100) -> list[AccessRecord]:
        rows = sorted((r for (k, _), r in self.rows.items() if k == kind and r.id > (after or "")), key=lambda r: r.id)
        return rows[:limit]


class ListAudit:
    """The audit log port, as a list: what each request and decision appended."""

    def __init__(self) -> None:
        self.records: list[Any] = []

    async def append(self, records: list[Any]) -> list[Any]:
        self.records.extend(records)
        return list(records)


@attrs.define
class Env:
    access: DictAccess = attrs.field(factory=DictAccess)
    audit: ListAudit = attrs.field(factory=ListAudit)
    at: datetime = T0
    n: int = 0

    @property
    def store(self) -> Any:
        return self

    @property
    def clock(self) -> Any:
        return self

    @property
    def ids(self) -> Any:
        return self

    def now(self) -> datetime:
        return self.at

    def new(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}_{self.n:04d}"


PEOPLE = ["requester", "p1", "p2", "p3"]
steps = st.lists(
    st.one_of(
        st.tuples(st.just("approve"), st.sampled_from(PEOPLE), st.booleans()),  # (verb, who, ledger down?)
        st.tuples(st.just("reject"), st.sampled_from(PEOPLE), st.just(False)),
        st.tuples(st.just("wait"), st.integers(min_value=1, max_value=90), st.just(False)),  # minutes
    ),
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(steps=steps, concurrent=st.integers(min_value=1, max_value=3))
def test_the_action_runs_at_most_once_and_only_on_a_second_persons_approval(steps: list[Any], concurrent: int) -> None:
    asyncio.run(_play(steps, concurrent))


async def _play(steps: list[Any], concurrent: int) -> None:
    env = Env()
    svc: Any = env  # Services-shaped enough: store.access, clock.now(), ids.new()
    runs: list[str] = []
    down = [False]

    async def act(svc_: Any, subject: str, params: Mapping[str, Any], approver: ap.Actor) -> Mapping[str, Any]:
        await asyncio.sleep(0)  # let concurrent approvals interleave
        if down[0]:
            raise LedgerUnavailable("node down")
        runs.append(approver.subject)
        return {"ok": True}

    role = frozenset({"compliance"})
    actions = {"k": ap.ApprovalAction(role, role, act)}
    request = await ap.request_approval(
        svc, actions, "k", "s", {}, "why", ap.Actor("requester", "compliance"), timedelta(hours=1)
    )
    rejected_at_some_point = False
    for verb, who, ledger_down in steps:
        if verb == "wait":
            env.at += timedelta(minutes=who)
            continue
        down[0] = ledger_down
        actor = ap.Actor(who, "compliance")
        if verb == "approve":
            attempts = [ap.approve(svc, actions, request.id, actor, "ok") for _ in range(concurrent)]
        else:
            attempts = [ap.reject(svc, actions, request.id, actor, "no")]
        results = await asyncio.gather(*attempts, return_exceptions=True)
        for result in results:
            assert isinstance(result, ap.Approval | DomainError), result
            if verb == "reject" and isinstance(result, ap.Approval):
                rejected_at_some_point = True
    final = await ap.get_approval(svc, request.id)
    assert len(runs) <= 1
    assert "requester" not in runs
    if runs:
        assert not rejected_at_some_point
        assert final.status is ap.ApprovalStatus.DONE and final.decided_by != "requester"
    if final.status is ap.ApprovalStatus.DONE:
        assert len(runs) == 1
    if final.status in (ap.ApprovalStatus.REJECTED, ap.ApprovalStatus.PENDING):
        assert runs == []
    # The audit trail: the request, then one decision per decision that took (granted once at most,
    # each as its decider's), never one by the requester.
    audited = [(r.action, r.actor) for r in env.audit.records]
    assert audited[0] == ("ApprovalRequested", "requester")
    assert [a for a, _ in audited].count("ApprovalGranted") <= 1
    assert all(actor != "requester" for _, actor in audited[1:])
    if runs:
        assert ("ApprovalGranted", final.decided_by) in audited
