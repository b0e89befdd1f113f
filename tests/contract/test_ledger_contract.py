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
from drexfy.domain.ports import InstrumentSpec, Ledger, Payout, Purchase, RepaymentFunding
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


# --- the agent: forced transfer and wallet recovery ------------------------------------------------


def test_a_forced_transfer_moves_units_once_without_the_senders_consent(bench: Bench) -> None:
    ref = bench.instrument("CT7", {EU, US})
    sender, receiver = bench.wallet(EU), bench.wallet(US)
    bench.run(bench.ledger.settle_purchase("settle:o7", purchase("o7", sender, ref, 5)))
    # The sender's freeze does not stop the agent (that is what a forced transfer is for).
    bench.run(bench.ledger.set_frozen(f"freeze:{sender.id}", sender, True, [ref]))
    first = bench.run(bench.ledger.force_transfer("force:f7", ref, sender, receiver, 2))
    again = bench.run(bench.ledger.force_transfer("force:f7", ref, sender, receiver, 2))
    assert first.tx_ids and again.tx_ids == first.tx_ids
    assert bench.run(bench.ledger.units_of(ref, sender.address)) == 3
    assert bench.run(bench.ledger.units_of(ref, receiver.address)) == 2
    assert sum(bench.run(bench.ledger.holders(ref)).values()) == 5  # moved, never created
    with pytest.raises(OperationConflict):
        bench.run(bench.ledger.force_transfer("force:f7", ref, sender, receiver, 3))


@pytest.mark.parametrize("case", ["ineligible", "sanctioned", "frozen", "unclassified"])
def test_a_forced_transfer_never_reaches_a_non_compliant_receiver(bench: Bench, case: str) -> None:
    ref = bench.instrument(f"CT8{case[:3].upper()}", {EU})
    sender = bench.wallet(EU)
    bench.run(bench.ledger.settle_purchase(f"settle:o8{case}", purchase(f"o8{case}", sender, ref, 4)))
    if case == "ineligible":
        receiver = bench.wallet(US)
    elif case == "sanctioned":
        receiver = bench.wallet(Classification.SANCTIONED)
    elif case == "unclassified":
        receiver = bench.wallet(None)
    else:
        receiver = bench.wallet(EU)
        bench.run(bench.ledger.set_frozen(f"freeze:{receiver.id}", receiver, True, [ref]))
    with pytest.raises(ComplianceRejected):
        bench.run(bench.ledger.force_transfer(f"force:f8{case}", ref, sender, receiver, 1))
    assert bench.run(bench.ledger.units_of(ref, sender.address)) == 4
    assert bench.run(bench.ledger.units_of(ref, receiver.address)) == 0


def test_a_forced_transfer_never_creates_units(bench: Bench) -> None:
    ref = bench.instrument("CT9", {EU})
    sender, receiver = bench.wallet(EU), bench.wallet(EU)
    bench.run(bench.ledger.settle_purchase("settle:o9", purchase("o9", sender, ref, 2)))
    with pytest.raises(LedgerRejected):
        bench.run(bench.ledger.force_transfer("force:f9", ref, sender, receiver, 3))
    assert bench.run(bench.ledger.units_of(ref, sender.address)) == 2
    assert bench.run(bench.ledger.units_of(ref, receiver.address)) == 0


def test_a_recovery_moves_every_unit_to_the_new_wallet(bench: Bench) -> None:
    ref = bench.instrument("CT10", {EU})
    lost, new = bench.wallet(EU), bench.wallet(EU)
    bench.run(bench.ledger.settle_purchase("settle:o10", purchase("o10", lost, ref, 6)))
    first = bench.run(bench.ledger.recover_wallet("recover:r10", ref, lost, new))
    again = bench.run(bench.ledger.recover_wallet("recover:r10", ref, lost, new))
    assert first.tx_ids and again.tx_ids == first.tx_ids
    assert bench.run(bench.ledger.units_of(ref, lost.address)) == 0
    assert bench.run(bench.ledger.units_of(ref, new.address)) == 6
    assert dict(bench.run(bench.ledger.holders(ref))) == {new.address: 6}
    # Nothing left to move: no transaction.
    assert bench.run(bench.ledger.recover_wallet("recover:r10b", ref, lost, new)).tx_ids == ()


@pytest.mark.parametrize("case", ["ineligible", "frozen"])
def test_a_recovery_refuses_a_non_compliant_new_wallet(bench: Bench, case: str) -> None:
    ref = bench.instrument(f"CT11{case[:3].upper()}", {EU})
    lost = bench.wallet(EU)
    bench.run(bench.ledger.settle_purchase(f"settle:o11{case}", purchase(f"o11{case}", lost, ref, 3)))
    new = bench.wallet(US if case == "ineligible" else EU)
    if case == "frozen":
        bench.run(bench.ledger.set_frozen(f"freeze:{new.id}", new, True, [ref]))
    with pytest.raises(ComplianceRejected):
        bench.run(bench.ledger.recover_wallet(f"recover:r11{case}", ref, lost, new))
    assert bench.run(bench.ledger.units_of(ref, lost.address)) == 3
    assert bench.run(bench.ledger.units_of(ref, new.address)) == 0


def test_the_agents_moves_are_marked_forced_for_the_register(bench: Bench) -> None:
    """The register leaves the agent's moves to the process that recorded them: a ledger that lists
    them among the unit movements marks them `forced` (the XRP Ledger lists only the reissue, a
    payment from the issuer, which the register skips anyway)."""
    ref = bench.instrument("CT12", {EU})
    a, b = bench.wallet(EU), bench.wallet(EU)
    bench.run(bench.ledger.settle_purchase("settle:o12", purchase("o12", a, ref, 4)))
    if bench.ledger.kind == "memory":
        bench.ledger.transfer_units(ref, a.address, b.address, 1)  # type: ignore[attr-defined]
    bench.run(bench.ledger.force_transfer("force:f12", ref, a, b, 2))
    moves = _all_transfers(bench, ref)
    between = [m for m in moves if {m.sender, m.receiver} == {a.address, b.address}]
    assert [m.units for m in between if m.forced] in ([2], [])
    assert all(not m.forced for m in between if m.units == 1)
    if bench.ledger.kind != "xrpl":
        assert [m.units for m in between if m.forced] == [2]


def _all_transfers(bench: Bench, ref: str) -> list[Any]:
    out: list[Any] = []
    cursor = None
    for _ in range(50):
        page = bench.run(bench.ledger.transfers(ref, cursor, 100))
        out += page.transfers
        cursor = page.cursor
        if page.complete:
            return out
    raise AssertionError("the transfers never completed")


# --- repayment funding: one attested total per round ----------------------------------------------


def test_a_repayment_round_never_pays_more_than_its_total_across_calls(bench: Bench) -> None:
    """The treasury's attestation is bound to the round (repayment id, total), not to one call: a
    second batch, or a release, that would take the round past its total is refused, whatever op id
    it comes with. (Under the old per-call attestation, each call was a round of its own.)"""
    if bench.ledger.kind == "xrpl":
        pytest.skip("the XRP Ledger has no attested cap: its issuer pays what it is asked (docs/xrpl.md)")
    ref = bench.instrument("CT13", {EU, US})
    a, b = bench.wallet(EU), bench.wallet(US)
    bench.run(bench.ledger.settle_purchase("settle:o13a", purchase("o13a", a, ref, 2)))
    bench.run(bench.ledger.settle_purchase("settle:o13b", purchase("o13b", b, ref, 2)))
    funding = RepaymentFunding("rep_13", Money(10000, "EUR"))
    bench.run(bench.ledger.distribute("repay:rep_13:1", ref, [Payout(a, Money(6000, "EUR"))], funding))
    with pytest.raises(LedgerRejected):
        bench.run(bench.ledger.distribute("repay:rep_13:2", ref, [Payout(b, Money(6000, "EUR"))], funding))
    assert bench.run(bench.ledger.stablecoin_balance(b.address)) == Money(0, "EUR")
    bench.run(bench.ledger.distribute("release:rep_13:b", ref, [Payout(b, Money(4000, "EUR"))], funding))
    assert bench.run(bench.ledger.stablecoin_balance(b.address)) == Money(4000, "EUR")
    # Another round of the same instrument has its own total.
    other = RepaymentFunding("rep_14", Money(6000, "EUR"))
    bench.run(bench.ledger.distribute("repay:rep_14:1", ref, [Payout(b, Money(6000, "EUR"))], other))
    assert bench.run(bench.ledger.stablecoin_balance(b.address)) == Money(10000, "EUR")
