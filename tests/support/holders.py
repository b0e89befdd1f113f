"""Many holders at once, for repayments at scale: investors who passed KYC, with wallets classified
on the memory ledger and units of one instrument, written straight through the store's repositories
(onboarding 100,000 investors through the processes would take hours and prove nothing new)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from drexfy.adapters.local_vault import LocalVault
from drexfy.adapters.memory import MemoryLedger
from drexfy.adapters.memory import _Token as MemoryToken
from drexfy.adapters.sandbox import SandboxKyc, SandboxPayments
from drexfy.adapters.system import UuidIds
from drexfy.domain import processes as p
from drexfy.domain.classification import Classification
from drexfy.domain.model import ComplianceState, Instrument, InstrumentStatus, Investor, InvestorKind, KycStatus, Wallet
from drexfy.domain.money import Money
from drexfy.domain.ports import Store

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
REF = "0x00000000000000000000000000000000000a11ce"


class FixedClock:
    def now(self) -> datetime:
        return T0


def services_over(store: Store, ledger: Any, directory: Path, batch_size: int) -> p.Services:
    """The processes' services over `store` and `ledger`, sandbox providers, repayment batches of
    `batch_size`."""
    return p.Services(
        store=store,
        ledger=ledger,
        vault=LocalVault(directory / "keys", bytes(32)),
        kyc=SandboxKyc(),
        payments=SandboxPayments(),
        clock=FixedClock(),
        ids=UuidIds(),
        settings=p.ProcessSettings(distribution_batch_size=batch_size),
    )


def holder_id(i: int) -> str:
    return f"inv_{i:06d}"


def address_of(i: int) -> str:
    return "0x" + f"{i:040x}"


async def seed_instrument(store: Store, ledger: MemoryLedger, holders: int, units_each: int) -> Instrument:
    """An issued instrument whose every unit is held by the `holders` seeded next."""
    instrument = Instrument(
        id="ins_scale",
        symbol="SCALE26",
        name="Scale pool",
        unit_price=Money(100_00, "EUR"),
        total_units=holders * units_each,
        eligible=frozenset({Classification.EU_ACCREDITED}),
        min_ticket=Money(100_00, "EUR"),
        max_ticket=Money(10**9, "EUR"),
        created_at=T0,
        status=InstrumentStatus.OPEN,
        units_sold=holders * units_each,
        ledger_ref=REF,
    )
    async with store.unit_of_work() as uow:
        await uow.instruments.add(instrument)
        await uow.commit()
    ledger.tokens[REF] = MemoryToken("SCALE26", instrument.eligible, instrument.total_units)
    return instrument


async def seed_holders(
    store: Store,
    ledger: MemoryLedger,
    instrument: Instrument,
    count: int,
    units_each: int,
    chunk: int = 500,
    address: Callable[[int], str] = address_of,
) -> list[str]:
    """`count` active investors holding `units_each` units each; their ids, in order.

    On DynamoDB the items the repositories would write are sent with BatchWriteItem instead of one
    transaction per chunk: moto copies the whole table for every transaction, so seeding thousands
    through transactions takes minutes (and its slow answers make botocore retry a commit that
    already happened: moto does not honour ClientRequestToken)."""
    token = ledger.tokens[REF]
    ids = []
    table = getattr(store, "table", None)
    for start in range(0, count, chunk):
        async with store.unit_of_work() as uow:
            for i in range(start, min(start + chunk, count)):
                investor = _investor(i, address(i))
                await uow.investors.add(investor)
                await uow.positions.add_units(investor.id, instrument.id, units_each)
                ids.append(investor.id)
                ledger.classes[address(i)] = Classification.EU_ACCREDITED
                token.balances[address(i)] = units_each
            if table is None:
                await uow.commit()
            else:
                pending = uow._writes.values()  # the repositories own items (test support)
                await table.batch_write(puts=[w.apply(None) for w in pending])
    return ids


def _investor(i: int, address: str) -> Investor:
    return Investor(
        id=holder_id(i),
        legal_name=f"Holder {i}",
        email=f"holder{i}@example.com",
        country="DE",
        kind=InvestorKind.INDIVIDUAL,
        declared_accredited=True,
        created_at=T0,
        kyc_status=KycStatus.ACTIVE,
        compliance=ComplianceState.CLEAR,
        wallet=Wallet(id=f"w_{i}", address=address, public_key="02" + f"{i:064x}"),
        wallet_activated=True,
        classification=Classification.EU_ACCREDITED,
        classification_seq=1,
    )
