"""The ledger is the register: the store's positions follow the units that move on the ledger.

The platform's own operations (a settlement's delivery, a repayment's retirement, a redemption)
record their position changes themselves. What the store cannot know from its own operations are
transfers between holders on the ledger (eligible holders may transfer units to each other).
`sync_register` reads the instrument's unit movements from the ledger after the instrument's
`register_cursor`, applies those between two investors' wallets to their positions, and moves the
cursor, in one unit of work: each movement is applied exactly once, across crashes, restarts and
several workers (a second reader of the same page loses the version check and reads on from the
cursor the first one saved). Repayments catch the register up before they snapshot the holders and
record the cursor they allocated at (`Repayment.as_of`).
"""

from __future__ import annotations

import logging

from drexfy.domain import events as ev
from drexfy.domain.errors import RegisterBehind
from drexfy.domain.model import Instrument, InstrumentStatus
from drexfy.domain.ports import TransferPage, UnitOfWork
from drexfy.domain.processes.base import Services, in_uow

log = logging.getLogger(__name__)

#: Movements applied per unit of work: two positions each, within one DynamoDB transaction.
PAGE = 40
#: Instruments whose units exist on the ledger (issued and not yet fully redeemed).
LIVE = (InstrumentStatus.OPEN, InstrumentStatus.CLOSED, InstrumentStatus.REPAYING)


async def sync_register(svc: Services, instrument_id: str, max_pages: int | None = None) -> str | None:
    """Apply the instrument's holder-to-holder transfers up to the ledger's confirmed head; the
    cursor reached. RegisterBehind when a sender's position lacks units the ledger says it sent
    (a settlement not recorded yet): nothing of that page is applied, the next call retries."""
    pages = 0
    while max_pages is None or pages < max_pages:
        pages += 1
        async with svc.store.unit_of_work() as uow:
            instrument = await uow.instruments.get(instrument_id)
        if instrument.ledger_ref is None:
            return None
        page = await svc.ledger.transfers(
            instrument.ledger_ref, instrument.register_cursor, PAGE, since=instrument.ledger_position
        )
        seen = instrument.register_cursor

        async def apply(uow: UnitOfWork, page: TransferPage = page, seen: str | None = seen) -> str | None:
            return await _apply(svc, uow, instrument_id, seen, page)

        cursor = await in_uow(svc, apply)
        if page.complete and cursor == page.cursor:
            return cursor
    async with svc.store.unit_of_work() as uow:
        return (await uow.instruments.get(instrument_id)).register_cursor


async def _apply(
    svc: Services, uow: UnitOfWork, instrument_id: str, seen: str | None, page: TransferPage
) -> str | None:
    instrument = await uow.instruments.get(instrument_id)
    if instrument.register_cursor != seen:
        return instrument.register_cursor  # another reader applied this page first
    now = svc.clock.now()
    for transfer in page.transfers:
        if transfer.forced:
            continue  # the agent's forced transfer or recovery: its process (`agent.py`) recorded it
        sender = await uow.investors.get_by_address(transfer.sender)
        receiver = await uow.investors.get_by_address(transfer.receiver)
        if sender is None or receiver is None or sender.id == receiver.id:
            continue  # an issue, delivery, retirement or redemption: its process recorded it
        held = await uow.positions.units(sender.id, instrument_id)
        if held < transfer.units:
            raise RegisterBehind(
                f"{instrument.symbol}: the ledger moved {transfer.units} units from a holder the store "
                f"records with {held}; waiting for its settlement to be recorded"
            )
        await uow.positions.add_units(sender.id, instrument_id, -transfer.units)
        await uow.positions.add_units(receiver.id, instrument_id, transfer.units)
        instrument.events.append(
            ev.UnitsTransferred(instrument_id, now, sender.id, receiver.id, transfer.units, transfer.tx_id)
        )
    instrument.register_cursor = page.cursor
    await uow.instruments.save(instrument)
    return page.cursor


async def sync_registers(svc: Services, max_pages: int = 50) -> int:
    """One pass over every instrument with units on the ledger (the worker runs it beside the
    inbox); the number of instruments whose register could not catch up this time."""
    behind = 0
    after = None
    while True:
        async with svc.store.unit_of_work() as uow:
            instruments: list[Instrument] = await uow.instruments.list(limit=100, after=after)
        if not instruments:
            return behind
        after = instruments[-1].id
        for instrument in instruments:
            if instrument.status not in LIVE or instrument.ledger_ref is None:
                continue
            try:
                await sync_register(svc, instrument.id, max_pages=max_pages)
            except RegisterBehind as waiting:
                log.info("register behind: %s", waiting.message)
                behind += 1
