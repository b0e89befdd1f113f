"""A payment webhook whose amount no order can have ends the order in REFUND_DUE with the reason,
through the HTTP webhook and the worker: never a dead (or forever retried) job."""

from __future__ import annotations

from drexfy.adapters.webhooks import sandbox
from drexfy.domain.model import OrderStatus
from drexfy.domain.ports import MessageStatus


async def test_a_total_of_ten_to_the_thirty_ends_refund_due_and_the_job_is_done(api):
    investor_id = await api.active_investor("big@example.com")
    instrument_id = await api.open_instrument()
    order = await api.order(investor_id, instrument_id)
    body = sandbox.stripe_event("evt_big", "checkout.session.completed", order_id=order["id"], amount_minor=10**30)
    status, _ = await api.payment(body)
    assert status == 202
    await api.drain()
    [job] = [m for m in await api.svc.store.inbox.list() if m.key == "payments:evt_big"]
    assert job.status is MessageStatus.DONE, job.last_error
    async with api.svc.store.unit_of_work() as uow:
        owed = await uow.orders.get(order["id"])
    assert owed.status is OrderStatus.REFUND_DUE
    assert "more than any order can cost" in (owed.reason or "")
    assert owed.refund_ref == f"re_test_{order['id']}_0"  # the whole payment is on its way back
