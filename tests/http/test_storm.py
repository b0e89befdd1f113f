"""The delivery storm: 1,000 payment webhooks for 300 orders, with duplicates, shuffled and sent
concurrently while the worker runs. Exactly one settlement per paid order, and the ledger's
balances equal the store's. Runs on the in-memory ledger (the SQLite store, vault and the whole
HTTP path are real) to stay fast enough for `make test`."""

from __future__ import annotations

import asyncio
import random
from collections import Counter

from drexfy.adapters.webhooks import sandbox
from drexfy.domain.ports import MessageStatus
from drexfy.entrypoints.runtime.settings import WorkerSettings
from drexfy.entrypoints.worker import Worker

INVESTORS = 30
ORDERS_PER_INVESTOR = 10
UNIT_PRICE = 10_000
TOTAL_WEBHOOKS = 1_000


async def test_delivery_storm_settles_each_paid_order_exactly_once(api):
    rng = random.Random(20261122)
    instrument_id = await api.open_instrument("STORM", units=10_000, price_minor=UNIT_PRICE)
    investors = [await api.active_investor(f"storm{i}@example.com") for i in range(INVESTORS)]
    orders = []
    for investor_id in investors:
        for _ in range(ORDERS_PER_INVESTOR):
            orders.append(await api.order(investor_id, instrument_id, rng.randint(1, 5)))
    assert len(orders) == 300

    # Each order gets its provider events: most are paid (Stripe sends both the checkout and the
    # intent event for one payment), some fail. Redeliveries top the storm up to 1,000.
    events: list[bytes] = []
    paid: dict[str, dict] = {}
    failed: set[str] = set()
    for n, order in enumerate(orders):
        amount = order["amount"]["minor"]
        if n % 6 == 5:
            failed.add(order["id"])
            events.append(
                sandbox.stripe_event(
                    f"evt_fail_{n}", "payment_intent.payment_failed", order_id=order["id"], amount_minor=amount
                )
            )
        else:
            paid[order["id"]] = order
            events.append(
                sandbox.stripe_event(
                    f"evt_cs_{n}",
                    "checkout.session.completed",
                    order_id=order["id"],
                    amount_minor=amount,
                    payment_ref=f"pi_{n}",
                )
            )
            events.append(
                sandbox.stripe_event(
                    f"evt_pi_{n}",
                    "payment_intent.succeeded",
                    order_id=order["id"],
                    amount_minor=amount,
                    payment_ref=f"pi_{n}",
                )
            )
    distinct = len(events)
    deliveries = events + [rng.choice(events) for _ in range(TOTAL_WEBHOOKS - distinct)]
    rng.shuffle(deliveries)
    assert len(deliveries) == TOTAL_WEBHOOKS

    # Two workers compete for the inbox while the storm is sent, as two processes would.
    workers = [
        Worker(
            api.svc,
            api.notifier,
            WorkerSettings(
                batch_size=32, concurrency=8, base_delay=0.01, max_delay=0.05, poll_interval=0.01, max_attempts=20
            ),
            api.metrics,
        )
        for _ in range(2)
    ]
    tasks = [asyncio.create_task(w.run()) for w in workers]
    limit = asyncio.Semaphore(64)

    async def deliver(body: bytes) -> int:
        async with limit:
            status, _ = await api.payment(body)
            return status

    statuses = Counter(await asyncio.gather(*(deliver(b) for b in deliveries)))
    assert statuses == {202: distinct, 200: TOTAL_WEBHOOKS - distinct}

    for _ in range(600):
        counts = await api.svc.store.inbox.counts()
        if counts[MessageStatus.PENDING] == 0 and counts[MessageStatus.RUNNING] == 0:
            break
        await asyncio.sleep(0.05)
    for w in workers:
        w.stop()
    await asyncio.gather(*tasks)
    await api.drain()

    payment_jobs = [m for m in await api.svc.store.inbox.list(limit=10_000) if m.kind == "payment.event"]
    assert len(payment_jobs) == distinct
    assert {m.status for m in payment_jobs} == {MessageStatus.DONE}

    # Every order ended where its events lead, exactly once.
    settled_events = Counter()
    async with api.svc.store.unit_of_work() as uow:
        for order in orders:
            stored = await uow.orders.get(order["id"])
            expected = "SETTLED" if order["id"] in paid else "FAILED"
            assert stored.status.value == expected, (order["id"], stored.status, stored.reason)
        for order_id in paid:
            for event in await uow.events.list(aggregate_id=order_id):
                if event.name == "OrderSettled":
                    settled_events[order_id] += 1
        instrument = await uow.instruments.get(instrument_id)
        positions = {p.investor_id: p.units for p in await uow.positions.holders(instrument_id)}
        investors_by_address = {}
        for investor_id in investors:
            investor = await uow.investors.get(investor_id)
            investors_by_address[investor.wallet.address.lower()] = investor_id

    assert set(settled_events) == set(paid) and set(settled_events.values()) == {1}
    ledger = api.svc.ledger.inner
    settle_txs = [d for _, d in ledger.transactions if d.lower().startswith("settle")]
    assert len(settle_txs) == len(paid)

    # The ledger's balances equal the store's.
    units_paid = sum(o["units"] for o in paid.values())
    assert instrument.units_sold == units_paid
    assert instrument.units_reserved == 0
    on_ledger = {
        investors_by_address[a.lower()]: u
        for a, u in (await ledger.holders(instrument.ledger_ref)).items()
        if u and a.lower() in investors_by_address
    }
    assert on_ledger == positions
    assert sum(positions.values()) == units_paid
    expected_by_investor = Counter()
    for o in paid.values():
        expected_by_investor[o["investor_id"]] += o["units"]
    assert positions == dict(expected_by_investor)
    # fiat received 1:1 became stablecoin that moved to the issuer: the issuer holds every paid amount
    issuer_balance = (await ledger.stablecoin_balance(ledger.issuer)).minor
    assert issuer_balance == sum(o["amount"]["minor"] for o in paid.values())
    # Latency is observed by the event that settled the order; two workers racing on the two events
    # of one payment may both see it settle, so the metric may count such an order twice (never less).
    assert len(paid) <= api.metrics.settlement_latency.count() <= 2 * len(paid)
