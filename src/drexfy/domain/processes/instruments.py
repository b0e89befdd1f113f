"""Instruments: created, issued on the ledger, opened and closed for sale."""

from __future__ import annotations

import re
from collections.abc import Mapping

import attrs

from drexfy.domain import events as ev
from drexfy.domain.bounds import check_text
from drexfy.domain.classification import Classification
from drexfy.domain.errors import DuplicateEntity, ValidationFailed
from drexfy.domain.model import Instrument
from drexfy.domain.money import Money
from drexfy.domain.ports import InstrumentSpec, UnitOfWork
from drexfy.domain.processes.base import Services, in_uow

_SYMBOL = re.compile(r"^[A-Z0-9]{2,12}$")


@attrs.frozen
class CreateInstrument:
    symbol: str
    name: str
    unit_price: Money
    total_units: int
    eligible: frozenset[Classification]
    min_ticket: Money
    max_ticket: Money
    class_caps: Mapping[Classification, Money] = attrs.field(factory=dict)


async def create_instrument(svc: Services, cmd: CreateInstrument) -> Instrument:
    """Create an instrument (DRAFT) and issue its token on the ledger."""
    check_text(cmd.symbol, "symbol")
    check_text(cmd.name, "name")
    symbol = cmd.symbol.strip().upper()
    if not _SYMBOL.match(symbol):
        raise ValidationFailed("symbol must be 2-12 upper-case letters or digits")
    if cmd.unit_price.currency != svc.ledger.currency:
        raise ValidationFailed(f"instruments are sold in the ledger's stablecoin currency {svc.ledger.currency}")
    for cls, cap in cmd.class_caps.items():
        if cap.currency != cmd.unit_price.currency or not cap.is_positive():
            raise ValidationFailed(f"cap for {cls.name} must be a positive amount in {cmd.unit_price.currency}")

    async def work(uow: UnitOfWork) -> Instrument:
        if await uow.instruments.get_by_symbol(symbol) is not None:
            raise DuplicateEntity(f"an instrument with symbol {symbol} exists")
        now = svc.clock.now()
        instrument = Instrument(
            id=svc.ids.new("ins"),
            symbol=symbol,
            name=cmd.name.strip() or symbol,
            unit_price=cmd.unit_price,
            total_units=cmd.total_units,
            eligible=frozenset(cmd.eligible),
            min_ticket=cmd.min_ticket,
            max_ticket=cmd.max_ticket,
            class_caps=dict(cmd.class_caps),
            created_at=now,
        )
        instrument.events.append(
            ev.InstrumentCreated(
                instrument.id, now, symbol, cmd.total_units, cmd.unit_price.minor, cmd.unit_price.currency
            )
        )
        await uow.instruments.add(instrument)
        return instrument

    instrument = await in_uow(svc, work)
    return await issue_instrument(svc, instrument.id)


async def issue_instrument(svc: Services, instrument_id: str) -> Instrument:
    """Issue the instrument's token on the ledger if it is not issued yet (resumable)."""
    async with svc.store.unit_of_work() as uow:
        instrument = await uow.instruments.get(instrument_id)
    if instrument.ledger_ref is not None:
        return instrument
    issued = await svc.ledger.issue_instrument(
        f"issue:{instrument.id}",
        InstrumentSpec(
            instrument.id,
            instrument.symbol,
            instrument.name,
            instrument.total_units,
            instrument.eligible,
            instrument.unit_price,
        ),
    )

    async def work(uow: UnitOfWork) -> Instrument:
        fresh = await uow.instruments.get(instrument_id)
        if fresh.ledger_ref is None:
            fresh.issued(issued.ledger_ref, issued.tx_ids, svc.clock.now(), issued.position)
            await uow.instruments.save(fresh)
        return fresh

    return await in_uow(svc, work)


async def open_instrument(svc: Services, instrument_id: str) -> Instrument:
    instrument = await issue_instrument(svc, instrument_id)

    async def work(uow: UnitOfWork) -> Instrument:
        fresh = await uow.instruments.get(instrument.id)
        fresh.open(svc.clock.now())
        await uow.instruments.save(fresh)
        return fresh

    return await in_uow(svc, work)


async def close_instrument(svc: Services, instrument_id: str) -> Instrument:
    async def work(uow: UnitOfWork) -> Instrument:
        fresh = await uow.instruments.get(instrument_id)
        fresh.close(svc.clock.now())
        await uow.instruments.save(fresh)
        return fresh

    return await in_uow(svc, work)
