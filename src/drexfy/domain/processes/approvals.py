"""Four-eyes: a sensitive action becomes a pending request that a second, different person approves.

A request names its kind (which action), subject (what it acts on), parameters, reason, requester
and expiry. Approvers of an allowed role list the pending ones and approve or reject them with a
reason. The requester can never decide their own request; an expired request can no longer be
approved. On approval the action runs exactly once: the approver first moves the request from
PENDING to EXECUTING by compare-and-set (of two concurrent approvals only one wins; the other gets
`ApprovalDecided`), then runs the action and records DONE with its result. If the action fails for a
transient reason (the ledger unreachable) the request stays EXECUTING with the error, and an approval
retried after `lease` runs it again (the actions are themselves safe to run again: an unblock
finishes an interrupted unblock). A permanent refusal (the investor is no longer blocked) is FAILED.

Adding an action kind is one `ApprovalAction` entry in the table the caller passes (see
`drexfy.entrypoints.approval_actions.ACTIONS`): the roles that may request and approve it and a
plain async function `run(services, subject, params, actor) -> result`.

The audit trail records the request (`ApprovalRequested`), each decision (`ApprovalGranted`,
`ApprovalRejected`, `ApprovalRetried`) as the person's who made it, with their reason, the kind and
the request's id; the action's own changes follow as entries of the approver.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import attrs

from drexfy.domain import audit
from drexfy.domain.bounds import check_text
from drexfy.domain.errors import Conflict, DomainError, IllegalTransition, NotFound, ValidationFailed
from drexfy.domain.ports import AccessRecord
from drexfy.domain.processes.audit import record_action
from drexfy.domain.processes.base import Services

KIND = "approval"


class ApprovalNotFound(NotFound):
    """No such approval request."""

    code = "approval-not-found"


class ApprovalDecided(Conflict):
    """The approval request has already been decided."""

    code = "approval-decided"


class ApprovalExpired(IllegalTransition):
    """The approval request has expired; request it again."""

    code = "approval-expired"


class ApprovalRefused(DomainError):
    """This person may not decide this request."""

    code = "approval-refused"


class ApprovalStatus(enum.Enum):
    PENDING = "PENDING"
    #: Approved; the action is running (or failed transiently and may be retried).
    EXECUTING = "EXECUTING"
    DONE = "DONE"
    REJECTED = "REJECTED"
    #: Approved, but the action was refused for good (e.g. the investor is no longer blocked).
    FAILED = "FAILED"
    EXPIRED = "EXPIRED"


@attrs.frozen
class Actor:
    """Who acts: a stable subject (an operator's id, a client's id) and the role they act in."""

    subject: str
    role: str


ActionRun = Callable[[Services, str, Mapping[str, Any], Actor], Awaitable[Mapping[str, Any]]]


@attrs.frozen
class ApprovalAction:
    """One kind of sensitive action: who may request it, who may approve it, what it does."""

    request_roles: frozenset[str]
    approve_roles: frozenset[str]
    #: `run(services, subject, params, approver)`: the action itself; returns a small JSON result.
    run: ActionRun
    summary: str = ""


@attrs.frozen
class Approval:
    id: str
    kind: str
    subject: str
    params: Mapping[str, Any]
    reason: str
    requested_by: str
    requested_role: str
    requested_at: datetime
    expires_at: datetime
    status: ApprovalStatus = ApprovalStatus.PENDING
    decided_by: str | None = None
    decided_role: str | None = None
    decision_reason: str | None = None
    decided_at: datetime | None = None
    result: Mapping[str, Any] | None = None
    error: str | None = None
    #: While EXECUTING: nobody else runs the action before this time.
    claimed_until: datetime | None = None
    version: int = 0

    def effective_status(self, now: datetime) -> ApprovalStatus:
        if self.status is ApprovalStatus.PENDING and now >= self.expires_at:
            return ApprovalStatus.EXPIRED
        return self.status


def _to_data(a: Approval) -> dict[str, Any]:
    def ts(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "id": a.id,
        "kind": a.kind,
        "subject": a.subject,
        "params": dict(a.params),
        "reason": a.reason,
        "requested_by": a.requested_by,
        "requested_role": a.requested_role,
        "requested_at": ts(a.requested_at),
        "expires_at": ts(a.expires_at),
        "status": a.status.value,
        "decided_by": a.decided_by,
        "decided_role": a.decided_role,
        "decision_reason": a.decision_reason,
        "decided_at": ts(a.decided_at),
        "result": dict(a.result) if a.result is not None else None,
        "error": a.error,
        "claimed_until": ts(a.claimed_until),
    }


def _from_record(record: AccessRecord) -> Approval:
    d = record.data

    def ts(value: Any) -> datetime | None:
        return datetime.fromisoformat(value) if value else None

    requested_at, expires_at = ts(d["requested_at"]), ts(d["expires_at"])
    assert requested_at is not None and expires_at is not None
    return Approval(
        id=d["id"],
        kind=d["kind"],
        subject=d["subject"],
        params=d["params"],
        reason=d["reason"],
        requested_by=d["requested_by"],
        requested_role=d["requested_role"],
        requested_at=requested_at,
        expires_at=expires_at,
        status=ApprovalStatus(d["status"]),
        decided_by=d["decided_by"],
        decided_role=d["decided_role"],
        decision_reason=d["decision_reason"],
        decided_at=ts(d["decided_at"]),
        result=d["result"],
        error=d["error"],
        claimed_until=ts(d["claimed_until"]),
        version=record.version,
    )


def _reason(text: str, what: str) -> str:
    check_text(text, what, max_length=1000, required=False)
    if not text.strip():
        raise ValidationFailed(f"{what} must not be empty")
    return text.strip()


async def request_approval(
    svc: Services,
    actions: Mapping[str, ApprovalAction],
    kind: str,
    subject: str,
    params: Mapping[str, Any],
    reason: str,
    requester: Actor,
    ttl: timedelta,
) -> Approval:
    """Record a pending request for `kind` on `subject`; nothing happens until someone else approves."""
    action = actions.get(kind)
    if action is None:
        raise ValidationFailed(f"unknown approval kind {kind!r}")
    if requester.role not in action.request_roles:
        raise ApprovalRefused(f"the {requester.role} role may not request {kind}")
    now = svc.clock.now()
    approval = Approval(
        id=svc.ids.new("apr"),
        kind=kind,
        subject=subject,
        params=dict(params),
        reason=_reason(reason, "reason"),
        requested_by=requester.subject,
        requested_role=requester.role,
        requested_at=now,
        expires_at=now + ttl,
    )
    if not await svc.store.access.create(KIND, approval.id, _to_data(approval)):
        raise Conflict("approval id collision; retry")
    await _audit(svc, "ApprovalRequested", approval, requester, approval.reason)
    return attrs.evolve(approval, version=1)


async def _audit(svc: Services, action: str, approval: Approval, actor: Actor, reason: str) -> None:
    """One audit entry for a request or a decision, as the person's who made it."""
    with audit.acting_as(audit.Actor(actor.subject, actor.role)):
        await record_action(svc, action, approval.subject, reason, {"approval_id": approval.id, "kind": approval.kind})


async def get_approval(svc: Services, approval_id: str) -> Approval:
    record = await svc.store.access.get(KIND, approval_id)
    if record is None:
        raise ApprovalNotFound("No such approval request.")
    return _from_record(record)


async def list_approvals(
    svc: Services, status: ApprovalStatus | None = None, after: str | None = None, limit: int = 100
) -> tuple[list[Approval], str | None]:
    """Requests in id order (ids grow with time), filtered by effective status; and the cursor of
    the next page (None at the end). A filtered page may be short."""
    records = await svc.store.access.list(KIND, after=after, limit=limit)
    now = svc.clock.now()
    items = [_from_record(r) for r in records]
    chosen = [a for a in items if status is None or a.effective_status(now) is status]
    return chosen, (records[-1].id if len(records) == limit else None)


def _check_decider(approval: Approval, action: ApprovalAction | None, actor: Actor) -> None:
    if actor.subject == approval.requested_by:
        raise ApprovalRefused("the requester cannot decide their own request; a second person must")
    if action is None or actor.role not in action.approve_roles:
        raise ApprovalRefused(f"the {actor.role} role may not decide {approval.kind} requests")


async def reject(
    svc: Services, actions: Mapping[str, ApprovalAction], approval_id: str, actor: Actor, reason: str
) -> Approval:
    """Reject a pending request, with a reason; it never takes effect."""
    why = _reason(reason, "reason")
    approval = await get_approval(svc, approval_id)
    _check_decider(approval, actions.get(approval.kind), actor)
    now = svc.clock.now()
    if approval.status is not ApprovalStatus.PENDING:
        raise ApprovalDecided(f"the request is {approval.status.value}")
    rejected = attrs.evolve(
        approval,
        status=ApprovalStatus.REJECTED,
        decided_by=actor.subject,
        decided_role=actor.role,
        decision_reason=why,
        decided_at=now,
    )
    if not await svc.store.access.replace(KIND, approval.id, _to_data(rejected), approval.version):
        raise ApprovalDecided("the request was decided meanwhile")
    await _audit(svc, "ApprovalRejected", approval, actor, why)
    return attrs.evolve(rejected, version=approval.version + 1)


async def approve(
    svc: Services,
    actions: Mapping[str, ApprovalAction],
    approval_id: str,
    actor: Actor,
    reason: str,
    lease: timedelta = timedelta(minutes=2),
) -> Approval:
    """Approve a pending request and run its action, exactly once (see the module's docstring).
    Approving an EXECUTING request whose lease ran out (a transient failure) runs it again."""
    why = _reason(reason, "reason")
    approval = await get_approval(svc, approval_id)
    action = actions.get(approval.kind)
    _check_decider(approval, action, actor)
    assert action is not None
    now = svc.clock.now()
    if approval.status is ApprovalStatus.PENDING:
        if now >= approval.expires_at:
            raise ApprovalExpired(f"the request expired at {approval.expires_at.isoformat()}")
        claimed = attrs.evolve(
            approval,
            status=ApprovalStatus.EXECUTING,
            decided_by=actor.subject,
            decided_role=actor.role,
            decision_reason=why,
            decided_at=now,
            claimed_until=now + lease,
        )
    elif approval.status is ApprovalStatus.EXECUTING and approval.claimed_until and now >= approval.claimed_until:
        claimed = attrs.evolve(approval, claimed_until=now + lease)  # retry after a transient failure
    else:
        raise ApprovalDecided(f"the request is {approval.status.value}")
    if not await svc.store.access.replace(KIND, approval.id, _to_data(claimed), approval.version):
        raise ApprovalDecided("the request was decided meanwhile")
    retried = approval.status is ApprovalStatus.EXECUTING
    await _audit(svc, "ApprovalRetried" if retried else "ApprovalGranted", approval, actor, why)
    claimed = attrs.evolve(claimed, version=approval.version + 1)
    try:
        result = await action.run(svc, approval.subject, approval.params, actor)
    except DomainError as error:
        transient = bool(getattr(error, "transient", False))
        finished = attrs.evolve(
            claimed,
            status=ApprovalStatus.EXECUTING if transient else ApprovalStatus.FAILED,
            error=f"{error.code}: {error.message}",
            claimed_until=now if transient else None,  # a retry may take it over at once
        )
        await svc.store.access.replace(KIND, approval.id, _to_data(finished), claimed.version)
        raise
    done = attrs.evolve(claimed, status=ApprovalStatus.DONE, result=dict(result), error=None, claimed_until=None)
    if not await svc.store.access.replace(KIND, approval.id, _to_data(done), claimed.version):
        raise Conflict("the approval record changed while its action ran")
    return attrs.evolve(done, version=claimed.version + 1)
