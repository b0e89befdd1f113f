"""The API's request bodies: attrs models, validated by `validation.py` and documented by
`openapi.py` from their types. Each field's bounds (`Annotated[..., Bounds(...)]`) are checked on
input and stated in the document; they are the domain's (`drexfy.domain.bounds`)."""

from __future__ import annotations

from typing import Annotated

import attrs

from drexfy.domain.bounds import MAX_MINOR, MAX_TEXT, MAX_UNITS
from drexfy.domain.classification import Classification
from drexfy.domain.errors import DomainError
from drexfy.domain.model import InvestorKind
from drexfy.domain.money import MINOR_UNITS, Money
from drexfy.entrypoints.http.validation import Bounds, field_error

#: Free text that must say something: not empty, not only spaces.
Text = Annotated[str, Bounds(min_length=1, max_length=MAX_TEXT, pattern=r"\S", means="must not be blank")]
#: An id of ours (`inv_...`, `ins_...`).
Id = Annotated[str, Bounds(min_length=1, max_length=64, pattern=r"\S", means="must not be blank")]
Units = Annotated[int, Bounds(minimum=1, maximum=MAX_UNITS)]
Currency = Annotated[str, Bounds(enum=tuple(MINOR_UNITS))]


@attrs.frozen
class MoneyBody:
    """An amount in minor units (cents) and its ISO 4217 currency."""

    minor: Annotated[int, Bounds(minimum=0, maximum=MAX_MINOR)]
    currency: Currency


@attrs.frozen
class PositiveMoneyBody:
    """A positive amount in minor units (cents) and its ISO 4217 currency."""

    minor: Annotated[int, Bounds(minimum=1, maximum=MAX_MINOR)]
    currency: Currency


def money_of(body: MoneyBody | PositiveMoneyBody, field: str) -> Money:
    """The Money of a body field, or a validation problem naming the field."""
    try:
        return Money(body.minor, body.currency)
    except DomainError as exc:
        raise field_error(field, exc.message) from None


@attrs.frozen
class RegisterInvestorBody:
    """A new investor; `country` is the declared residence (ISO 3166-1 alpha-2)."""

    legal_name: Text
    email: Annotated[
        str, Bounds(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", means="must be an e-mail address")
    ]
    country: Annotated[str, Bounds(pattern=r"^[A-Za-z]{2}$", means="must be an ISO 3166-1 alpha-2 code")]
    kind: InvestorKind
    declared_accredited: bool = False
    auto_cashout: bool = False


@attrs.frozen
class CreateInstrumentBody:
    """A new instrument (DRAFT) issued on the ledger; `class_caps` limits what one investor of a
    class may hold. `total_units * unit_price.minor` must be at most 10^15 - 1."""

    symbol: Annotated[str, Bounds(pattern=r"^[A-Za-z0-9]{2,12}$", means="must be 2-12 letters or digits")]
    name: Text
    unit_price: PositiveMoneyBody
    total_units: Units
    eligible: list[Classification]
    min_ticket: MoneyBody
    max_ticket: PositiveMoneyBody
    class_caps: dict[Classification, PositiveMoneyBody] = attrs.field(factory=dict)


@attrs.frozen
class CreateOrderBody:
    investor_id: Id
    instrument_id: Id
    units: Units


@attrs.frozen
class TriggerRepaymentBody:
    """Interest and principal for a period; `final` redeems every unit (maturity)."""

    period: Annotated[str, Bounds(min_length=1, max_length=64, pattern=r"\S", means="must not be blank")]
    interest: MoneyBody
    principal: MoneyBody
    final: bool = False


@attrs.frozen
class ReasonBody:
    reason: Text


@attrs.frozen
class ForcedTransferBody:
    """The agent moves `units` from one investor to another; `reason` is recorded with the actor."""

    from_investor_id: Id
    to_investor_id: Id
    units: Units
    reason: Text


@attrs.frozen
class WithdrawBody:
    investor_id: Id
    amount: PositiveMoneyBody
