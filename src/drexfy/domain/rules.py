"""Eligibility as pure rules. Each refusal comes with a reason a person can read."""

from __future__ import annotations

from datetime import datetime

from drexfy.domain.classification import Classification
from drexfy.domain.errors import InvestorBlocked, NotEligible, SoldOut
from drexfy.domain.events import SUPPORT_MESSAGE
from drexfy.domain.model import Instrument, InstrumentStatus, Investor, KycStatus
from drexfy.domain.money import Money


def investor_refusals(investor: Investor) -> list[str]:
    """Why this investor may not trade or withdraw at all (empty if they may)."""
    reasons: list[str] = []
    # Refusals reach the investor: a restriction is named, never its AML reason (no tipping-off).
    if investor.is_blocked or investor.classification is Classification.SANCTIONED:
        reasons.append(f"investor account is restricted: {SUPPORT_MESSAGE}")
    if investor.kyc_status is not KycStatus.ACTIVE:
        reasons.append(f"investor has not completed KYC (status {investor.kyc_status.value})")
    if investor.wallet is None:
        reasons.append("investor has no wallet")
    return reasons


def holding_refusals(investor: Investor, instrument: Instrument) -> list[str]:
    """Why this investor may not hold the instrument (the rule the ledger also enforces)."""
    reasons = investor_refusals(investor)
    restricted = investor.is_blocked or investor.classification is Classification.SANCTIONED
    if not restricted and investor.classification is not None and investor.classification not in instrument.eligible:
        allowed = ", ".join(sorted(c.name for c in instrument.eligible))
        reasons.append(
            f"classification {investor.classification.name} is not eligible for {instrument.symbol} (eligible: {allowed})"
        )
    return reasons


def purchase_refusals(
    investor: Investor, instrument: Instrument, units: int, committed: Money | None, now: datetime
) -> list[str]:
    """Every reason an order of `units` may not be placed; `committed` is what the investor already
    has ordered or holds in the instrument (for per-class caps)."""
    reasons = holding_refusals(investor, instrument)
    if instrument.status is not InstrumentStatus.OPEN:
        reasons.append(f"the sale of {instrument.symbol} is not open (status {instrument.status.value})")
    if units <= 0:
        reasons.append("units must be a positive whole number")
        return reasons
    amount = instrument.price_of(units)
    if amount < instrument.min_ticket:
        reasons.append(f"ticket {amount} is below the minimum of {instrument.min_ticket}")
    if amount > instrument.max_ticket:
        reasons.append(f"ticket {amount} is above the maximum of {instrument.max_ticket}")
    cap = instrument.class_caps.get(investor.classification) if investor.classification else None
    if cap is not None:
        already = committed or Money.zero(instrument.currency)
        if already + amount > cap:
            reasons.append(
                f"{investor.classification.name if investor.classification else ''} investors may hold at most "
                f"{cap} of {instrument.symbol}; {already} already committed"
            )
    if units > instrument.units_available:
        reasons.append(f"only {instrument.units_available} units of {instrument.symbol} are left")
    return reasons


def check_purchase(
    investor: Investor, instrument: Instrument, units: int, committed: Money | None, now: datetime
) -> None:
    """Raise the most specific error naming every refusal, or return if the order may be placed."""
    reasons = purchase_refusals(investor, instrument, units, committed, now)
    if not reasons:
        return
    if investor.is_blocked:
        raise InvestorBlocked(reasons)
    if len(reasons) == 1 and reasons[0].startswith("only "):
        raise SoldOut(reasons)
    raise NotEligible(reasons)


def check_may_withdraw(investor: Investor) -> None:
    reasons = investor_refusals(investor)
    if investor.is_blocked:
        raise InvestorBlocked(reasons)
    if reasons:
        raise NotEligible(reasons)
