"""`drexfy demo`: the whole lifecycle through the processes, on embedded defaults.

Three investors (US accredited; EU non-accredited under a cap; one later flagged by AML) are
onboarded, buy, get a monthly repayment, one is blocked (share held back) and unblocked (released),
and the instrument is finally redeemed. Each step prints what happened with transaction ids and
balances; a check after each step makes the command exit non-zero if the step did not do what it says.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from drexfy.domain import processes as p
from drexfy.domain.classification import Classification
from drexfy.domain.errors import DomainError, NotEligible
from drexfy.domain.model import (
    Allocation,
    AllocationStatus,
    Instrument,
    InstrumentStatus,
    Investor,
    InvestorKind,
    OrderStatus,
    Wallet,
)
from drexfy.domain.money import Money
from drexfy.domain.processes import queries as q
from drexfy.domain.provider_events import AmlAlert, KycResult, PaymentEvent, PaymentEventKind
from drexfy.entrypoints.config import load_settings
from drexfy.entrypoints.container import build_container


class DemoFailed(Exception):
    """A step did not do what it says."""


def _eur(text: str) -> Money:
    return Money.parse(text, "EUR")


def _wallet(investor: Investor) -> Wallet:
    if investor.wallet is None:
        raise DemoFailed(f"{investor.legal_name} has no wallet")
    return investor.wallet


def _cls(investor_or_class: Investor | Classification | None) -> str:
    cls = investor_or_class.classification if isinstance(investor_or_class, Investor) else investor_or_class
    return cls.name if cls is not None else "NONE"


def _ref(instrument: Instrument) -> str:
    if instrument.ledger_ref is None:
        raise DemoFailed(f"{instrument.symbol} is not issued on the ledger")
    return instrument.ledger_ref


def _short(tx_ids: tuple[str, ...] | list[str]) -> str:
    return ", ".join(t if len(t) <= 20 else f"{t[:12]}…{t[-6:]}" for t in tx_ids) or "-"


class Demo:
    def __init__(self, svc: p.Services, out: Callable[[str], None]) -> None:
        self.svc = svc
        self.out = out
        self.ids: dict[str, str] = {}
        self.step_no = 0

    def step(self, title: str) -> None:
        self.step_no += 1
        self.out(f"\n[{self.step_no:02d}] {title}")

    def say(self, text: str) -> None:
        self.out(f"     {text}")

    @staticmethod
    def check(condition: bool, message: str) -> None:
        if not condition:
            raise DemoFailed(message)

    async def investor(self, name: str) -> Any:
        async with self.svc.store.unit_of_work() as uow:
            return await uow.investors.get(self.ids[name])

    async def balance(self, name: str) -> Money:
        investor = await self.investor(name)
        return await self.svc.ledger.stablecoin_balance(_wallet(investor).address)

    async def units(self, name: str, symbol: str) -> tuple[int, int]:
        investor = await self.investor(name)
        async with self.svc.store.unit_of_work() as uow:
            instrument = await uow.instruments.get(self.ids[symbol])
            in_store = await uow.positions.units(investor.id, instrument.id)
        on_ledger = await self.svc.ledger.units_of(_ref(instrument), _wallet(investor).address)
        return in_store, on_ledger

    async def onboard(self, name: str, country: str, accredited: bool, expected: Classification) -> None:
        investor = await p.register_investor(
            self.svc,
            p.RegisterInvestor(
                f"{name} Example", f"{name.lower()}@example.com", country, InvestorKind.INDIVIDUAL, accredited
            ),
        )
        self.ids[name] = investor.id
        session = await p.start_kyc(self.svc, investor.id)
        investor = await p.handle_kyc_result(
            self.svc,
            KycResult(session.applicant_id, approved=True, verified_country=country, accreditation_verified=accredited),
        )
        self.check(investor.classification is expected, f"{name} should be {expected.name}")
        on_chain = await self.svc.ledger.classification_of(_wallet(investor).address)
        self.check(on_chain is expected, f"{name}'s classification on the ledger is {on_chain}")
        self.say(
            f"{name:<6} {country}  wallet {_wallet(investor).address}  class {expected.name} (on chain: {_cls(on_chain)})"
        )

    async def buy(self, name: str, symbol: str, units: int) -> None:
        order = await p.create_order(self.svc, p.CreateOrder(self.ids[name], self.ids[symbol], units))
        self.say(f"{name} ordered {units} {symbol} for {order.amount}; checkout {order.checkout_ref}")
        event = PaymentEvent(f"evt_{order.id}", PaymentEventKind.SUCCEEDED, order.id, f"pi_{order.id}", order.amount)
        order = await p.handle_payment(self.svc, event)
        self.check(order.status is OrderStatus.SETTLED, f"{name}'s order is {order.status.value}: {order.reason}")
        held = await self.units(name, symbol)
        self.check(held[0] == held[1], f"{name}: store says {held[0]} units, ledger says {held[1]}")
        self.say(f"  paid -> settled in tx {_short(order.tx_ids)}; {name} holds {held[1]} {symbol} on chain")

    async def repay(
        self, symbol: str, period: str, interest: str, principal: str, final: bool = False
    ) -> dict[str, Allocation]:
        """Run the repayment and print each holder's share; the shares by investor id."""
        repayment = await p.trigger_repayment(
            self.svc, p.TriggerRepayment(self.ids[symbol], period, _eur(interest), _eur(principal), final)
        )
        shares = (await q.repayment_allocations(self.svc, repayment.id, limit=500)).items
        self.check(
            sum(a.amount.minor for a in shares) == repayment.total.minor,
            "allocations do not sum to the amount",
        )
        for allocation in shares:
            name = next(n for n, i in self.ids.items() if i == allocation.investor_id)
            self.say(
                f"{name:<6} {allocation.units_held:>5} units  interest {allocation.interest}  principal "
                f"{allocation.principal}  retires {allocation.units_retired:>3}  {allocation.status.value:<9} "
                f"tx {_short(allocation.tx_ids)}"
            )
        return {a.investor_id: a for a in shares}

    async def run(self) -> None:
        svc = self.svc
        self.out(
            f"Drexfy demo on the {svc.ledger.kind} ledger"
            + {
                "memory": " (in-memory: no chain; run with --ledger evm for the embedded EVM)",
                "evm": " (embedded in-process EVM unless an RPC URL is configured)",
                "xrpl": "",
            }.get(svc.ledger.kind, "")
        )

        self.step("The securitization company issues two instruments")
        pool = await p.create_instrument(
            svc,
            p.CreateInstrument(
                symbol="SMEA26",
                name="SME credit pool A 2026",
                unit_price=_eur("100.00"),
                total_units=10_000,
                eligible=frozenset(
                    {Classification.US_ACCREDITED, Classification.EU_ACCREDITED, Classification.EU_NON_ACCREDITED}
                ),
                min_ticket=_eur("100.00"),
                max_ticket=_eur("100000.00"),
                class_caps={Classification.EU_NON_ACCREDITED: _eur("5000.00")},
            ),
        )
        pool = await p.open_instrument(svc, pool.id)
        us_only = await p.create_instrument(
            svc,
            p.CreateInstrument(
                symbol="SMEUS26",
                name="SME credit pool US 2026 (US accredited only)",
                unit_price=_eur("1000.00"),
                total_units=500,
                eligible=frozenset({Classification.US_ACCREDITED}),
                min_ticket=_eur("1000.00"),
                max_ticket=_eur("100000.00"),
            ),
        )
        us_only = await p.open_instrument(svc, us_only.id)
        self.ids.update({"SMEA26": pool.id, "SMEUS26": us_only.id})
        self.say(f"SMEA26  10,000 units at 100.00 EUR, token {pool.ledger_ref}; EU retail capped at 5,000.00 EUR")
        self.say(f"SMEUS26    500 units at 1,000.00 EUR, token {us_only.ledger_ref}; US accredited only")

        self.step("Investors register and pass KYC: custodial wallets, classification tokens on chain")
        await self.onboard("Alice", "US", True, Classification.US_ACCREDITED)
        await self.onboard("Bruno", "DE", False, Classification.EU_NON_ACCREDITED)
        await self.onboard("Carla", "FR", True, Classification.EU_ACCREDITED)

        self.step("Purchases: paid by card, settled on chain (mint 1:1, pay the issuer, deliver units)")
        await self.buy("Alice", "SMEA26", 200)
        await self.buy("Bruno", "SMEA26", 40)
        await self.buy("Carla", "SMEA26", 100)
        await self.buy("Alice", "SMEUS26", 5)

        self.step("Refusals: an ineligible class and a ticket above the retail cap")
        for name, symbol, units in (("Bruno", "SMEUS26", 1), ("Bruno", "SMEA26", 20)):
            try:
                await p.create_order(svc, p.CreateOrder(self.ids[name], self.ids[symbol], units))
            except NotEligible as refused:
                self.say(f"{name} x{units} {symbol}: refused: {refused.message}")
            else:
                raise DemoFailed(f"{name}'s order of {symbol} should have been refused")

        self.step("Monthly repayment of SMEA26 (2026-11): interest 1,234.56 EUR, principal 3,400.00 EUR")
        first = await self.repay("SMEA26", "2026-11", "1234.56", "3400.00")
        self.check(all(a.status is AllocationStatus.PAID for a in first.values()), "every share should be paid")

        self.step(
            "AML monitoring flags Carla: blocked, wallet frozen on chain (neutral: no SANCTIONED until confirmed)"
        )
        carla = await p.handle_aml_alert(
            svc, AmlAlert("aml-demo-1", None, self.ids["Carla"], True, "sanctions list update")
        )
        on_chain = await svc.ledger.classification_of(_wallet(carla).address)
        frozen = await svc.ledger.is_frozen(_wallet(carla).address)
        self.check(
            carla.is_blocked and on_chain is not Classification.SANCTIONED and frozen, "Carla is not frozen neutrally"
        )
        self.say(f"Carla blocked ({carla.blocked_reason}); on chain: {_cls(on_chain)}, frozen={frozen}")
        try:
            await p.create_order(svc, p.CreateOrder(self.ids["Carla"], self.ids["SMEA26"], 1))
            raise DemoFailed("a blocked investor could buy")
        except NotEligible as refused:
            self.say(f"Carla tries to buy: refused: {refused.message}")

        self.step("Repayment of SMEA26 (2026-12) while Carla is blocked: her share is held back")
        second = await self.repay("SMEA26", "2026-12", "1100.00", "0.00")
        held = second[self.ids["Carla"]]
        self.check(held.status is AllocationStatus.HELD_BACK, "Carla's share was not held back")
        carla_before = await self.balance("Carla")

        self.step("A compliance officer unblocks Carla: class restored, wallet unfrozen, share released")
        carla = await p.unblock_investor(svc, self.ids["Carla"], "false positive after review", "officer-1")
        on_chain = await svc.ledger.classification_of(_wallet(carla).address)
        carla_after = await self.balance("Carla")
        self.check(on_chain is Classification.EU_ACCREDITED, f"Carla's class on chain is {on_chain}")
        self.check(carla_after - carla_before == held.amount, "the held-back share was not released")
        self.say(f"Carla unblocked; on chain {_cls(on_chain)}; released {held.amount} (balance {carla_after})")

        self.step("Bruno cashes out 500.00 EUR of stablecoin (burned, payout recorded)")
        before = await self.balance("Bruno")
        withdrawal = await p.withdraw(svc, p.Withdraw(self.ids["Bruno"], _eur("500.00")))
        after = await self.balance("Bruno")
        self.check(before - after == _eur("500.00"), "the withdrawal did not burn 500.00 EUR")
        self.say(f"burned in tx {_short(withdrawal.tx_ids)}; Bruno's balance {before} -> {after}")

        self.step("Final redemption of SMEA26 at maturity: every unit retired and burned")
        async with svc.store.unit_of_work() as uow:
            outstanding = (await uow.instruments.get(pool.id)).units_outstanding
        principal = pool.unit_price * outstanding
        await self.repay("SMEA26", "2027-12", "950.00", str(principal.as_decimal()), final=True)
        async with svc.store.unit_of_work() as uow:
            pool = await uow.instruments.get(pool.id)
        left = await svc.ledger.holders(_ref(pool))
        self.check(pool.status is InstrumentStatus.MATURED and not dict(left), "units remain after redemption")
        self.say(f"SMEA26 {pool.status.value}; units left on chain: {sum(left.values())}")

        self.step("Reconciliation: ledger vs store")
        for symbol in ("SMEA26", "SMEUS26"):
            drift = (await p.reconcile(svc, self.ids[symbol])).drift
            self.check(not drift, f"{symbol} drifts: {drift}")
            self.say(f"{symbol}: no drift")

        self.out("\nClosing table")
        self.out(
            f"  {'investor':<8} {'class':<18} {'status':<8} {'SMEA26':>7} {'SMEUS26':>8} {'stablecoin':>14} {'held back':>10}"
        )
        for name in ("Alice", "Bruno", "Carla"):
            investor = await self.investor(name)
            view = await p.investor_view(svc, investor.id)
            held_back = sum((h.amount.minor for h in view.held_back), 0)
            a = (await self.units(name, "SMEA26"))[1]
            u = (await self.units(name, "SMEUS26"))[1]
            self.out(
                f"  {name:<8} {_cls(investor):<18} "
                f"{'BLOCKED' if investor.is_blocked else 'ACTIVE':<8} {a:>7} {u:>8} "
                f"{await self.balance(name)!s:>14} {Money(held_back, 'EUR')!s:>10}"
            )
        self.out("\nDemo finished: every step did what it says.")


async def run_demo(ledger: str, data_dir: Path | None, out: Callable[[str], None] = print) -> None:
    with tempfile.TemporaryDirectory(prefix="drexfy-demo-") as tmp:
        overrides: dict[str, Any] = {"data_dir": str(data_dir or tmp), "ledger.kind": ledger}
        settings = load_settings(overrides=overrides)
        container = build_container(settings)
        svc: p.Services = await container.services()  # type: ignore[misc]
        try:
            await Demo(svc, out).run()
        finally:
            shutdown = container.shutdown_resources()
            if shutdown is not None:
                await shutdown


def main(args: Any) -> int:
    if getattr(args, "via", "processes") == "http":
        from drexfy.entrypoints.demo_http import cmd_demo_http

        return cmd_demo_http(args)
    if args.ledger == "xrpl" and not os.environ.get("DREXFY_LEDGER__XRPL__RPC_URL"):
        # No XRPL node configured: run against the rippled-compatible ledger double of the test
        # suite (a checkout's tests/support), started for the demo and stopped after.
        from drexfy.entrypoints.xrpl_setup import demo_double

        with demo_double(args.data_dir) as data_dir:
            return _run(args.ledger, Path(data_dir))
    return _run(args.ledger, Path(args.data_dir) if args.data_dir else None)


def _run(ledger: str, data_dir: Path | None) -> int:
    try:
        asyncio.run(run_demo(ledger, data_dir))
    except DemoFailed as failed:
        print(f"\nDEMO FAILED: {failed}", file=sys.stderr)
        return 1
    except DomainError as error:
        print(f"\nDEMO FAILED: {type(error).__name__}: {error.message}", file=sys.stderr)
        return 1
    return 0
