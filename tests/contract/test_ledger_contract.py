"""The Ledger port's contract, run against every ledger adapter (memory, EVM on anvil, XRPL double).

What every ledger must do, whatever its technology: at-most-once effect per operation id, a
conflict when an id is reused for another intent, and its own compliance rules on chain (an
unclassified, ineligible, sanctioned or frozen party is refused with ComplianceRejected).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import attrs
import pytest

from drexfy.domain.classification import Classification
from drexfy.domain.errors import ComplianceRejected, LedgerRejected, OperationConflict
from drexfy.domain.model import Wallet
from drexfy.domain.money import Money
from drexfy.domain.ports import InstrumentSpec, Ledger, Payout, Purchase
from drexfy.entrypoints.config import load_settings
from drexfy.entrypoints.container import build_container
from tests.support.ledgers import LEDGER_KINDS, ledger_overrides


@attrs.define
class Bench:
    ledger: Ledger
    vault: Any
    run: Any
    n: int = 0

    def wallet(self, cls: Classification | None = None) -> Wallet:
        """A new activated wallet, classified `cls` when given."""
        self.n += 1
        # Unique per test: the EVM and XRPL stacks share one chain and vault per test process.
        wallet_id = f"wallet-contract-{uuid.uuid4().hex[:12]}-{self.n}"
        public = self.run(self.vault.create_key(wallet_id))
        wallet = Wallet(wallet_id, self.ledger.address_for(public), public.hex())
        self.run(self.ledger.activate_wallet(f"activate:{wallet_id}", wallet))
        if cls is not None:
            self.run(self.ledger.record_classification(f"classify:{wallet_id}:1", wallet, cls))
        return wallet

    def instrument(self, symbol: str, eligible: set[Classification]) -> str:
        spec = InstrumentSpec(f"ins-{symbol}", symbol, f"{symbol} pool", 1000, frozenset(eligible), Money(10000, "EUR"))
        return str(self.run(self.ledger.issue_instrument(f"issue:{symbol}", spec)).ledger_ref)


@pytest.fixture(params=LEDGER_KINDS)
def bench(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Bench]:
    kind = request.param
    loop = asyncio.new_event_loop()
    overrides = {"data_dir": str(tmp_path), **ledger_overrides(kind, request, tmp_path)}
    container = build_container(load_settings(env={}, overrides=overrides))

    async def start() -> Any:
        return await container.services()

    async def stop() -> None:
        shutdown = container.shutdown_resources()
        if shutdown is not None:
            await shutdown

    services = loop.run_until_complete(start())
    yield Bench(services.ledger, services.vault, loop.run_until_complete)
    loop.run_until_complete(stop())
    loop.close()


EU = Classification.EU_NON_ACCREDITED
US = Classification.US_ACCREDITED


def purchase(order: str, wallet: Wallet, ref: str, units: int) -> Purchase:
    return Purchase(order, wallet, ref, units, Money(units * 10000, "EUR"))


def test_a_settlement_delivers_units_and_pays_the_issuer(bench: Bench) -> None:
    ref = bench.instrument("CT1", {EU})
    buyer = bench.wallet(EU)
    result = bench.run(bench.ledger.settle_purchase("settle:o1", purchase("o1", buyer, ref, 3)))
    assert result.tx_ids
    assert bench.run(bench.ledger.units_of(ref, buyer.address)) == 3
    assert bench.run(bench.ledger.stablecoin_balance(buyer.address)) == Money(0, "EUR")
    assert dict(bench.run(bench.ledger.holders(ref))) == {buyer.address: 3}


def test_the_same_operation_id_takes_effect_once(bench: Bench) -> None:
    ref = bench.instrument("CT2", {EU})
    buyer = bench.wallet(EU)
    first = bench.run(bench.ledger.settle_purchase("settle:o2", purchase("o2", buyer, ref, 2)))
    again = bench.run(bench.ledger.settle_purchase("settle:o2", purchase("o2", buyer, ref, 2)))
    assert again.tx_ids == first.tx_ids
    assert bench.run(bench.ledger.units_of(ref, buyer.address)) == 2


def test_reusing_an_operation_id_for_another_intent_is_refused(bench: Bench) -> None:
    ref = bench.instrument("CT3", {EU})
    buyer = bench.wallet(EU)
    bench.run(bench.ledger.settle_purchase("settle:o3", purchase("o3", buyer, ref, 2)))
    with pytest.raises(OperationConflict):
        bench.run(bench.ledger.settle_purchase("settle:o3", purchase("o3", buyer, ref, 7)))
    assert bench.run(bench.ledger.units_of(ref, buyer.address)) == 2


@pytest.mark.parametrize("case", ["ineligible", "sanctioned", "frozen", "unclassified"])
def test_the_ledger_refuses_a_non_compliant_buyer_by_itself(bench: Bench, case: str) -> None:
    ref = bench.instrument(f"CT4{case[:3].upper()}", {EU})
    if case == "ineligible":
        buyer = bench.wallet(US)
    elif case == "sanctioned":
        buyer = bench.wallet(Classification.SANCTIONED)
    elif case == "unclassified":
        buyer = bench.wallet(None)
    else:
        buyer = bench.wallet(EU)
        bench.run(bench.ledger.set_frozen(f"freeze:{buyer.id}", buyer, True, [ref]))
    with pytest.raises(ComplianceRejected):
        bench.run(bench.ledger.settle_purchase(f"settle:{case}", purchase(case, buyer, ref, 1)))
    assert bench.run(bench.ledger.units_of(ref, buyer.address)) == 0


def test_reclassification_replaces_the_class_and_freeze_is_reversible(bench: Bench) -> None:
    wallet = bench.wallet(EU)
    bench.run(bench.ledger.record_classification(f"classify:{wallet.id}:2", wallet, Classification.SANCTIONED))
    assert bench.run(bench.ledger.classification_of(wallet.address)) is Classification.SANCTIONED
    bench.run(bench.ledger.record_classification(f"classify:{wallet.id}:3", wallet, EU))
    assert bench.run(bench.ledger.classification_of(wallet.address)) is EU
    bench.run(bench.ledger.set_frozen(f"freeze:{wallet.id}:1", wallet, True, []))
    assert bench.run(bench.ledger.is_frozen(wallet.address)) is True
    bench.run(bench.ledger.set_frozen(f"unfreeze:{wallet.id}:1", wallet, False, []))
    assert bench.run(bench.ledger.is_frozen(wallet.address)) is False


def test_a_distribution_pays_and_retires_exactly_and_once(bench: Bench) -> None:
    ref = bench.instrument("CT5", {EU, US})
    a, b = bench.wallet(EU), bench.wallet(US)
    bench.run(bench.ledger.settle_purchase("settle:a", purchase("a", a, ref, 10)))
    bench.run(bench.ledger.settle_purchase("settle:b", purchase("b", b, ref, 20)))
    payouts = [Payout(a, Money(1234, "EUR"), 1), Payout(b, Money(2468, "EUR"), 2)]
    first = bench.run(bench.ledger.distribute("repay:r1:0", ref, payouts))
    again = bench.run(bench.ledger.distribute("repay:r1:0", ref, payouts))
    assert first.tx_ids == again.tx_ids
    assert bench.run(bench.ledger.stablecoin_balance(a.address)) == Money(1234, "EUR")
    assert bench.run(bench.ledger.stablecoin_balance(b.address)) == Money(2468, "EUR")
    assert dict(bench.run(bench.ledger.holders(ref))) == {a.address: 9, b.address: 18}


def test_a_distribution_never_pays_into_a_frozen_wallet(bench: Bench) -> None:
    ref = bench.instrument("CT6", {EU})
    a, b = bench.wallet(EU), bench.wallet(EU)
    bench.run(bench.ledger.settle_purchase("settle:fa", purchase("fa", a, ref, 1)))
    bench.run(bench.ledger.settle_purchase("settle:fb", purchase("fb", b, ref, 1)))
    bench.run(bench.ledger.set_frozen(f"freeze:{b.id}", b, True, [ref]))
    with pytest.raises(ComplianceRejected):
        bench.run(bench.ledger.distribute("repay:r2:0", ref, [Payout(a, Money(5, "EUR")), Payout(b, Money(5, "EUR"))]))
    assert bench.run(bench.ledger.stablecoin_balance(b.address)) == Money(0, "EUR")


@pytest.mark.parametrize("refused_at", [0, 1, 2])
def test_a_distribution_resent_without_its_refused_holder_pays_everyone_else_exactly_once(
    bench: Bench, refused_at: int
) -> None:
    """What the repayment process does after a refusal: hold the frozen holder back and send the
    same operation again without it. A ledger that paid some holders before the refusal (XRPL pays
    one by one, EVM in chunks) must recognise them, wherever the refused holder stood."""
    ref = bench.instrument(f"CT8{refused_at}", {EU})
    wallets = [bench.wallet(EU) for _ in range(3)]
    for n, wallet in enumerate(wallets):
        bench.run(
            bench.ledger.settle_purchase(f"settle:r{refused_at}{n}", purchase(f"r{refused_at}{n}", wallet, ref, 1))
        )
    refused = wallets[refused_at]
    bench.run(bench.ledger.set_frozen(f"freeze:{refused.id}", refused, True, [ref]))
    payouts = [Payout(w, Money(100 * (n + 1), "EUR")) for n, w in enumerate(wallets)]
    op = f"repay:r3{refused_at}:0"
    with pytest.raises(ComplianceRejected) as refusal:
        bench.run(bench.ledger.distribute(op, ref, payouts))
    assert (refusal.value.party or "").lower() == refused.address.lower()  # the ledger names whom it refused
    rest = [p for p in payouts if p.wallet is not refused]
    first = bench.run(bench.ledger.distribute(op, ref, rest))
    again = bench.run(bench.ledger.distribute(op, ref, rest))  # a retry after a crash
    assert again.tx_ids == first.tx_ids
    for payout in payouts:
        expected = Money(0, "EUR") if payout.wallet is refused else payout.amount
        assert bench.run(bench.ledger.stablecoin_balance(payout.wallet.address)) == expected


def test_burning_stablecoin_takes_it_out_of_the_wallet(bench: Bench) -> None:
    ref = bench.instrument("CT7", {EU})
    a = bench.wallet(EU)
    bench.run(bench.ledger.settle_purchase("settle:ba", purchase("ba", a, ref, 1)))
    bench.run(bench.ledger.distribute("repay:r3:0", ref, [Payout(a, Money(500, "EUR"))]))
    bench.run(bench.ledger.burn_stablecoin("withdraw:w1", a, Money(200, "EUR")))
    bench.run(bench.ledger.burn_stablecoin("withdraw:w1", a, Money(200, "EUR")))  # same op: once
    assert bench.run(bench.ledger.stablecoin_balance(a.address)) == Money(300, "EUR")


def test_a_bank_deposit_mints_to_the_wallet_once_per_deposit(bench: Bench) -> None:
    a = bench.wallet(EU)
    first = bench.run(bench.ledger.mint_deposit("deposit:dep_1", a, Money(25000, "EUR"), "dep_1"))
    again = bench.run(bench.ledger.mint_deposit("deposit:dep_1", a, Money(25000, "EUR"), "dep_1"))
    assert first.tx_ids and again.tx_ids == first.tx_ids
    assert bench.run(bench.ledger.stablecoin_balance(a.address)) == Money(25000, "EUR")
    with pytest.raises(OperationConflict):
        bench.run(bench.ledger.mint_deposit("deposit:dep_1", a, Money(99, "EUR"), "dep_1"))


def test_a_bank_deposit_never_lands_in_a_frozen_wallet(bench: Bench) -> None:
    a = bench.wallet(EU)
    bench.run(bench.ledger.set_frozen(f"freeze:{a.id}", a, True, []))
    with pytest.raises(ComplianceRejected):
        bench.run(bench.ledger.mint_deposit("deposit:dep_f", a, Money(1000, "EUR"), "dep_f"))
    bench.run(bench.ledger.set_frozen(f"unfreeze:{a.id}", a, False, []))
    assert bench.run(bench.ledger.stablecoin_balance(a.address)) == Money(0, "EUR")


def test_an_order_paid_from_the_balance_settles_without_a_mint(bench: Bench) -> None:
    ref = bench.instrument("CT8", {EU})
    a = bench.wallet(EU)
    bench.run(bench.ledger.mint_deposit("deposit:dep_b", a, Money(50000, "EUR"), "dep_b"))
    result = bench.run(bench.ledger.settle_from_balance("settle:ob1", purchase("ob1", a, ref, 3)))
    again = bench.run(bench.ledger.settle_from_balance("settle:ob1", purchase("ob1", a, ref, 3)))
    assert result.tx_ids and again.tx_ids == result.tx_ids
    assert bench.run(bench.ledger.units_of(ref, a.address)) == 3
    assert bench.run(bench.ledger.stablecoin_balance(a.address)) == Money(20000, "EUR")
    with pytest.raises(LedgerRejected) as refused:  # 3 more units cost 300.00; 200.00 are left
        bench.run(bench.ledger.settle_from_balance("settle:ob2", purchase("ob2", a, ref, 3)))
    assert refused.value.reason == "InsufficientFunds"
    assert bench.run(bench.ledger.units_of(ref, a.address)) == 3
    assert bench.run(bench.ledger.stablecoin_balance(a.address)) == Money(20000, "EUR")
