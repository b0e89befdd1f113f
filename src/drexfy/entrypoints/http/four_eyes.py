"""Four-eyes at the API: a sensitive request becomes a pending approval (202) when configured so."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from drexfy.domain.processes import approvals as ap
from drexfy.domain.processes.approvals import Actor, Approval
from drexfy.entrypoints.approval_actions import ACTIONS
from drexfy.entrypoints.http.auth import Principal

if TYPE_CHECKING:
    from drexfy.entrypoints.http.api import Call, Reply


def actor_of(principal: Principal) -> Actor:
    return Actor(principal.subject, principal.role.value)


def approval_view(a: Approval, now: Any) -> dict[str, Any]:
    def ts(value: Any) -> str | None:
        return value.isoformat() if value else None

    return {
        "id": a.id,
        "kind": a.kind,
        "subject": a.subject,
        "params": {k: v for k, v in a.params.items() if k != "requested_by"},
        "reason": a.reason,
        "status": a.effective_status(now).value,
        "requested_by": a.requested_by,
        "requested_role": a.requested_role,
        "requested_at": ts(a.requested_at),
        "expires_at": ts(a.expires_at),
        "decided_by": a.decided_by,
        "decided_role": a.decided_role,
        "decision_reason": a.decision_reason,
        "decided_at": ts(a.decided_at),
        "result": dict(a.result) if a.result is not None else None,
        "error": a.error,
    }


async def needs_approval(call: Call, kind: str, subject: str, params: dict[str, Any], reason: str) -> Reply | None:
    """If `kind` needs a second person here, record the request and answer 202 with it; else None
    (the caller acts at once)."""
    access = call.state.settings.access
    if kind not in access.approvals_required:
        return None
    approval = await ap.request_approval(
        call.svc,
        ACTIONS,
        kind,
        subject,
        {**params, "requested_by": call.principal.subject},
        reason,
        actor_of(call.principal),
        timedelta(seconds=access.approval_ttl_s),
    )
    return 202, approval_view(approval, call.svc.clock.now())
