"""Attacks on the once-only rule of payment attestations (Settlement's nonce bitmap).

Each order carries one nonce (the store allocates it once, `OperationJournal.order_nonce`); an
attestation is usable once because Settlement marks its nonce used, a bit in a shared word
(`nonce >> 8`, bit `nonce & 255`). The relayer replays, a second attestation for a used nonce
(an attestor's mistake, or the relayer holding a stolen attestor signature for another order),
nonces whose bitmap word another order shares, and replays through the other settle path must all
revert, and the money and units must not move. With the once-only check removed each test fails.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from web3 import Web3

from tests.integration.evm.suite import CENT, EU_ACC, Suite, revert_reason, send
from tests.integration.evm.test_deposit_contracts import attest_balance_payment, attest_deposit
from tests.support.anvil import AnvilNode

pytestmark = pytest.mark.anvil


@pytest.fixture(scope="module")
def strict(w3: Web3, anvil_node: AnvilNode) -> Suite:
    return Suite.deploy(w3, anvil_node, with_minter=False)


@pytest.fixture
def nonce_suite(strict: Suite, anvil_node: AnvilNode) -> Iterator[Suite]:
    snapshot = anvil_node.rpc("evm_snapshot")
    try:
        yield strict
    finally:
        anvil_node.rpc("evm_revert", snapshot)


def totals(suite: Suite, *wallets: Any) -> tuple[int, ...]:
    """dEUR supply, the issuer's coins and inventory, each wallet's units."""
    coin, inst = suite.stablecoin.functions, suite.instrument.functions
    return (
        coin.totalSupply().call(),
        coin.balanceOf(suite.issuer).call(),
        inst.balanceOf(suite.issuer).call(),
        *(inst.balanceOf(w.address).call() for w in wallets),
    )


def order_id(label: str) -> bytes:
    return Web3.keccak(text=label)


def test_the_same_attestation_settles_once(nonce_suite: Suite) -> None:
    suite = nonce_suite
    buyer = suite.investor(EU_ACC)
    attested = suite.attest_payment(order_id("n-1"), buyer.address, 2 * CENT, suite.instrument.address, 2)
    send(suite.settle_call(order_id("n-1"), buyer, 2, 2 * CENT, attested=attested), suite.relayer)
    before = totals(suite, buyer)
    # The relayer replays it with a fresh permit of the buyer's: nothing is minted or delivered.
    fn = suite.settle_call(order_id("n-1"), buyer, 2, 2 * CENT, attested=attested)
    assert revert_reason(fn, suite.relayer) == "NonceAlreadyUsed"
    assert totals(suite, buyer) == before


def test_a_second_attestation_for_a_used_nonce_is_refused(nonce_suite: Suite) -> None:
    suite = nonce_suite
    buyer, other = suite.investor(EU_ACC), suite.investor(EU_ACC)
    inst = suite.instrument.address
    suite.buy(buyer, 1, CENT, order=order_id("n-2"))
    used = suite.nonce_of(order_id("n-2"))
    before = totals(suite, buyer, other)
    # Validly signed, other terms, the used nonce: for the same order, and for another order.
    same_order = suite.attest_payment(order_id("n-2"), buyer.address, 5 * CENT, inst, 5, nonce=used)
    fn = suite.settle_call(order_id("n-2"), buyer, 5, 5 * CENT, attested=same_order)
    assert revert_reason(fn, suite.relayer) == "NonceAlreadyUsed"
    other_order = suite.attest_payment(order_id("n-3"), other.address, 3 * CENT, inst, 3, nonce=used)
    fn = suite.settle_call(order_id("n-3"), other, 3, 3 * CENT, attested=other_order)
    assert revert_reason(fn, suite.relayer) == "NonceAlreadyUsed"
    assert totals(suite, buyer, other) == before


def test_a_nonce_in_a_word_other_orders_share(nonce_suite: Suite) -> None:
    """Neighbouring nonces share a bitmap word: each order's bit is its own. An order settles on
    a free bit of a word another order already wrote, and cannot take that other order's bit."""
    suite = nonce_suite
    a, b, c = (suite.investor(EU_ACC) for _ in range(3))
    inst = suite.instrument.address
    base = 256 * 7 + 40  # inside one word, away from the suite's own counter
    send(
        suite.settle_call(
            order_id("n-a"),
            a,
            1,
            CENT,
            attested=suite.attest_payment(order_id("n-a"), a.address, CENT, inst, 1, nonce=base),
        ),
        suite.relayer,
    )
    word = suite.settlement.functions.nonceBitmap(7).call()
    assert word == 1 << 40
    # Another order, the next bit of the same word: settles, and sets only its own bit.
    send(
        suite.settle_call(
            order_id("n-b"),
            b,
            1,
            CENT,
            attested=suite.attest_payment(order_id("n-b"), b.address, CENT, inst, 1, nonce=base + 1),
        ),
        suite.relayer,
    )
    assert suite.settlement.functions.nonceBitmap(7).call() == (1 << 40) | (1 << 41)
    assert not suite.settlement.functions.isNonceUsed(base + 2).call()
    before = totals(suite, a, b, c)
    # A third order attested with either neighbour's nonce is refused, whichever bit it takes.
    for taken in (base, base + 1):
        stolen = suite.attest_payment(order_id("n-c"), c.address, CENT, inst, 1, nonce=taken)
        fn = suite.settle_call(order_id("n-c"), c, 1, CENT, attested=stolen)
        assert revert_reason(fn, suite.relayer) == "NonceAlreadyUsed"
    # The same bit in another word is another nonce: not taken.
    assert not suite.settlement.functions.isNonceUsed(base + 256).call()
    assert totals(suite, a, b, c) == before


def test_no_replay_after_the_bit_is_set_by_either_settle_path(nonce_suite: Suite) -> None:
    suite = nonce_suite
    buyer = suite.investor(EU_ACC)
    order = order_id("n-4")
    suite.buy(buyer, 1, CENT, order=order)
    assert suite.settlement.functions.isNonceUsed(suite.nonce_of(order)).call()
    # Later blocks, other orders settled in between (same word): still refused.
    for n in range(3):
        suite.buy(suite.investor(EU_ACC), 1, CENT, order=order_id(f"n-4-{n}"))
    send(
        suite.settlement.functions.mintDeposit(*attest_deposit(suite, order_id("dep-n-4"), buyer.address, 4 * CENT)),
        suite.relayer,
    )
    before = totals(suite, buyer)
    again = suite.settle_call(order, buyer, 1, CENT)
    assert revert_reason(again, suite.relayer) == "NonceAlreadyUsed"
    # The same order (so the same nonce) paid from the buyer's balance instead: refused too.
    payment, attestation = attest_balance_payment(suite, order, buyer.address, CENT, 1)
    assert payment[1] == suite.nonce_of(order)
    permit = suite.permit(buyer, suite.settlement.address, CENT)
    fn = suite.settlement.functions.settleFromBalance(payment, attestation, *permit)
    assert revert_reason(fn, suite.relayer) == "NonceAlreadyUsed"
    assert totals(suite, buyer) == before
    assert suite.stablecoin.functions.balanceOf(buyer.address).call() == 4 * CENT
