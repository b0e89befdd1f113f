"""The agent's actions: forced transfer of units between investors, and recovery of a lost wallet.

Both are plain functions of (services, request): the API and the CLI call them directly, and a
four-eyes approval calls them once the second person approves. Each request carries a reason, the
acting principal's subject and an `operation_id` chosen by the caller (an API request's id, an
approval's id): the ledger operations are derived from it (at most once on the ledger per id), and
the store records it with the change (exactly once in the positions). Calling again with the same
request finishes whatever a crash left undone and changes nothing more.

On the ledger the agent's moves are marked `forced`, so the register (`register.py`) leaves them
to these processes.
"""

from __future__ import annotations

import re

import attrs

from drexfy.domain import events as ev
from drexfy.domain.bounds import MAX_TEXT, MAX_UNITS
from drexfy.domain.errors import IllegalTransition, IneligibleTarget, InsufficientFunds, ValidationFailed
from drexfy.domain.model import Instrument, Investor, Wallet
from drexfy.domain.ports import UnitOfWork
from drexfy.domain.processes.base import Services, in_uow

#: An operation id becomes part of ledger operation ids and of the new wallet's vault key id.
OPERATION_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@attrs.frozen
class ForceTransfer:
    """Move `units` of an instrument from one investor to another without the sender's consent."""

    operation_id: str
    instrument_id: str
    from_investor_id: str
    to_investor_id: str
    units: int
    reason: str
    actor: str


@attrs.frozen
class RecoverWallet:
    """Give an investor a new custodial wallet and move every unit of the lost one to it."""

    operation_id: str
    investor_id: str
    reason: str
    actor: str


def _check_request(operation_id: str, reason: str, actor: str) -> None:
    if not OPERATION_ID.match(operation_id):
        raise ValidationFailed("an operation id is 1-64 letters, digits, '_' or '-'")
    if not reason.strip() or len(reason) > MAX_TEXT:
        raise ValidationFailed(f"a reason is required (at most {MAX_TEXT} characters)")
    if not actor.strip():
        raise ValidationFailed("the acting principal must be named")


def _refusals(investor: Investor, instrument: Instrument) -> list[str]:
    """Why the investor may not receive units of the instrument (empty: it may)."""
    reasons = []
    if not investor.is_active or investor.wallet is None:
        reasons.append(f"investor {investor.id} has no active wallet")
    if investor.is_blocked:
        reasons.append(f"investor {investor.id} is blocked")
    if investor.classification not in instrument.eligible:
        reasons.append(f"investor {investor.id}'s class is not eligible for {instrument.symbol}")
    return reasons


async def _recorded(svc: Services, cmd: ForceTransfer) -> ev.UnitsForceTransferred:
    """The event a forced transfer recorded (for a request made again after it was done)."""
    after = None
    while True:
        async with svc.store.unit_of_work() as uow:
            page = await uow.events.list(aggregate_id=cmd.instrument_id, after=after, limit=100)
        for stored in page:
            if stored.name == "UnitsForceTransferred" and stored.payload.get("operation_id") == cmd.operation_id:
                data = stored.payload
                return ev.UnitsForceTransferred(
                    stored.aggregate_id,
                    stored.occurred_at,
                    **{**data, "tx_ids": tuple(data.get("tx_ids", ()))},
                )
        if len(page) < 100:
            raise IllegalTransition(f"operation {cmd.operation_id} left no record")  # pragma: no cover
        after = page[-1].id


async def force_transfer(svc: Services, cmd: ForceTransfer) -> ev.UnitsForceTransferred:
    """The agent moves units on the ledger, then the store moves the positions and records who
    asked and why. The receiver must be able to hold the instrument; the sender must hold the units
    (a frozen sender does not stop it: that is what a forced transfer is for)."""
    _check_request(cmd.operation_id, cmd.reason, cmd.actor)
    if not 0 < cmd.units <= MAX_UNITS:
        raise ValidationFailed(f"units must be from 1 to {MAX_UNITS}")
    if cmd.from_investor_id == cmd.to_investor_id:
        raise ValidationFailed("a forced transfer needs two different investors")
    async with svc.store.unit_of_work() as uow:
        instrument = await uow.instruments.get(cmd.instrument_id)
        sender = await uow.investors.get(cmd.from_investor_id)
        receiver = await uow.investors.get(cmd.to_investor_id)
        held = await uow.positions.units(sender.id, instrument.id)
    if cmd.operation_id in instrument.agent_ops:
        return await _recorded(svc, cmd)  # done before
    if instrument.ledger_ref is None:
        raise IllegalTransition(f"{instrument.symbol} is not issued on the ledger")
    if sender.wallet is None:
        raise IllegalTransition(f"investor {sender.id} has no wallet")
    refusals = _refusals(receiver, instrument)
    if refusals:
        raise IneligibleTarget(refusals)
    if held < cmd.units:
        raise InsufficientFunds(f"investor {sender.id} holds {held} units of {instrument.symbol}, not {cmd.units}")
    assert receiver.wallet is not None
    result = await svc.ledger.force_transfer(
        f"force:{cmd.operation_id}", instrument.ledger_ref, sender.wallet, receiver.wallet, cmd.units
    )

    async def work(uow: UnitOfWork) -> ev.UnitsForceTransferred | None:
        fresh = await uow.instruments.get(cmd.instrument_id)
        if cmd.operation_id in fresh.agent_ops:
            return None  # another attempt recorded it first
        await uow.positions.add_units(sender.id, fresh.id, -cmd.units)
        await uow.positions.add_units(receiver.id, fresh.id, cmd.units)
        fresh.agent_ops = (*fresh.agent_ops, cmd.operation_id)
        event = ev.UnitsForceTransferred(
            fresh.id,
            svc.clock.now(),
            fresh.id,
            sender.id,
            receiver.id,
            cmd.units,
            cmd.reason.strip(),
            cmd.actor,
            cmd.operation_id,
            result.tx_ids,
        )
        fresh.events.append(event)
        await uow.instruments.save(fresh)
        return event

    return await in_uow(svc, work) or await _recorded(svc, cmd)


async def recover_wallet(svc: Services, cmd: RecoverWallet) -> Investor:
    """A new custodial wallet for the investor (a new vault key), activated and classified as the
    lost one; every instrument's units moved to it by the agent; the lost wallet frozen on the
    ledger; then the store pays and delivers to the new wallet. A blocked investor is unblocked
    first (the new wallet would otherwise escape the block)."""
    _check_request(cmd.operation_id, cmd.reason, cmd.actor)
    new_id = f"wallet-{cmd.investor_id}-{cmd.operation_id}"
    async with svc.store.unit_of_work() as uow:
        investor = await uow.investors.get(cmd.investor_id)
        positions = await uow.positions.by_investor(investor.id)
        instruments = [await uow.instruments.get(p.instrument_id) for p in positions]
    if investor.wallet is not None and investor.wallet.id == new_id:
        return investor  # done before
    lost = investor.wallet
    if lost is None or not investor.is_active or investor.classification is None:
        raise IllegalTransition(f"investor {investor.id} has no active, classified wallet to recover")
    if investor.is_blocked:
        raise IllegalTransition(f"investor {investor.id} is blocked: unblock before recovering the wallet")
    public_key = await svc.vault.create_key(new_id)  # idempotent per wallet id
    new = Wallet(new_id, svc.ledger.address_for(public_key), public_key.hex())
    op = f"recover:{cmd.operation_id}"
    tx_ids = list((await svc.ledger.activate_wallet(f"{op}:activate", new)).tx_ids)
    tx_ids += (await svc.ledger.record_classification(f"{op}:classify", new, investor.classification)).tx_ids
    refs = sorted({i.ledger_ref for i in instruments if i.ledger_ref})
    for ref in refs:
        tx_ids += (await svc.ledger.recover_wallet(f"{op}:{ref}", ref, lost, new)).tx_ids
    # Whoever finds the lost key finds a frozen wallet.
    tx_ids += (await svc.ledger.set_frozen(f"{op}:freeze-lost", lost, True, refs)).tx_ids
    event = ev.WalletRecovered(
        investor.id,
        svc.clock.now(),
        lost.address,
        new.id,
        new.address,
        cmd.reason.strip(),
        cmd.actor,
        cmd.operation_id,
        tuple(tx_ids),
    )

    async def work(uow: UnitOfWork) -> Investor:
        fresh = await uow.investors.get(cmd.investor_id)
        if fresh.wallet == lost:
            fresh.replace_wallet(new, event)
            await uow.investors.save(fresh)
        return fresh

    return await in_uow(svc, work)
