"""Processes resume after a crash or an outage at every step, and never act twice.

The memory ledger plays a node that goes away (`fail_next`) or a process that dies right after the
ledger took effect (`crash_after_effect`); the store is the real SQLite store.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

from drexfy.adapters.local_vault import LocalVault
from drexfy.adapters.memory import MemoryLedger, SimulatedCrash
from drexfy.adapters.sandbox import SandboxKyc, SandboxPayments
from drexfy.adapters.sqlite import SqliteStore, open_sqlite_store
from drexfy.adapters.system import UuidIds
from drexfy.domain import processes as p
from drexfy.domain.classification import Classification
from drexfy.domain.errors import LedgerUnavailable, ProviderError, SettlementInProgress
from drexfy.domain.model import AllocationStatus, InvestorKind, KycStatus, OrderStatus, RepaymentStatus
from drexfy.domain.provider_events import AmlAlert, KycResult, PaymentEvent, PaymentEventKind
from tests.support.scenarios import buy, eur, instrument, onboard, pay


class Clock:
    def now(self) -> datetime:
        return datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def make_services(tmp_path: Path, store: SqliteStore, clock: Any, **settings: Any) -> p.Services:
    """Services over a real SQLite store, the memory ledger and the sandbox providers."""
    return p.Services(
        store=store,
        ledger=MemoryLedger(),
        vault=LocalVault(tmp_path / "keys", bytes(32)),
        kyc=SandboxKyc(),
        payments=SandboxPayments(),
        clock=clock,
        ids=UuidIds(),
        settings=p.ProcessSettings(**settings),
    )


@pytest.fixture
async def svc(tmp_path: Path):
    store = await open_sqlite_store(tmp_path / "store.sqlite")
    yield make_services(tmp_path, store, Clock(), distribution_batch_size=2)
    await store.close()


async def test_onboarding_resumes_after_the_ledger_was_unreachable(svc: p.Services) -> None:
    investor = await p.register_investor(
        svc, p.RegisterInvestor("Ana", "ana@example.com", "DE", InvestorKind.INDIVIDUAL)
    )
    session = await p.start_kyc(svc, investor.id)
    result = KycResult(session.applicant_id, approved=True, verified_country="DE")
    svc.ledger.fail_next()  # the activation fails: node unreachable
    with pytest.raises(LedgerUnavailable):
        await p.handle_kyc_result(svc, result)
    async with svc.store.unit_of_work() as uow:
        half = await uow.investors.get(investor.id)
    assert half.kyc_status is KycStatus.PENDING_KYC and half.wallet is not None and not half.wallet_activated
    done = await p.handle_kyc_result(svc, result)  # the worker's retry
    assert done.kyc_status is KycStatus.ACTIVE and done.wallet == half.wallet  # same wallet, not a second
    assert done.classification_seq == 1


async def test_a_crash_after_the_classification_took_effect_does_not_classify_twice(svc: p.Services) -> None:
    investor = await p.register_investor(svc, p.RegisterInvestor("Bo", "bo@example.com", "DE", InvestorKind.INDIVIDUAL))
    session = await p.start_kyc(svc, investor.id)
    result = KycResult(session.applicant_id, approved=True, verified_country="DE")
    svc.ledger.crash_after_effect("classify:")
    with pytest.raises(SimulatedCrash):
        await p.handle_kyc_result(svc, result)
    before = len(svc.ledger.transactions)
    done = await p.handle_kyc_result(svc, result)
    assert done.kyc_status is KycStatus.ACTIVE
    assert len(svc.ledger.transactions) == before  # the retry hit the same operation id


async def test_settlement_crash_then_retry_delivers_once(svc: p.Services) -> None:
    ins = await instrument(svc)
    ana = await onboard(svc, "ana")
    order = await p.create_order(svc, p.CreateOrder(ana, ins, 3))
    svc.ledger.crash_after_effect("settle:")
    with pytest.raises(SimulatedCrash):
        await pay(svc, order.id, order.amount)
    settled = await pay(svc, order.id, order.amount)  # the gateway retries its webhook
    assert settled.status is OrderStatus.SETTLED
    async with svc.store.unit_of_work() as uow:
        investor = await uow.investors.get(ana)
        ref = (await uow.instruments.get(ins)).ledger_ref
        assert (await uow.instruments.get(ins)).units_sold == 3
    assert await svc.ledger.units_of(ref, investor.wallet.address) == 3


async def test_a_payment_for_an_expired_order_becomes_a_refund(svc: p.Services) -> None:
    ins = await instrument(svc)
    ana = await onboard(svc, "ana")
    order = await p.create_order(svc, p.CreateOrder(ana, ins, 3))
    await p.cancel_order(svc, order.id, "investor changed their mind")
    late = await pay(svc, order.id, order.amount)
    assert late.status is OrderStatus.REFUND_DUE
    assert svc.payments.refunds == [f"re_test_{order.id}_0"]
    refunded = await p.handle_payment(
        svc, PaymentEvent("evt_r", PaymentEventKind.REFUNDED, order.id, f"pi_{order.id}", order.amount)
    )
    assert refunded.status is OrderStatus.REFUNDED


async def test_a_wrong_amount_is_not_settled(svc: p.Services) -> None:
    ins = await instrument(svc)
    ana = await onboard(svc, "ana")
    order = await p.create_order(svc, p.CreateOrder(ana, ins, 3))
    result = await pay(svc, order.id, eur("1.00"))
    assert result.status is OrderStatus.REFUND_DUE and "does not match" in (result.reason or "")
    async with svc.store.unit_of_work() as uow:
        assert (await uow.instruments.get(ins)).units_available == 1000


async def test_checkout_failure_releases_the_reservation(svc: p.Services) -> None:
    ins = await instrument(svc)
    ana = await onboard(svc, "ana")
    svc.payments.available = False
    with pytest.raises(ProviderError):
        await p.create_order(svc, p.CreateOrder(ana, ins, 3))
    async with svc.store.unit_of_work() as uow:
        assert (await uow.instruments.get(ins)).units_available == 1000


async def test_a_repayment_interrupted_between_batches_resumes_without_paying_twice(svc: p.Services) -> None:
    ins = await instrument(svc)
    holders = [await onboard(svc, f"h{i}") for i in range(5)]
    for i, holder in enumerate(holders):
        await buy(svc, holder, ins, 10 + i)
    svc.ledger.crash_after_effect("repay:")  # batch 0 (2 holders) is paid, then the process dies
    with pytest.raises(SimulatedCrash):
        await p.trigger_repayment(svc, p.TriggerRepayment(ins, "2026-11", eur("60.00"), eur("0.00")))
    async with svc.store.unit_of_work() as uow:
        (repayment,) = await uow.repayments.by_instrument(ins)
    assert repayment.pending == 5 and repayment.open_batch == 0
    done = await p.continue_repayment(svc, repayment.id)
    async with svc.store.unit_of_work() as uow:
        shares = await uow.repayments.allocations(repayment.id)
    assert len(shares) == 5 and all(a.status is AllocationStatus.PAID for a in shares)
    assert (done.paid_count, done.pending, done.status) == (5, 0, RepaymentStatus.COMPLETED)
    # five holders in batches of two: three distributions, the first not repeated after the crash
    assert sum(1 for _, what in svc.ledger.transactions if what.startswith("distribute")) == 3
    paid = 0
    async with svc.store.unit_of_work() as uow:
        for holder in holders:
            investor = await uow.investors.get(holder)
            paid += (await svc.ledger.stablecoin_balance(investor.wallet.address)).minor
    assert paid == 6000


async def test_a_repayment_job_that_died_between_snapshot_and_payment_resumes_from_its_snapshot_once(
    svc: p.Services,
) -> None:
    ins = await instrument(svc)
    ana, bob = await onboard(svc, "ana"), await onboard(svc, "bob")
    await buy(svc, ana, ins, 10)
    await buy(svc, bob, ins, 30)
    requested = await p.request_repayment(svc, p.TriggerRepayment(ins, "2026-11", eur("40.00"), eur("0.00")))
    assert (requested.status, requested.holders) == (RepaymentStatus.REQUESTED, 0)
    svc.ledger.fail_next(SimulatedCrash("the worker died before the first batch reached the ledger"))
    with pytest.raises(SimulatedCrash):
        await p.continue_repayment(svc, requested.id)
    async with svc.store.unit_of_work() as uow:
        snapshotted = await uow.repayments.get(requested.id)
    assert (snapshotted.status, snapshotted.holders, snapshotted.paid_count) == (RepaymentStatus.DISTRIBUTING, 2, 0)
    async with svc.store.unit_of_work() as uow:
        ref = (await uow.instruments.get(ins)).ledger_ref
        wallets = [(await uow.investors.get(i)).wallet for i in (ana, bob)]
    # Bob sends Ana 20 units on the ledger after the snapshot: this round still pays as snapshotted.
    svc.ledger.transfer_units(ref, wallets[1].address, wallets[0].address, 20)
    done = await p.continue_repayment(svc, requested.id)  # the job's retry
    assert (done.status, done.paid_count, done.as_of, done.snapshot_at) == (
        RepaymentStatus.COMPLETED,
        2,
        snapshotted.as_of,
        snapshotted.snapshot_at,
    )
    async with svc.store.unit_of_work() as uow:
        started = [e for e in await uow.events.list(requested.id) if e.name == "RepaymentStarted"]
    assert len(started) == 1  # one snapshot
    balances = [(await svc.ledger.stablecoin_balance(w.address)).minor for w in wallets if w]
    assert balances == [10_00, 30_00]  # paid once each, as the snapshot allocated
    assert sum(1 for _, what in svc.ledger.transactions if what.startswith("distribute")) == 1


async def test_block_resumes_on_chain_after_an_outage(svc: p.Services) -> None:
    ins = await instrument(svc)
    ana = await onboard(svc, "ana")
    await buy(svc, ana, ins, 3)
    svc.ledger.fail_next()
    alert = AmlAlert("aml-1", None, ana, True, "adverse media")
    with pytest.raises(LedgerUnavailable):
        await p.handle_aml_alert(svc, alert)
    async with svc.store.unit_of_work() as uow:
        blocked = await uow.investors.get(ana)
    assert blocked.is_blocked  # the store refuses at once, before the chain
    address = blocked.wallet.address
    assert await svc.ledger.classification_of(address) is Classification.EU_NON_ACCREDITED
    await p.handle_aml_alert(svc, alert)  # redelivery finishes the job
    assert await svc.ledger.classification_of(address) is Classification.EU_NON_ACCREDITED  # frozen neutrally
    assert await svc.ledger.is_frozen(address)


async def test_unblock_finishes_after_an_outage_and_releases_once(svc: p.Services) -> None:
    ins = await instrument(svc)
    ana, bob = await onboard(svc, "ana"), await onboard(svc, "bob")
    await buy(svc, ana, ins, 10)
    await buy(svc, bob, ins, 10)
    await p.block_investor(svc, bob, "alert", "aml:1")
    await p.trigger_repayment(svc, p.TriggerRepayment(ins, "2026-11", eur("20.00"), eur("0.00")))
    svc.ledger.crash_after_effect("release:")
    with pytest.raises(SimulatedCrash):
        await p.unblock_investor(svc, bob, "cleared", "officer")
    await p.unblock_investor(svc, bob, "cleared", "officer")  # finishes the release only
    async with svc.store.unit_of_work() as uow:
        investor = await uow.investors.get(bob)
        assert not investor.is_blocked
        assert await uow.repayments.held_back_for(bob) == []
    assert await svc.ledger.stablecoin_balance(investor.wallet.address) == eur("10.00")


class SlowLedger:
    """The memory ledger with a settlement that takes a while, counting how often it is asked."""

    def __init__(self, inner: MemoryLedger) -> None:
        self._inner = inner
        self.settle_calls = 0

    def __getattr__(self, name: str):
        return getattr(self._inner, name)

    async def settle_purchase(self, op_id, purchase):
        self.settle_calls += 1
        await asyncio.sleep(0.05)
        return await self._inner.settle_purchase(op_id, purchase)


async def test_two_notifications_of_one_payment_handled_at_once_settle_once(svc: p.Services) -> None:
    ins = await instrument(svc)
    ana = await onboard(svc, "ana")
    order = await p.create_order(svc, p.CreateOrder(ana, ins, 3))
    slow = SlowLedger(svc.ledger)
    racing = attrs.evolve(svc, ledger=slow)
    # checkout.session.completed and payment_intent.succeeded arrive together at two workers
    events = [
        PaymentEvent(f"evt_{kind}", PaymentEventKind.SUCCEEDED, order.id, f"pi_{order.id}", order.amount)
        for kind in ("checkout", "intent")
    ]
    outcomes = await asyncio.gather(*(p.handle_payment(racing, e) for e in events), return_exceptions=True)
    settled = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [o for o in outcomes if isinstance(o, BaseException)]
    assert [o.status for o in settled] == [OrderStatus.SETTLED]
    assert len(refused) == 1 and isinstance(refused[0], SettlementInProgress)
    assert slow.settle_calls == 1
    # the refused worker retries later and finds the order settled
    again = await p.handle_payment(racing, events[1])
    assert again.status is OrderStatus.SETTLED and slow.settle_calls == 1


async def test_a_lease_left_by_a_dead_attempt_is_taken_over_after_it_expires(tmp_path: Path) -> None:
    store = await open_sqlite_store(tmp_path / "store.sqlite")
    clock = MovableClock()
    services = make_services(tmp_path, store, clock)
    try:
        ins = await instrument(services)
        ana = await onboard(services, "ana")
        order = await p.create_order(services, p.CreateOrder(ana, ins, 3))
        # A worker took the lease and died before the ledger answered: nothing released it.
        async with store.unit_of_work() as uow:
            dead = await uow.orders.get(order.id)
            dead.mark_paid(f"pi_{order.id}", order.amount, clock.now())
            assert dead.take_settlement_lease("lease_dead_worker", clock.now(), services.settings.settlement_lease)
            await uow.orders.save(dead)
            await uow.commit()
        with pytest.raises(SettlementInProgress):  # another attempt right after: the lease is live
            await p.settle_order(services, order.id)
        clock.current += services.settings.settlement_lease + timedelta(seconds=1)
        settled = await p.settle_order(services, order.id)
        assert settled.status is OrderStatus.SETTLED
    finally:
        await store.close()


async def test_a_failure_seen_by_the_attempt_frees_the_order_for_an_immediate_retry(svc: p.Services) -> None:
    ins = await instrument(svc)
    ana = await onboard(svc, "ana")
    order = await p.create_order(svc, p.CreateOrder(ana, ins, 3))
    svc.ledger.fail_next()
    with pytest.raises(LedgerUnavailable):
        await pay(svc, order.id, order.amount)
    assert (await pay(svc, order.id, order.amount)).status is OrderStatus.SETTLED


class MovableClock:
    def __init__(self) -> None:
        self.current = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current


async def test_a_paid_order_left_unsettled_is_reported_and_stalls_reconciliation(tmp_path: Path) -> None:
    """A customer paid and the ledger never settled (it went away): reconciliation, which an
    auditor and the worker's periodic check run, must not say "in sync". Before the stall limit the
    order is reported as paid and unsettled; past it, the instrument is out of sync."""
    store = await open_sqlite_store(tmp_path / "store.sqlite")
    clock = MovableClock()
    services = make_services(tmp_path, store, clock)
    try:
        ins = await instrument(services)
        ana = await onboard(services, "ana")
        order = await p.create_order(services, p.CreateOrder(ana, ins, 3))
        services.ledger.fail_next()
        with pytest.raises(LedgerUnavailable):
            await pay(services, order.id, order.amount)
        fresh = await p.reconcile(services, ins)
        assert (fresh.paid_unsettled, fresh.stalled_settlements, fresh.in_sync) == (1, 0, True)
        assert fresh.oldest_paid_at == clock.now()
        backlog = await p.queries.settlement_backlog(services)
        assert (backlog.paid_unsettled, backlog.oldest_paid_at) == (1, clock.now())

        clock.current += services.settings.settlement_stall + timedelta(seconds=1)
        stalled = await p.reconcile(services, ins)
        assert (stalled.paid_unsettled, stalled.stalled_settlements, stalled.in_sync) == (1, 1, False)
        assert not stalled.drift  # the ledger and the positions agree: only the settlement is missing

        assert (await pay(services, order.id, order.amount)).status is OrderStatus.SETTLED
        settled = await p.reconcile(services, ins)
        assert (settled.paid_unsettled, settled.stalled_settlements, settled.in_sync) == (0, 0, True)
    finally:
        await store.close()
