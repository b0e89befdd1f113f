"""Store contract, part 1: units of work and repositories. Written against the ports only.

Runs once per implementation registered in tests/contract/conftest.py (STORE_FACTORIES).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest

from drexfy.domain import events as ev
from drexfy.domain.deposit import DepositStatus
from drexfy.domain.errors import (
    Conflict,
    DuplicateEntity,
    InstrumentNotFound,
    InvestorNotFound,
    NotFound,
    OrderNotFound,
    RepaymentNotFound,
    SoldOut,
    ValidationFailed,
)
from drexfy.domain.model import (
    AllocationStatus,
    InstrumentStatus,
    OrderStatus,
    Position,
    RepaymentStatus,
    SettlementStep,
    Wallet,
    WithdrawalStatus,
)
from drexfy.domain.ports import MessageStatus, Store, UnitOfWork
from tests.contract import builders as b
from tests.contract.builders import T0, eur
from tests.contract.conftest import OpenStores

# --- helpers ----------------------------------------------------------------------------------------

#: kind -> (repository attribute, builder, NotFound class the repository raises)
KINDS: dict[str, tuple[str, Callable[..., Any], type[NotFound]]] = {
    "investor": ("investors", b.investor, InvestorNotFound),
    "instrument": ("instruments", b.instrument, InstrumentNotFound),
    "order": ("orders", b.order, OrderNotFound),
    "repayment": ("repayments", b.repayment, RepaymentNotFound),
    "withdrawal": ("withdrawals", b.withdrawal, NotFound),
    "deposit": ("deposits", b.deposit, NotFound),
}


async def add_all(store: Store, *aggregates: Any) -> None:
    async with store.unit_of_work() as uow:
        for aggregate in aggregates:
            await repo_for(uow, aggregate).add(aggregate)
        await uow.commit()


def repo_for(uow: UnitOfWork, aggregate: Any) -> Any:
    name = type(aggregate).__name__.lower()
    return getattr(uow, {"repayment": "repayments"}.get(name, name + "s"))


async def in_uow(store: Store, fn: Callable[[UnitOfWork], Awaitable[Any]]) -> Any:
    async with store.unit_of_work() as uow:
        result = await fn(uow)
        await uow.commit()
        return result


# --- round trips -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(KINDS))
async def test_every_aggregate_round_trips_with_all_its_fields(store: Store, kind: str) -> None:
    attr, build, _ = KINDS[kind]
    original = build()
    await add_all(store, original)

    async with store.unit_of_work() as uow:
        loaded = await getattr(uow, attr).get(original.id)

    assert loaded == original
    assert type(loaded) is type(original)
    assert loaded.version == 0
    assert loaded.events == []


async def test_investor_without_optional_fields_round_trips(store: Store) -> None:
    plain = b.investor(
        kyc_reasons=(),
        applicant_id=None,
        wallet=None,
        blocked_at=None,
        blocked_reason=None,
        classification=None,
        classification_before_block=None,
    )
    await add_all(store, plain)
    async with store.unit_of_work() as uow:
        assert await uow.investors.get(plain.id) == plain


async def test_saved_changes_are_read_back_and_version_goes_up(store: Store) -> None:
    await add_all(store, b.order(status=OrderStatus.CREATED, steps=[], paid_amount=None, payment_ref=None))

    async with store.unit_of_work() as uow:
        order = await uow.orders.get("ord_1")
        order.mark_paid("pi_9", eur(300_00), T0)
        order.settle(("0x01",), T0)
        await uow.orders.save(order)
        assert order.version == 1
        await uow.commit()

    async with store.unit_of_work() as uow:
        again = await uow.orders.get("ord_1")
    assert again == order
    assert again.status is OrderStatus.SETTLED
    assert again.steps == [SettlementStep.PAYMENT_CONFIRMED, SettlementStep.LEDGER_SETTLED]
    assert again.version == 1


# --- optimistic concurrency, duplicates, not found ------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(KINDS))
async def test_saving_a_stale_copy_is_a_conflict(store: Store, kind: str) -> None:
    attr, build, _ = KINDS[kind]
    await add_all(store, build())
    async with store.unit_of_work() as uow:
        stale = await getattr(uow, attr).get(build().id)
    async with store.unit_of_work() as uow:
        fresh = await getattr(uow, attr).get(build().id)
        await getattr(uow, attr).save(fresh)
        await uow.commit()

    async with store.unit_of_work() as uow:
        with pytest.raises(Conflict) as caught:
            await getattr(uow, attr).save(stale)
    assert not isinstance(caught.value, DuplicateEntity)
    async with store.unit_of_work() as uow:
        assert (await getattr(uow, attr).get(build().id)).version == 1


@pytest.mark.parametrize("kind", sorted(KINDS))
async def test_adding_an_existing_id_is_a_duplicate(store: Store, kind: str) -> None:
    attr, build, _ = KINDS[kind]
    await add_all(store, build())
    async with store.unit_of_work() as uow:
        with pytest.raises(DuplicateEntity):
            await getattr(uow, attr).add(build())


@pytest.mark.parametrize("kind", sorted(KINDS))
async def test_getting_a_missing_aggregate_raises_its_not_found(store: Store, kind: str) -> None:
    attr, _, not_found = KINDS[kind]
    async with store.unit_of_work() as uow:
        with pytest.raises(not_found):
            await getattr(uow, attr).get("nope")


async def test_second_instrument_with_the_same_symbol_is_a_duplicate(store: Store) -> None:
    await add_all(store, b.instrument("ins_1", symbol="SME1"))
    async with store.unit_of_work() as uow:
        with pytest.raises(DuplicateEntity):
            await uow.instruments.add(b.instrument("ins_2", symbol="SME1"))


# --- transactions ---------------------------------------------------------------------------------------


async def test_leaving_without_commit_rolls_back_the_change_and_its_events(store: Store) -> None:
    investor = b.investor()
    investor.events.append(ev.InvestorRegistered(investor.id, T0, "DE", "ENTITY"))
    investor.events.append(ev.InvestorBlocked(investor.id, T0, "AML", "monitor"))
    async with store.unit_of_work() as uow:
        await uow.investors.add(investor)

    async with store.unit_of_work() as uow:
        assert await uow.investors.find(investor.id) is None
        assert await uow.events.list() == []
    assert (await store.outbox.counts())[MessageStatus.PENDING] == 0


async def test_an_exception_rolls_back_the_unit_of_work(store: Store) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        async with store.unit_of_work() as uow:
            await uow.investors.add(b.investor())
            raise RuntimeError("boom")
    async with store.unit_of_work() as uow:
        assert await uow.investors.find("inv_1") is None


async def test_events_are_persisted_with_the_change_and_notify_ones_queued(store: Store) -> None:
    investor = b.investor()
    investor.events.append(ev.InvestorRegistered(investor.id, T0, "DE", "ENTITY"))  # audit only
    investor.events.append(ev.KycRejected(investor.id, T0 + timedelta(seconds=1), ("FRAUD", "DOC")))  # notify
    async with store.unit_of_work() as uow:
        await uow.investors.add(investor)
        assert investor.events == []  # drained
        await uow.commit()

    async with store.unit_of_work() as uow:
        stored = await uow.events.list(aggregate_id=investor.id)
    assert [e.name for e in stored] == ["InvestorRegistered", "KycRejected"]
    assert stored[0].payload == {"country": "DE", "kind": "ENTITY"}
    assert stored[1].payload == {"reasons": ["FRAUD", "DOC"]}
    assert stored[1].occurred_at == T0 + timedelta(seconds=1)
    assert stored[1].aggregate_id == investor.id

    queued = await store.outbox.list()
    assert len(queued) == 1
    assert queued[0].key == stored[1].id
    assert queued[0].kind == "KycRejected"
    assert queued[0].status is MessageStatus.PENDING
    assert queued[0].payload["event_id"] == stored[1].id
    assert queued[0].payload["aggregate_id"] == investor.id
    assert queued[0].payload["payload"] == {"reasons": ["FRAUD", "DOC"]}


async def test_events_of_saved_aggregates_are_persisted_too(store: Store) -> None:
    await add_all(store, b.instrument(status=InstrumentStatus.OPEN))
    async with store.unit_of_work() as uow:
        instrument = await uow.instruments.get("ins_1")
        instrument.close(T0)
        await uow.instruments.save(instrument)
        assert instrument.events == []
        await uow.commit()
    async with store.unit_of_work() as uow:
        names = [e.name for e in await uow.events.list(aggregate_id="ins_1")]
    assert names == ["InstrumentStatusChanged"]


async def test_recorded_events_are_committed_with_the_unit_of_work_or_dropped(store: Store) -> None:
    async with store.unit_of_work() as uow:
        uow.record(ev.AmlAlertCleared("inv_1", T0, "alert_1", "false positive"))
    async with store.unit_of_work() as uow:
        uow.record(ev.InvestorUnblocked("inv_2", T0, "cleared", "officer_7", "EU_ACCREDITED"))
        await uow.commit()

    async with store.unit_of_work() as uow:
        stored = await uow.events.list()
    assert [(e.name, e.aggregate_id) for e in stored] == [("InvestorUnblocked", "inv_2")]
    assert stored[0].payload == {
        "reason": "cleared",
        "officer": "officer_7",
        "classification": "EU_ACCREDITED",
    }
    assert [m.kind for m in await store.outbox.list()] == ["InvestorUnblocked"]


async def test_event_log_pages_by_id_and_filters_by_aggregate(store: Store) -> None:
    async with store.unit_of_work() as uow:
        for i in range(7):
            uow.record(ev.InstrumentStatusChanged(f"agg_{i % 2}", T0 + timedelta(seconds=i), f"S{i}"))
        await uow.commit()

    async with store.unit_of_work() as uow:
        pages, after = [], None
        while page := await uow.events.list(after=after, limit=3):
            pages.append([e.payload["status"] for e in page])
            after = page[-1].id
        odd = await uow.events.list(aggregate_id="agg_1")
        odd_tail = await uow.events.list(aggregate_id="agg_1", after=odd[0].id, limit=1)

    assert pages == [["S0", "S1", "S2"], ["S3", "S4", "S5"], ["S6"]]
    assert [e.payload["status"] for e in odd] == ["S1", "S3", "S5"]
    assert [e.payload["status"] for e in odd_tail] == ["S3"]


# --- investors ---------------------------------------------------------------------------------------------


async def test_investors_are_found_by_applicant_address_and_email(store: Store) -> None:
    await add_all(store, b.investor("inv_1"), b.investor("inv_2", wallet=None, applicant_id=None))

    async with store.unit_of_work() as uow:
        assert (await uow.investors.get_by_applicant("app_inv_1")).id == "inv_1"
        assert (await uow.investors.get_by_address("0xAbCinv_1")).id == "inv_1"  # type: ignore[union-attr]
        assert (await uow.investors.get_by_email("inv_2@example.com")).id == "inv_2"  # type: ignore[union-attr]
        assert await uow.investors.get_by_address("0xnobody") is None
        assert await uow.investors.get_by_email("nobody@example.com") is None
        with pytest.raises(InvestorNotFound):
            await uow.investors.get_by_applicant("app_nobody")

        second = await uow.investors.get("inv_2")
        second.applicant_id = "app_late"
        second.wallet = Wallet(id="w_late", address="0xLate", public_key="03" + "cd" * 32)
        await uow.investors.save(second)
        await uow.commit()

    async with store.unit_of_work() as uow:
        assert (await uow.investors.get_by_applicant("app_late")).id == "inv_2"
        assert (await uow.investors.get_by_address("0xLate")).id == "inv_2"  # type: ignore[union-attr]


async def test_investor_list_pages_by_id(store: Store) -> None:
    await add_all(store, *(b.investor(f"inv_{i:02d}") for i in range(5)))
    async with store.unit_of_work() as uow:
        first = await uow.investors.list(limit=2)
        second = await uow.investors.list(limit=2, after=first[-1].id)
        rest = await uow.investors.list(after=second[-1].id)
    assert [i.id for i in first + second + rest] == [f"inv_{i:02d}" for i in range(5)]


# --- instruments and units -----------------------------------------------------------------------------------


async def test_instruments_by_symbol_and_listed_by_id(store: Store) -> None:
    await add_all(store, b.instrument("ins_b", symbol="B"), b.instrument("ins_a", symbol="A"))
    async with store.unit_of_work() as uow:
        assert (await uow.instruments.get_by_symbol("B")).id == "ins_b"  # type: ignore[union-attr]
        assert await uow.instruments.get_by_symbol("Z") is None
        assert [i.id for i in await uow.instruments.list()] == ["ins_a", "ins_b"]
        assert [i.id for i in await uow.instruments.list(after="ins_a")] == ["ins_b"]


async def test_an_issued_instruments_ledger_reference_and_position_round_trip(store: Store) -> None:
    """Reconciliation reads the instrument's history from the position it was issued at."""
    await add_all(store, b.instrument("ins_p", symbol="P"))
    async with store.unit_of_work() as uow:
        instrument = await uow.instruments.get("ins_p")
        instrument.issued("0x" + "ab" * 20, ("0xtx",), T0, position=1234)
        await uow.instruments.save(instrument)
        await uow.commit()
    async with store.unit_of_work() as uow:
        stored = await uow.instruments.get("ins_p")
    assert (stored.ledger_ref, stored.ledger_position) == ("0x" + "ab" * 20, 1234)


async def test_unit_counters_move_only_through_the_atomic_methods(store: Store) -> None:
    await add_all(store, b.instrument(total_units=100, units_sold=0, units_reserved=0, units_retired=0))

    async with store.unit_of_work() as uow:
        stale = await uow.instruments.get("ins_1")
        await uow.instruments.reserve_units("ins_1", 30)
        await uow.instruments.release_units("ins_1", 5)
        await uow.instruments.commit_units("ins_1", 20)
        await uow.instruments.retire_units("ins_1", 4)
        # save() of a copy read before the moves writes status and terms, never the counters
        stale.status = InstrumentStatus.CLOSED
        await uow.instruments.save(stale)
        await uow.commit()

    async with store.unit_of_work() as uow:
        fresh = await uow.instruments.get("ins_1")
    assert (fresh.units_reserved, fresh.units_sold, fresh.units_retired) == (5, 20, 4)
    assert fresh.status is InstrumentStatus.CLOSED
    assert fresh.units_available == 75
    assert fresh.version == 1


async def test_reserving_more_than_is_left_is_sold_out_and_changes_nothing(store: Store) -> None:
    await add_all(store, b.instrument(total_units=10, units_sold=6, units_reserved=1, units_retired=0))
    async with store.unit_of_work() as uow:
        with pytest.raises(SoldOut) as caught:
            await uow.instruments.reserve_units("ins_1", 4)
        await uow.instruments.reserve_units("ins_1", 3)
        await uow.commit()
    assert "only 3 units left" in str(caught.value)
    async with store.unit_of_work() as uow:
        assert (await uow.instruments.get("ins_1")).units_available == 0


async def test_unit_counters_refuse_to_go_below_zero(store: Store) -> None:
    await add_all(store, b.instrument(total_units=10, units_sold=2, units_reserved=1, units_retired=1))
    async with store.unit_of_work() as uow:
        with pytest.raises(Conflict):
            await uow.instruments.release_units("ins_1", 2)
        with pytest.raises(Conflict):
            await uow.instruments.commit_units("ins_1", 2)
        with pytest.raises(Conflict):
            await uow.instruments.retire_units("ins_1", 2)
        with pytest.raises(ValidationFailed):
            await uow.instruments.reserve_units("ins_1", 0)
        with pytest.raises(InstrumentNotFound):
            await uow.instruments.reserve_units("ins_missing", 1)
        await uow.commit()
    async with store.unit_of_work() as uow:
        fresh = await uow.instruments.get("ins_1")
    assert (fresh.units_sold, fresh.units_reserved, fresh.units_retired) == (2, 1, 1)


async def test_concurrent_reservations_never_oversell(open_store: OpenStores) -> None:
    first, second = await open_store(), await open_store()  # two store objects: as two processes
    await add_all(first, b.instrument(total_units=100, units_sold=70, units_reserved=10, units_retired=0))

    async def reserve(store: Store) -> bool:
        async with store.unit_of_work() as uow:
            try:
                await uow.instruments.reserve_units("ins_1", 1)
            except SoldOut:
                return False
            await uow.commit()
            return True

    results = await asyncio.gather(*(reserve(first if i % 2 else second) for i in range(50)))

    assert sum(results) == 20
    async with first.unit_of_work() as uow:
        assert (await uow.instruments.get("ins_1")).units_reserved == 30


# --- orders ---------------------------------------------------------------------------------------------------


async def test_orders_by_investor_in_creation_order(store: Store) -> None:
    await add_all(
        store,
        b.order("ord_b", created_at=T0 + timedelta(minutes=1)),
        b.order("ord_a", created_at=T0 + timedelta(minutes=2)),
        b.order("ord_c", created_at=T0, investor_id="inv_other"),
    )
    async with store.unit_of_work() as uow:
        assert [o.id for o in await uow.orders.by_investor("inv_1")] == ["ord_b", "ord_a"]
        assert await uow.orders.by_investor("inv_nobody") == []


async def test_expired_lists_only_created_orders_past_their_expiry(store: Store) -> None:
    created = {"status": OrderStatus.CREATED, "steps": [], "paid_amount": None, "payment_ref": None}
    await add_all(
        store,
        b.order("ord_late2", expires_at=T0 - timedelta(minutes=1), **created),
        b.order("ord_late1", expires_at=T0 - timedelta(minutes=5), **created),
        b.order("ord_exact", expires_at=T0, **created),
        b.order("ord_future", expires_at=T0 + timedelta(microseconds=1), **created),
        b.order("ord_paid", expires_at=T0 - timedelta(hours=1)),  # PAID: not expiring
    )
    async with store.unit_of_work() as uow:
        assert [o.id for o in await uow.orders.expired(T0)] == ["ord_late1", "ord_late2", "ord_exact"]
        assert [o.id for o in await uow.orders.expired(T0, limit=1)] == ["ord_late1"]


async def test_refund_due_lists_the_orders_owing_money_back_oldest_first_and_drops_refunded_ones(store: Store) -> None:
    await add_all(
        store,
        b.order("o_due2", status=OrderStatus.REFUND_DUE, created_at=T0 + timedelta(minutes=2)),
        b.order("o_due1", status=OrderStatus.REFUND_DUE, created_at=T0 + timedelta(minutes=1)),
        b.order("o_paid"),
        b.order("o_refunded", status=OrderStatus.REFUNDED),
    )
    async with store.unit_of_work() as uow:
        assert [o.id for o in await uow.orders.refund_due()] == ["o_due1", "o_due2"]
        assert [o.id for o in await uow.orders.refund_due(limit=1)] == ["o_due1"]
        due = await uow.orders.get("o_due1")
        due.refund_failed("refund failed: expired_or_canceled_card", T0, T0 + timedelta(minutes=5))
        due.close(OrderStatus.REFUNDED, "refunded", T0)
        await uow.orders.save(due)
        await uow.commit()
    async with store.unit_of_work() as uow:
        assert [o.id for o in await uow.orders.refund_due()] == ["o_due2"]
        refunded = await uow.orders.get("o_due1")
        assert (refunded.refund_attempts, refunded.refund_error) == (1, "refund failed: expired_or_canceled_card")
        assert refunded.refund_retry_at == T0 + timedelta(minutes=5)


async def test_payable_lists_burned_withdrawals_oldest_first_until_they_are_sent(store: Store) -> None:
    from drexfy.domain.model import WithdrawalStatus

    await add_all(
        store,
        b.withdrawal("wd_new", status=WithdrawalStatus.BURNED, created_at=T0 + timedelta(minutes=2)),
        b.withdrawal("wd_old", status=WithdrawalStatus.BURNED, created_at=T0 + timedelta(minutes=1)),
        b.withdrawal("wd_req", status=WithdrawalStatus.REQUESTED),
        b.withdrawal("wd_paid", status=WithdrawalStatus.PAID_OUT),
    )
    async with store.unit_of_work() as uow:
        assert [w.id for w in await uow.withdrawals.payable()] == ["wd_old", "wd_new"]
        assert [w.id for w in await uow.withdrawals.payable(limit=1)] == ["wd_old"]
        sent = await uow.withdrawals.get("wd_old")
        sent.batched("payout_1", "DE89370400440532013000", T0)
        await uow.withdrawals.save(sent)
        await uow.commit()
    async with store.unit_of_work() as uow:
        assert [w.id for w in await uow.withdrawals.payable()] == ["wd_new"]
        assert (await uow.withdrawals.get("wd_old")).batch_id == "payout_1"


async def test_reserving_lists_the_instruments_unpaid_and_unsettled_orders(store: Store) -> None:
    created = {"status": OrderStatus.CREATED, "steps": [], "paid_amount": None, "payment_ref": None}
    await add_all(
        store,
        b.order("o_paid", created_at=T0 + timedelta(minutes=2)),  # PAID, settling
        b.order("o_new", created_at=T0 + timedelta(minutes=1), **created),
        b.order("o_settled", status=OrderStatus.SETTLED),
        b.order("o_expired", status=OrderStatus.EXPIRED),
        b.order("o_other", instrument_id="ins_2", **created),
    )
    async with store.unit_of_work() as uow:
        assert [o.id for o in await uow.orders.reserving("ins_1")] == ["o_new", "o_paid"]
        assert await uow.orders.reserving("ins_9") == []
    # A PAID order that settles leaves the list (its units are sold, not reserved any more).
    async with store.unit_of_work() as uow:
        paid = await uow.orders.get("o_paid")
        paid.status = OrderStatus.SETTLED
        await uow.orders.save(paid)
        await uow.commit()
    async with store.unit_of_work() as uow:
        assert [o.id for o in await uow.orders.reserving("ins_1")] == ["o_new"]


async def test_committed_amount_sums_created_paid_and_settled_orders(store: Store) -> None:
    async with store.unit_of_work() as uow:
        assert await uow.orders.committed_amount("inv_1", "ins_1") is None
    await add_all(
        store,
        b.order("o1", status=OrderStatus.CREATED, amount=eur(100_00)),
        b.order("o2", status=OrderStatus.PAID, amount=eur(200_00)),
        b.order("o3", status=OrderStatus.SETTLED, amount=eur(300_01)),
        b.order("o4", status=OrderStatus.EXPIRED, amount=eur(1_000_00)),
        b.order("o5", status=OrderStatus.REFUND_DUE, amount=eur(1_000_00)),
        b.order("o6", status=OrderStatus.CREATED, amount=eur(1_000_00), instrument_id="ins_2"),
        b.order("o7", status=OrderStatus.CREATED, amount=eur(1_000_00), investor_id="inv_2"),
    )
    async with store.unit_of_work() as uow:
        assert await uow.orders.committed_amount("inv_1", "ins_1") == eur(600_01)
        assert await uow.orders.committed_amount("inv_1", "ins_9") is None


# --- positions ---------------------------------------------------------------------------------------------------


async def test_positions_add_up_and_list_holders_by_investor_id(store: Store) -> None:
    async def fill(uow: UnitOfWork) -> None:
        await uow.positions.add_units("inv_b", "ins_1", 5)
        await uow.positions.add_units("inv_a", "ins_1", 3)
        await uow.positions.add_units("inv_a", "ins_1", 4)
        await uow.positions.add_units("inv_c", "ins_1", 2)
        await uow.positions.add_units("inv_c", "ins_1", -2)
        await uow.positions.add_units("inv_a", "ins_2", 1)

    await in_uow(store, fill)
    async with store.unit_of_work() as uow:
        assert await uow.positions.units("inv_a", "ins_1") == 7
        assert await uow.positions.units("inv_c", "ins_1") == 0
        assert await uow.positions.units("inv_z", "ins_1") == 0
        assert await uow.positions.holders("ins_1") == [
            Position("inv_a", "ins_1", 7),
            Position("inv_b", "ins_1", 5),
        ]
        assert await uow.positions.by_investor("inv_a") == [
            Position("inv_a", "ins_1", 7),
            Position("inv_a", "ins_2", 1),
        ]


async def test_a_position_cannot_go_negative(store: Store) -> None:
    await in_uow(store, lambda uow: uow.positions.add_units("inv_a", "ins_1", 2))
    async with store.unit_of_work() as uow:
        with pytest.raises(Conflict):
            await uow.positions.add_units("inv_a", "ins_1", -3)
        with pytest.raises(Conflict):
            await uow.positions.add_units("inv_new", "ins_1", -1)
        assert await uow.positions.units("inv_a", "ins_1") == 2


# --- repayments and withdrawals -------------------------------------------------------------------------------


async def test_repayments_by_instrument_and_held_back_for_an_investor(store: Store) -> None:
    async with store.unit_of_work() as uow:
        await uow.repayments.add(b.repayment("rep_2", created_at=T0 + timedelta(days=30)), b.shares())
        await uow.repayments.add(b.repayment("rep_1"), b.shares())
        await uow.repayments.add(
            b.repayment("rep_x", instrument_id="ins_2"), [b.allocation("inv_20", AllocationStatus.HELD_BACK)]
        )
        await uow.commit()
    async with store.unit_of_work() as uow:
        assert [r.id for r in await uow.repayments.by_instrument("ins_1")] == ["rep_1", "rep_2"]
        assert [r.id for r in await uow.repayments.held_back_for("inv_2")] == ["rep_1", "rep_2"]
        # "inv_2" is a prefix of "inv_20" and the PAID/RELEASED investors are not held back
        assert [r.id for r in await uow.repayments.held_back_for("inv_20")] == ["rep_x"]
        assert await uow.repayments.held_back_for("inv_1") == []
        assert await uow.repayments.held_back_for("inv_3") == []

        rep = await uow.repayments.get("rep_1")
        share = await uow.repayments.allocation("rep_1", "inv_2")
        rep.mark_paid(share, ("0xrel",), T0)  # released on unblock
        await uow.repayments.save(rep, [share])
        await uow.commit()

    async with store.unit_of_work() as uow:
        assert [r.id for r in await uow.repayments.held_back_for("inv_2")] == ["rep_2"]
        released = await uow.repayments.get("rep_1")
        stored = await uow.repayments.allocation("rep_1", "inv_2")
    assert stored.status is AllocationStatus.RELEASED and stored.tx_ids == ("0xrel",)
    assert released == rep
    assert (released.held_back_count, released.released_count, released.held_back_minor) == (0, 2, 0)


async def test_a_repayments_shares_round_trip_and_page_in_investor_order(store: Store) -> None:
    shares = [b.allocation(f"inv_{i:03d}", units_held=i + 1) for i in range(25)]
    async with store.unit_of_work() as uow:
        await uow.repayments.add(b.repayment("rep_p"), list(reversed(shares)))
        await uow.commit()
    async with store.unit_of_work() as uow:
        first = await uow.repayments.allocations("rep_p", limit=10)
        second = await uow.repayments.allocations("rep_p", after=first[-1].investor_id, limit=10)
        window = await uow.repayments.allocations("rep_p", after="inv_003", upto="inv_006")
        rest = await uow.repayments.allocations("rep_p", after="inv_019", limit=100)
        assert await uow.repayments.allocation("rep_p", "inv_007") == shares[7]
        with pytest.raises(RepaymentNotFound):
            await uow.repayments.allocation("rep_p", "inv_999")
        assert await uow.repayments.allocations("rep_nope") == []
    assert first + second + rest == shares
    assert [a.investor_id for a in window] == ["inv_004", "inv_005", "inv_006"]


async def test_a_repayment_saved_by_someone_else_does_not_write_its_shares(store: Store) -> None:
    async with store.unit_of_work() as uow:
        await uow.repayments.add(b.repayment("rep_c", status=RepaymentStatus.DISTRIBUTING), [b.allocation("inv_1")])
        await uow.commit()
    async with store.unit_of_work() as uow:
        mine = await uow.repayments.get("rep_c")
    async with store.unit_of_work() as uow:
        theirs = await uow.repayments.get("rep_c")
        await uow.repayments.save(theirs)
        await uow.commit()
    share = b.allocation("inv_1", AllocationStatus.PAID, tx_ids=("0xmine",))
    with pytest.raises(Conflict):
        async with store.unit_of_work() as uow:
            await uow.repayments.save(mine, [share])
            await uow.commit()
    async with store.unit_of_work() as uow:
        assert (await uow.repayments.allocation("rep_c", "inv_1")).tx_ids == ("0xcc",)


async def test_a_snapshot_stores_a_requested_repayment_with_its_shares_version_checked(store: Store) -> None:
    async with store.unit_of_work() as uow:
        await uow.repayments.add(b.repayment("rep_s", status=RepaymentStatus.REQUESTED, holders=0))
        await uow.commit()
    async with store.unit_of_work() as uow:
        stale = await uow.repayments.get("rep_s")
    async with store.unit_of_work() as uow:
        fresh = await uow.repayments.get("rep_s")
        fresh.status = RepaymentStatus.DISTRIBUTING
        await uow.repayments.snapshot(fresh, [b.allocation("inv_1"), b.allocation("inv_4")])
        await uow.commit()
    with pytest.raises(Conflict):  # a second attempt that read it before
        async with store.unit_of_work() as uow:
            await uow.repayments.snapshot(stale, [b.allocation("inv_9")])
            await uow.commit()
    async with store.unit_of_work() as uow:
        assert (await uow.repayments.get("rep_s")).status is RepaymentStatus.DISTRIBUTING
        assert await uow.repayments.allocations("rep_s") == [b.allocation("inv_1"), b.allocation("inv_4")]


async def test_withdrawals_by_investor(store: Store) -> None:
    await add_all(
        store,
        b.withdrawal("wd_2", created_at=T0 + timedelta(seconds=1), status=WithdrawalStatus.REQUESTED, tx_ids=()),
        b.withdrawal("wd_1"),
        b.withdrawal("wd_3", investor_id="inv_2"),
    )
    async with store.unit_of_work() as uow:
        assert [w.id for w in await uow.withdrawals.by_investor("inv_1")] == ["wd_1", "wd_2"]
        pending = await uow.withdrawals.get("wd_2")
        pending.burned(("0xburn",), T0)
        await uow.withdrawals.save(pending)
        await uow.commit()
    async with store.unit_of_work() as uow:
        assert await uow.withdrawals.get("wd_2") == pending
        assert [e.name for e in await uow.events.list(aggregate_id="inv_1")] == ["WithdrawalRecorded"]


async def test_deposits_are_listed_by_status_in_id_order_and_leave_the_list_when_minted(store: Store) -> None:
    await add_all(
        store,
        b.deposit("dep_c", status=DepositStatus.UNMATCHED, investor_id=None, reason="names nobody"),
        b.deposit("dep_a", status=DepositStatus.UNMATCHED, investor_id=None, reason="names nobody"),
        b.deposit("dep_b", status=DepositStatus.MATCHED, minted_at=None, tx_ids=()),
        b.deposit("dep_d"),
    )
    async with store.unit_of_work() as uow:
        assert [d.id for d in await uow.deposits.with_status("UNMATCHED")] == ["dep_a", "dep_c"]
        assert [d.id for d in await uow.deposits.with_status("UNMATCHED", limit=1, after="dep_a")] == ["dep_c"]
        assert [d.id for d in await uow.deposits.with_status("MATCHED")] == ["dep_b"]
        assert await uow.deposits.find("dep_missing") is None
        due = await uow.deposits.get("dep_b")
        due.minted(("0xee",), T0)
        await uow.deposits.save(due)
        await uow.commit()
    async with store.unit_of_work() as uow:
        assert await uow.deposits.with_status("MATCHED") == []
        assert (await uow.deposits.get("dep_b")).status is DepositStatus.MINTED
        assert [d.id for d in await uow.deposits.with_status("MINTED")] == ["dep_b", "dep_d"]
