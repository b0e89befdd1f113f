"""The API's request bodies: attrs models, validated by `validation.py` and documented by
`openapi.py` from their types."""

from __future__ import annotations

import attrs

from drexfy.domain.classification import Classification
from drexfy.domain.errors import (
    DomainError,
)
from drexfy.domain.model import InvestorKind
from drexfy.domain.money import Money
from drexfy.entrypoints.http.validation import field_error


@attrs.frozen
class MoneyBody:
    """An amount in minor units (cents) and its ISO 4217 currency."""

    minor: int
    currency: str


def money_of(body: MoneyBody, field: str) -> Money:
    """The Money of a body field, or a validation problem naming the field."""
    try:
        return Money(body.minor, body.currency.upper())
    except DomainError as exc:
        raise field_error(field, exc.message) from None


@attrs.frozen
class RegisterInvestorBody:
    """A new investor; `country` is the declared residence (ISO 3166-1 alpha-2)."""

    legal_name: str
    email: str
    country: str
    kind: InvestorKind
    declared_accredited: bool = False
    auto_cashout: bool = False


@attrs.frozen
class CreateInstrumentBody:
    """A new instrument (DRAFT) issued on the ledger; `class_caps` limits what one investor of a class may hold."""

    symbol: str
    name: str
    unit_price: MoneyBody
    total_units: int
    eligible: list[Classification]
    min_ticket: MoneyBody
    max_ticket: MoneyBody
    class_caps: dict[Classification, MoneyBody] = attrs.field(factory=dict)


@attrs.frozen
class CreateOrderBody:
    investor_id: str
    instrument_id: str
    units: int


@attrs.frozen
class TriggerRepaymentBody:
    """Interest and principal for a period; `final` redeems every unit (maturity)."""

    period: str
    interest: MoneyBody
    principal: MoneyBody
    final: bool = False


@attrs.frozen
class ReasonBody:
    reason: str


@attrs.frozen
class WithdrawBody:
    investor_id: str
    amount: MoneyBody
