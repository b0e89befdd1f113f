"""What every process shares: business settings, the `Services` bundle and the unit-of-work
retry helper."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import TypeVar

import attrs

from drexfy.domain.errors import Conflict
from drexfy.domain.model import DEFAULT_RESERVATION
from drexfy.domain.ports import (
    BankFiles,
    Clock,
    IdGenerator,
    KeyVault,
    KycProvider,
    Ledger,
    PaymentGateway,
    Store,
    UnitOfWork,
)

T = TypeVar("T")


@attrs.frozen
class ProcessSettings:
    """Business settings of the processes."""

    reservation: timedelta = DEFAULT_RESERVATION
    #: Residences outside the US and the EU/EEA that the operator maps explicitly ("CH" -> "EU").
    region_overrides: Mapping[str, str] = attrs.field(factory=dict)
    #: Holders paid per ledger operation in a repayment round.
    distribution_batch_size: int = 200
    #: How long one attempt may hold an order's settlement before another may take over (a worker
    #: that died mid-settlement); the ledger's operation id makes the takeover safe.
    settlement_lease: timedelta = timedelta(seconds=45)
    #: A paid order still unsettled after this long is a stalled settlement: reconciliation reports
    #: it as drift (a customer paid and holds nothing yet).
    settlement_stall: timedelta = timedelta(minutes=10)
    #: A refund the gateway could not be asked for is asked again after this long; a failed refund
    #: after this long, doubling per failure (up to a day).
    refund_retry: timedelta = timedelta(minutes=5)
    #: The largest bank credit minted without an operator (`bank.max_deposit_minor`); a larger one
    #: is listed as unmatched.
    max_deposit_minor: int = 100_000_000


@attrs.frozen
class Services:
    """Everything a process may use; built by the container from configuration."""

    store: Store
    ledger: Ledger
    vault: KeyVault
    kyc: KycProvider
    payments: PaymentGateway
    clock: Clock
    ids: IdGenerator
    settings: ProcessSettings = attrs.field(factory=ProcessSettings)
    #: The platform's bank account files (payout IBANs, pain.001, camt); None when not configured.
    bank: BankFiles | None = None


async def in_uow(svc: Services, work: Callable[[UnitOfWork], Awaitable[T]], attempts: int = 5) -> T:
    """Run `work` in a unit of work and commit; retry from fresh state on an optimistic Conflict."""
    for attempt in range(attempts):
        try:
            async with svc.store.unit_of_work() as uow:
                result = await work(uow)
                await uow.commit()
                return result
        except Conflict:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")
