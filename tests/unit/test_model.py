"""Aggregates: the order state machine, investors' block/unblock, instrument terms, repayments."""

from datetime import UTC, datetime, timedelta

import pytest

from drexfy.domain.classification import Classification
from drexfy.domain.errors import IllegalTransition, InvalidAmount, ValidationFailed
from drexfy.domain.model import (
    Allocation,
    AllocationStatus,
    Instrument,
    InstrumentStatus,
    Investor,
    InvestorKind,
    Order,
    OrderStatus,
    Repayment,
    RepaymentStatus,
)
from drexfy.domain.money import Money

NOW = datetime(2026, 11, 2, tzinfo=UTC)


def eur(minor):
    return Money(minor, "EUR")


def order(**kw):
    defaults = dict(
        id="o1",
        investor_id="i1",
        instrument_id="x1",
        units=5,
        amount=eur(50000),
        created_at=NOW,
        expires_at=NOW + timedelta(minutes=30),
    )
    defaults.update(kw)
    return Order(**defaults)


def test_order_happy_path_records_steps_and_events():
    o = order()
    o.mark_paid("pi_1", eur(50000), NOW)
    o.settle(("0xabc",), NOW)
    assert o.status is OrderStatus.SETTLED
    assert [s.value for s in o.steps] == ["PAYMENT_CONFIRMED", "LEDGER_SETTLED"]
    assert [e.name for e in o.events] == ["OrderPaid", "OrderSettled"]


@pytest.mark.parametrize(
    ("start", "target"),
    [
        (OrderStatus.CREATED, OrderStatus.SETTLED),
        (OrderStatus.SETTLED, OrderStatus.REFUND_DUE),
        (OrderStatus.EXPIRED, OrderStatus.PAID),
        (OrderStatus.REFUNDED, OrderStatus.REFUND_DUE),
        (OrderStatus.CANCELLED, OrderStatus.SETTLED),
    ],
)
def test_illegal_order_transitions_raise(start, target):
    o = order(status=start)
    with pytest.raises(IllegalTransition):
        if target is OrderStatus.SETTLED:
            o.settle((), NOW)
        elif target is OrderStatus.PAID:
            o.mark_paid("pi", eur(50000), NOW)
        else:
            o.close(target, "why", NOW)


def test_payment_of_the_wrong_amount_is_refused():
    with pytest.raises(InvalidAmount):
        order().mark_paid("pi", eur(1), NOW)


def test_late_payment_of_an_expired_order_becomes_refund_due():
    o = order()
    o.close(OrderStatus.EXPIRED, "timeout", NOW)
    o.refund_due_for_late_payment("pi", eur(50000), "late", NOW)
    assert o.status is OrderStatus.REFUND_DUE and o.payment_ref == "pi"


def investor():
    inv = Investor("i1", "Ana", "ana@example.com", "DE", InvestorKind.INDIVIDUAL, False, NOW)
    inv.classification = Classification.EU_NON_ACCREDITED
    return inv


def test_block_remembers_the_class_and_unblock_restores_it():
    inv = investor()
    assert inv.block("alert", "aml", NOW) is True
    assert inv.block("again", "aml", NOW) is False  # idempotent
    inv.classification = Classification.SANCTIONED
    assert inv.unblock("cleared", "officer", NOW) is Classification.EU_NON_ACCREDITED
    assert not inv.is_blocked and inv.compliance_seq == 2
    with pytest.raises(IllegalTransition):
        inv.unblock("again", "officer", NOW)


def test_block_needs_a_reason():
    with pytest.raises(ValidationFailed):
        investor().block("  ", "aml", NOW)


def instrument(**kw):
    defaults = dict(
        id="x1",
        symbol="SME1",
        name="pool",
        unit_price=eur(10000),
        total_units=100,
        eligible=frozenset({Classification.EU_NON_ACCREDITED}),
        min_ticket=eur(10000),
        max_ticket=eur(1000000),
        created_at=NOW,
    )
    defaults.update(kw)
    return Instrument(**defaults)


def test_instrument_terms_are_validated():
    with pytest.raises(ValidationFailed):
        instrument(eligible=frozenset({Classification.SANCTIONED}))
    with pytest.raises(ValidationFailed):
        instrument(min_ticket=eur(2000000))
    with pytest.raises(ValidationFailed):
        instrument(total_units=0)


def test_an_instrument_opens_only_once_issued_and_matures_only_from_repaying():
    ins = instrument()
    with pytest.raises(IllegalTransition):
        ins.open(NOW)
    ins.issued("0xtoken", (), NOW)
    ins.open(NOW)
    with pytest.raises(IllegalTransition):
        ins.mature(NOW)
    ins.start_repaying(NOW)
    ins.mature(NOW)
    assert ins.status is InstrumentStatus.MATURED


def test_repayment_completes_when_nothing_is_pending_and_counts_held_back_apart():
    r = Repayment("r1", "x1", "2026-11", eur(300), eur(0), False, NOW)
    a = Allocation("a", 1, eur(100), eur(0), 0)
    b = Allocation("b", 2, eur(200), eur(0), 0)
    assert not r.complete_if_done(NOW)  # requested: nothing allocated yet
    r.snapshot(2, "17", NOW)
    assert (r.status, r.as_of, r.snapshot_at) == (RepaymentStatus.DISTRIBUTING, "17", NOW)
    r.hold_back(b, NOW)
    assert not r.complete_if_done(NOW)
    r.open("a")
    r.mark_paid(a, ("0x1",), NOW)
    assert not r.complete_if_done(NOW)  # its batch is still open
    r.close_batch()
    assert r.complete_if_done(NOW)
    assert (r.paid, r.held_back) == (eur(100), eur(200))
    r.mark_paid(b, ("0x2",), NOW)
    assert b.status is AllocationStatus.RELEASED
    assert (r.paid, r.held_back, r.counts()[AllocationStatus.RELEASED]) == (eur(300), eur(0), 1)
    with pytest.raises(IllegalTransition):
        r.mark_paid(b, (), NOW)
    with pytest.raises(IllegalTransition):
        r.snapshot(3, None, NOW)
    with pytest.raises(IllegalTransition):
        r.fail("too late", NOW)  # only a requested repayment can fail


def test_a_requested_repayment_fails_with_its_reason_and_takes_no_snapshot_after():
    r = Repayment("r1", "x1", "2026-11", eur(300), eur(0), False, NOW)
    assert r.status is RepaymentStatus.REQUESTED and r.in_progress
    r.fail("SME1 has no holders to repay", NOW)
    assert (r.status, r.failure, r.in_progress) == (RepaymentStatus.FAILED, "SME1 has no holders to repay", False)
    assert [type(e).__name__ for e in r.events] == ["RepaymentFailed"]
    with pytest.raises(IllegalTransition):
        r.snapshot(2, None, NOW)
    assert not r.complete_if_done(NOW)
