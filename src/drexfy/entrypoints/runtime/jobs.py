"""Jobs the platform queues for its own worker (beside the providers' webhooks): today, a requested
repayment's snapshot of the holders and its ledger batches, which must not run inside an HTTP request."""

from __future__ import annotations

from drexfy.domain import processes as p
from drexfy.domain.audit import AUDIT_ACTOR
from drexfy.domain.ports import QueuedMessage
from drexfy.entrypoints.runtime import messages


def repayment_job_key(repayment_id: str) -> str:
    """The inbox key of a repayment's job: one job per repayment, found again by this key."""
    return f"repayment:{repayment_id}"


async def repayment_job(svc: p.Services, repayment_id: str) -> QueuedMessage | None:
    """The job paying a repayment, to show beside its progress (None for a repayment paid before
    repayments became jobs). A DEAD job is why a repayment stands still: `drexfy jobs retry` revives it."""
    return await svc.store.inbox.get_by_key(repayment_job_key(repayment_id))


async def queue_repayment(svc: p.Services, repayment_id: str) -> bool:
    """Queue the job that snapshots the repayment's holders and pays its batches. Once per repayment (the key deduplicates):
    False if it was queued before (pending, running, done, or dead: `drexfy jobs retry` revives it)."""
    job = p.PayRepayment(repayment_id)
    message = QueuedMessage(
        id=svc.ids.new("job"),
        key=repayment_job_key(repayment_id),
        kind=messages.REPAYMENT,
        payload={**messages.encode(messages.REPAYMENT, job), **messages.actor_fields(AUDIT_ACTOR.get())},
        created_at=svc.clock.now(),
    )
    return await svc.store.inbox.add(message)
