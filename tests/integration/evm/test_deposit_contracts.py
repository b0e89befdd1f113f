"""Settlement's bank-money functions on anvil: `mintDeposit` mints only against the payments
attestor's `Deposit` signature, once per deposit id; `settleFromBalance` moves the buyer's own coins
on their permit against a `BalancePayment` attestation, which can never mint through `settle`."""

from __future__ import annotations

import time
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from web3 import Web3

from drexfy.adapters.evm.attestations import balance_payment_message, deposit_message
from tests.integration.evm.suite import CENT, EU_ACC, Suite, revert_reason, send

pytestmark = pytest.mark.anvil


def attest_deposit(
    suite: Suite, deposit: bytes, investor: str, amount: int, deadline: int | None = None, signer: Any = None
) -> tuple[tuple[Any, ...], bytes]:
    deadline = deadline if deadline is not None else int(time.time()) + 3600
    message = deposit_message(
        chain_id=suite.w3.eth.chain_id,
        settlement=suite.settlement.address,
        deposit_id=deposit,
        investor=investor,
        amount=amount,
        deadline=deadline,
    )
    signed = Account.sign_message(encode_typed_data(full_message=message), (signer or suite.attestor).key)
    return (deposit, investor, amount, deadline), bytes(signed.signature)


def attest_balance_payment(
    suite: Suite, order: bytes, buyer: str, amount: int, units: int, signer: Any = None
) -> tuple[tuple[Any, ...], bytes]:
    deadline = int(time.time()) + 3600
    nonce = suite.nonce_of(order)
    message = balance_payment_message(
        chain_id=suite.w3.eth.chain_id,
        settlement=suite.settlement.address,
        order_id=order,
        nonce=nonce,
        buyer=buyer,
        amount=amount,
        instrument=suite.instrument.address,
        units=units,
        deadline=deadline,
    )
    signed = Account.sign_message(encode_typed_data(full_message=message), (signer or suite.attestor).key)
    return (order, nonce, buyer, amount, suite.instrument.address, units, deadline), bytes(signed.signature)


def balance_of(suite: Suite, address: str) -> int:
    return int(suite.stablecoin.functions.balanceOf(address).call())


class TestDeposits:
    def test_an_attested_deposit_mints_once(self, suite: Suite) -> None:
        investor = suite.investor(EU_ACC)
        deposit, signature = attest_deposit(suite, Web3.keccak(text="dep-1"), investor.address, 250 * CENT)
        send(suite.settlement.functions.mintDeposit(deposit, signature), suite.relayer)
        assert balance_of(suite, investor.address) == 250 * CENT
        assert suite.settlement.functions.isDeposited(deposit[0]).call()
        fn = suite.settlement.functions.mintDeposit(deposit, signature)
        assert revert_reason(fn, suite.relayer) == "DepositAlreadyMinted"

    def test_no_key_but_the_attestors_signature_of_these_terms_mints(self, suite: Suite) -> None:
        investor = suite.investor(EU_ACC)
        deposit_id = Web3.keccak(text="dep-2")
        forged = attest_deposit(suite, deposit_id, investor.address, CENT, signer=investor)
        fn = suite.settlement.functions.mintDeposit(*forged)
        assert revert_reason(fn, suite.relayer) == "InvalidAttestation"
        deposit, signature = attest_deposit(suite, deposit_id, investor.address, CENT)
        more = (deposit[0], deposit[1], 1000 * CENT, deposit[3])  # the relayer raises the amount
        assert revert_reason(suite.settlement.functions.mintDeposit(more, signature), suite.relayer) == (
            "InvalidAttestation"
        )
        fn = suite.settlement.functions.mintDeposit(deposit, signature)
        assert revert_reason(fn, investor) == "AccessControlUnauthorizedAccount"
        past = suite.w3.eth.get_block("latest")["timestamp"] - 1
        expired = attest_deposit(suite, Web3.keccak(text="dep-3"), investor.address, CENT, deadline=past)
        assert revert_reason(suite.settlement.functions.mintDeposit(*expired), suite.relayer) == "AttestationExpired"
        empty = attest_deposit(suite, Web3.keccak(text="dep-4"), investor.address, 0)
        assert revert_reason(suite.settlement.functions.mintDeposit(*empty), suite.relayer) == "EmptyDeposit"
        assert balance_of(suite, investor.address) == 0

    def test_a_deposit_to_an_unclassified_wallet_is_refused_by_the_token(self, suite: Suite) -> None:
        stranger = suite.investor(None)
        deposit = attest_deposit(suite, Web3.keccak(text="dep-5"), stranger.address, CENT)
        assert revert_reason(suite.settlement.functions.mintDeposit(*deposit), suite.relayer) == "UnclassifiedWallet"
        assert balance_of(suite, stranger.address) == 0


class TestBalancePayments:
    def test_the_buyers_coins_pay_and_the_units_arrive_without_a_mint(self, suite: Suite) -> None:
        buyer = suite.investor(EU_ACC)
        send(
            suite.settlement.functions.mintDeposit(
                *attest_deposit(suite, Web3.keccak(text="dep-6"), buyer.address, 5 * CENT)
            ),
            suite.relayer,
        )
        supply = suite.stablecoin.functions.totalSupply().call()
        order = Web3.keccak(text="bal-1")
        payment, attestation = attest_balance_payment(suite, order, buyer.address, 3 * CENT, 3)
        deadline, v, r, s = suite.permit(buyer, suite.settlement.address, 3 * CENT)
        send(suite.settlement.functions.settleFromBalance(payment, attestation, deadline, v, r, s), suite.relayer)
        assert suite.instrument.functions.balanceOf(buyer.address).call() == 3
        assert balance_of(suite, buyer.address) == 2 * CENT
        assert suite.stablecoin.functions.totalSupply().call() == supply
        assert suite.settlement.functions.isNonceUsed(payment[1]).call()
        again = suite.settlement.functions.settleFromBalance(payment, attestation, deadline, v, r, s)
        assert revert_reason(again, suite.relayer) == "NonceAlreadyUsed"

    def test_a_balance_attestation_never_mints_through_settle_nor_prices_other_terms(self, suite: Suite) -> None:
        buyer = suite.investor(EU_ACC)
        order = Web3.keccak(text="bal-2")
        payment, attestation = attest_balance_payment(suite, order, buyer.address, CENT, 1)
        permit = suite.permit(buyer, suite.settlement.address, CENT)
        fn = suite.settlement.functions.settle(payment, attestation, *permit)
        assert revert_reason(fn, suite.relayer) == "InvalidAttestation"
        cheaper = (*payment[:5], 50, payment[6])  # 50 units for the attested 1 cent
        fn = suite.settlement.functions.settleFromBalance(cheaper, attestation, *permit)
        assert revert_reason(fn, suite.relayer) == "InvalidAttestation"
        card_payment, card_attestation = suite.attest_payment(
            Web3.keccak(text="bal-3"), buyer.address, CENT, suite.instrument.address, 1
        )
        fn = suite.settlement.functions.settleFromBalance(card_payment, card_attestation, *permit)
        assert revert_reason(fn, suite.relayer) == "InvalidAttestation"
        assert balance_of(suite, buyer.address) == 0
        assert suite.instrument.functions.balanceOf(buyer.address).call() == 0

    def test_a_short_balance_reverts_every_leg(self, suite: Suite) -> None:
        buyer = suite.investor(EU_ACC)
        order = Web3.keccak(text="bal-4")
        payment, attestation = attest_balance_payment(suite, order, buyer.address, CENT, 1)
        permit = suite.permit(buyer, suite.settlement.address, CENT)
        fn = suite.settlement.functions.settleFromBalance(payment, attestation, *permit)
        assert revert_reason(fn, suite.relayer) == "ERC20InsufficientBalance"
        assert not suite.settlement.functions.isNonceUsed(payment[1]).call()
        assert suite.instrument.functions.balanceOf(buyer.address).call() == 0
