"""The scenario's world: the platform's services, a movable clock, a ledger that can crash on cue,
the names the scenario gave to investors, instruments and orders, and the driver that acts."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from drexfy.domain import processes as p
from drexfy.domain.classification import Classification
from drexfy.domain.errors import DomainError
from drexfy.domain.money import Money
from drexfy.domain.ports import Ledger, LedgerResult, Payout, Purchase, RepaymentFunding

if TYPE_CHECKING:
    from tests.bdd.drivers import Driver

T = TypeVar("T")


class FakeClock:
    """A clock the scenario can move forward."""

    def __init__(self) -> None:
        self.current = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> None:
        self.current += delta


class Crash(Exception):
    """The platform process died: raised after the ledger applied an effect, before the store knew."""


class CrashingLedger:
    """Passes every call to the real ledger; for op ids starting with an armed prefix, lets the
    ledger act and then raises Crash, as a process dying right after broadcast would."""

    def __init__(self, inner: Ledger) -> None:
        self._inner = inner
        self.armed: set[str] = set()
        self.kind = inner.kind
        self.currency = inner.currency
        #: Run once right before the next `distribute` (something happening mid-repayment).
        self.before_distribute: Callable[[], Awaitable[Any]] | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def address_for(self, public_key: bytes) -> str:
        return self._inner.address_for(public_key)

    async def distribute(
        self, op_id: str, instrument_ref: str, payouts: Sequence[Payout], funding: RepaymentFunding | None = None
    ) -> LedgerResult:
        hook, self.before_distribute = self.before_distribute, None
        if hook is not None:
            await hook()
        return await self._inner.distribute(op_id, instrument_ref, payouts, funding)

    async def settle_purchase(self, op_id: str, purchase: Purchase) -> LedgerResult:
        result = await self._inner.settle_purchase(op_id, purchase)
        for prefix in list(self.armed):
            if op_id.startswith(prefix):
                self.armed.discard(prefix)
                raise Crash(op_id)
        return result


@attrs.define
class World:
    svc: p.Services
    run: Callable[[Awaitable[Any]], Any]
    clock: FakeClock
    ledger: CrashingLedger
    driver: Driver = attrs.field(default=None)
    investors: dict[str, str] = attrs.field(factory=dict)
    instruments: dict[str, str] = attrs.field(factory=dict)
    orders: dict[str, str] = attrs.field(factory=dict)
    error: Exception | None = None
    settle_txs: dict[str, tuple[str, ...]] = attrs.field(factory=dict)
    #: Bank files of the scenario: the last statement imported, the payout file, payout IBANs.
    bank: dict[str, Any] = attrs.field(factory=dict)
    #: Four-eyes requests by the name of the investor they are about.
    approvals: dict[str, str] = attrs.field(factory=dict)
    #: Each investor's wallet before its recovery.
    lost_wallets: dict[str, Any] = attrs.field(factory=dict)
    #: The local Sumsub fake, in scenarios tagged @sumsub (the KYC provider is the Sumsub adapter).
    sumsub: Any = None

    def investor(self, name: str) -> Any:
        async def get() -> Any:
            async with self.svc.store.unit_of_work() as uow:
                return await uow.investors.get(self.investors[name])

        return self.run(get())

    def instrument(self, symbol: str) -> Any:
        async def get() -> Any:
            async with self.svc.store.unit_of_work() as uow:
                return await uow.instruments.get(self.instruments[symbol])

        return self.run(get())

    def order_of(self, name: str) -> Any:
        async def get() -> Any:
            async with self.svc.store.unit_of_work() as uow:
                return await uow.orders.get(self.orders[name])

        return self.run(get())

    def attempt(self, coro: Awaitable[T]) -> T | None:
        self.error = None
        try:
            return self.run(coro)
        except DomainError as exc:
            self.error = exc
            return None


def eur(text: str) -> Money:
    return Money.parse(text, "EUR")


def classes(text: str) -> frozenset[Classification]:
    return frozenset(Classification[c.strip()] for c in text.split(","))


#: A residence and accreditation that KYC turns into each class.
RESIDENCE = {
    Classification.US_ACCREDITED: ("US", True),
    Classification.US_NON_ACCREDITED: ("US", False),
    Classification.EU_ACCREDITED: ("DE", True),
    Classification.EU_NON_ACCREDITED: ("DE", False),
}
