"""Eligibility rules: every refusal has a reason."""

from datetime import UTC, datetime

import pytest

from drexfy.domain.classification import Classification
from drexfy.domain.errors import InvestorBlocked, NotEligible, SoldOut
from drexfy.domain.model import Instrument, InstrumentStatus, Investor, InvestorKind, KycStatus, Wallet
from drexfy.domain.money import Money
from drexfy.domain.rules import check_may_withdraw, check_purchase, purchase_refusals

NOW = datetime(2026, 11, 2, tzinfo=UTC)


def eur(minor):
    return Money(minor, "EUR")


def active(cls=Classification.EU_NON_ACCREDITED):
    inv = Investor("i1", "Ana", "ana@example.com", "DE", InvestorKind.INDIVIDUAL, False, NOW)
    inv.kyc_status = KycStatus.ACTIVE
    inv.classification = cls
    inv.wallet = Wallet("w1", "0xabc", "02ab")
    return inv


def sme(**kw):
    defaults = dict(
        id="x1",
        symbol="SME1",
        name="pool",
        unit_price=eur(10000),
        total_units=100,
        eligible=frozenset({Classification.EU_NON_ACCREDITED, Classification.US_ACCREDITED}),
        min_ticket=eur(10000),
        max_ticket=eur(500000),
        created_at=NOW,
        status=InstrumentStatus.OPEN,
        class_caps={Classification.EU_NON_ACCREDITED: eur(100000)},
    )
    defaults.update(kw)
    return Instrument(**defaults)


def test_an_eligible_order_passes():
    check_purchase(active(), sme(), 5, None, NOW)


def test_every_reason_is_reported():
    inv = active(Classification.EU_ACCREDITED)
    reasons = purchase_refusals(inv, sme(status=InstrumentStatus.CLOSED), 60, None, NOW)
    assert any("not eligible" in r for r in reasons)
    assert any("not open" in r for r in reasons)
    assert any("above the maximum" in r for r in reasons)


def test_the_class_cap_counts_what_is_already_committed():
    with pytest.raises(NotEligible, match=r"at most 1000\.00 EUR"):
        check_purchase(active(), sme(), 3, eur(80000), NOW)
    check_purchase(active(), sme(), 2, eur(80000), NOW)


def test_sold_out_is_its_own_error():
    with pytest.raises(SoldOut, match="only 4 units"):
        check_purchase(active(Classification.US_ACCREDITED), sme(units_sold=96), 5, None, NOW)


def test_blocked_and_sanctioned_investors_cannot_buy_or_withdraw():
    inv = active()
    inv.block("OFAC list match 17", "aml", NOW)
    with pytest.raises(InvestorBlocked) as refused:
        check_purchase(inv, sme(), 1, None, NOW)
    with pytest.raises(InvestorBlocked):
        check_may_withdraw(inv)
    # The refusal reaches the investor: restricted, never the reason (no tipping-off).
    assert "restricted" in str(refused.value) and "OFAC" not in str(refused.value)
    sanctioned = active(Classification.SANCTIONED)
    with pytest.raises(NotEligible, match="restricted") as refused:
        check_may_withdraw(sanctioned)
    assert "SANCTIONED" not in str(refused.value)


def test_below_minimum_ticket_and_non_positive_units():
    assert any("below the minimum" in r for r in purchase_refusals(active(), sme(min_ticket=eur(20000)), 1, None, NOW))
    assert any("positive" in r for r in purchase_refusals(active(), sme(), 0, None, NOW))
