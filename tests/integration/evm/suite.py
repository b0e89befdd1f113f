"""A sync helper that deploys the contract suite on anvil for the contract tests.

Platform roles that send transactions use anvil's unlocked dev accounts (admin, relayer, issuer,
registrar, agent, and a test-only minter); the attestors (payments attestor, treasury) are
`eth_account` keys that sign EIP-712 attestations; investors are `eth_account` keys that sign
their own transactions and permits.
"""

from __future__ import annotations

import time
from typing import Any

import attrs
from eth_account import Account
from eth_account.messages import encode_typed_data
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractCustomError, ContractLogicError

from drexfy.adapters.evm.abi import load_artifact
from drexfy.adapters.evm.attestations import payment_message, repayment_message
from drexfy.adapters.evm.errors import decode_revert, revert_data
from drexfy.adapters.evm.permit import permit_message
from tests.support.anvil import AnvilNode

US_ACC, US_NON, EU_ACC, EU_NON, SANCTIONED = 1, 2, 3, 4, 5
CENT = 10_000  # stablecoin base units per cent (6 decimals)


def mask(*classes: int) -> int:
    return sum(1 << c for c in classes)


@attrs.define
class Suite:
    w3: Web3
    node: AnvilNode
    admin: str
    relayer: str
    issuer: str
    minter: str
    registrar: str
    agent: str
    attestor: Any
    treasury: Any
    registry: Contract
    instruments: Contract
    stablecoin: Contract
    settlement: Contract
    distribution: Contract
    instrument: Contract
    #: Each order's one settlement nonce, as the store allocates it (`OperationJournal.order_nonce`).
    order_nonces: dict[bytes, int] = attrs.field(factory=dict)

    def nonce_of(self, order: bytes) -> int:
        """The order's settlement nonce: allocated on first use, consecutive (they share bitmap words)."""
        return self.order_nonces.setdefault(order, len(self.order_nonces))

    @classmethod
    def deploy(cls, w3: Web3, node: AnvilNode, with_minter: bool = True) -> Suite:
        """The suite with one key per duty, as `deploy_suite` sets it up. `with_minter` adds a
        test-only MINTER_ROLE account for direct mints (the attack and invariant tests go without)."""
        admin, relayer, issuer, minter, registrar, agent = w3.eth.accounts[:6]
        attestor, treasury = Account.create(), Account.create()
        registry = deploy(w3, admin, "InvestorClassification", admin)
        instruments = deploy(w3, admin, "InstrumentRegistry", registry.address, admin)
        stablecoin = deploy(w3, admin, "Stablecoin", registry.address, admin)
        settlement = deploy(
            w3, admin, "Settlement", stablecoin.address, instruments.address, admin, relayer, attestor.address
        )
        distribution = deploy(
            w3, admin, "Distribution", stablecoin.address, instruments.address, 50, admin, relayer, treasury.address
        )
        for role in ("REGISTRAR_ROLE", "COMPLIANCE_ROLE"):
            send(registry.functions.grantRole(role_id(role), registrar), admin)
        send(stablecoin.functions.grantRole(role_id("MINTER_ROLE"), settlement.address), admin)
        send(stablecoin.functions.grantRole(role_id("MINTER_ROLE"), distribution.address), admin)
        if with_minter:
            send(stablecoin.functions.grantRole(role_id("MINTER_ROLE"), minter), admin)  # direct mints in tests
        send(stablecoin.functions.grantRole(role_id("BURNER_ROLE"), relayer), admin)
        send(stablecoin.functions.grantRole(role_id("COMPLIANCE_ROLE"), registrar), admin)
        send(stablecoin.functions.grantRole(role_id("PAUSER_ROLE"), admin), admin)
        send(stablecoin.functions.setAllowListed(issuer, True), admin)
        send(stablecoin.functions.setAllowListed(settlement.address, True), admin)
        suite = cls(
            w3,
            node,
            admin,
            relayer,
            issuer,
            minter,
            registrar,
            agent,
            attestor,
            treasury,
            registry,
            instruments,
            stablecoin,
            settlement,
            distribution,
            registry,
        )
        suite.instrument = suite.new_instrument(mask(US_ACC, EU_ACC, EU_NON), 1_000_000)
        return suite

    def new_instrument(self, eligible: int, units: int, symbol: str = "SME1", register: bool = True) -> Contract:
        instrument = deploy(
            self.w3,
            self.relayer,
            "FinancialInstrument",
            f"Pool {symbol}",
            symbol,
            self.registry.address,
            self.issuer,
            eligible,
            units,
            self.admin,
            self.agent,
            self.settlement.address,
            self.distribution.address,
        )
        if register:
            send(self.instruments.functions.register(instrument.address), self.admin)
        return instrument

    # ------------------------------------------------------------------ investors

    def investor(self, classification: int | None) -> Any:
        account = Account.create()
        self.node.fund(account.address)
        if classification is not None:
            send(self.registry.functions.mint(account.address, classification), self.registrar)
        return account

    def permit(
        self, owner: Any, spender: str, value: int, deadline: int | None = None, nonce: int | None = None
    ) -> tuple[int, int, bytes, bytes]:
        deadline = deadline if deadline is not None else int(time.time()) + 3600
        nonce = nonce if nonce is not None else self.stablecoin.functions.nonces(owner.address).call()
        data = permit_message(
            chain_id=self.w3.eth.chain_id,
            token=self.stablecoin.address,
            owner=owner.address,
            spender=spender,
            value=value,
            nonce=nonce,
            deadline=deadline,
        )
        signed = Account.sign_message(encode_typed_data(full_message=data), owner.key)
        return deadline, signed.v, signed.r.to_bytes(32, "big"), signed.s.to_bytes(32, "big")

    def attest_payment(
        self,
        order: bytes,
        buyer: str,
        amount: int,
        instrument: str,
        units: int,
        deadline: int | None = None,
        signer: Any = None,
        nonce: int | None = None,
    ) -> tuple[tuple[Any, ...], bytes]:
        """A `Payment` and its attestation (by the payments attestor unless `signer` is given; with
        the order's own nonce unless `nonce` is given)."""
        deadline = deadline if deadline is not None else int(time.time()) + 3600
        nonce = self.nonce_of(order) if nonce is None else nonce
        message = payment_message(
            chain_id=self.w3.eth.chain_id,
            settlement=self.settlement.address,
            order_id=order,
            nonce=nonce,
            buyer=buyer,
            amount=amount,
            instrument=instrument,
            units=units,
            deadline=deadline,
        )
        signed = Account.sign_message(encode_typed_data(full_message=message), (signer or self.attestor).key)
        return (order, nonce, buyer, amount, instrument, units, deadline), bytes(signed.signature)

    def settle_call(
        self,
        order: bytes,
        buyer: Any,
        units: int,
        amount: int,
        instrument: str | None = None,
        permit: tuple[int, int, bytes, bytes] | None = None,
        attested: tuple[tuple[Any, ...], bytes] | None = None,
    ) -> Any:
        """`Settlement.settle` for an order, attested and permitted unless given otherwise."""
        instrument = instrument or self.instrument.address
        payment, attestation = attested or self.attest_payment(order, buyer.address, amount, instrument, units)
        deadline, v, r, s = permit or self.permit(buyer, self.settlement.address, amount)
        return self.settlement.functions.settle(payment, attestation, deadline, v, r, s)

    def buy(
        self, buyer: Any, units: int, amount: int, order: bytes | None = None, instrument: Contract | None = None
    ) -> Any:
        order = order or Web3.keccak(text=f"order-{time.time_ns()}")
        address = (instrument or self.instrument).address
        return send(self.settle_call(order, buyer, units, amount, address), self.relayer)

    def attest_repayment(
        self, instrument: str, period: bytes, total: int, signer: Any = None
    ) -> tuple[tuple[Any, ...], bytes]:
        """A `Repayment` and its attestation (by the treasury unless `signer` is given)."""
        message = repayment_message(
            chain_id=self.w3.eth.chain_id,
            distribution=self.distribution.address,
            instrument=instrument,
            period=period,
            total=total,
        )
        signed = Account.sign_message(encode_typed_data(full_message=message), (signer or self.treasury).key)
        return (instrument, period, total), bytes(signed.signature)

    def pay_call(
        self,
        batch: bytes,
        holders: list[str],
        amounts: list[int],
        units: list[int] | None = None,
        instrument: str | None = None,
        total: int | None = None,
        period: bytes | None = None,
        attested: tuple[tuple[Any, ...], bytes] | None = None,
    ) -> Any:
        """`Distribution.pay` of one batch, attested by the treasury for `total` (default: this
        batch's sum) of `period` (default: the batch id) unless `attested` is given."""
        instrument = instrument or self.instrument.address
        repayment, attestation = attested or self.attest_repayment(
            instrument, period or batch, sum(amounts) if total is None else total
        )
        return self.distribution.functions.pay(batch, repayment, attestation, holders, amounts, units or [])


def role_id(name: str) -> bytes:
    return Web3.keccak(text=name)


def deploy(w3: Web3, sender: str, name: str, *args: Any) -> Contract:
    artifact = load_artifact(name)
    factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    receipt = w3.eth.wait_for_transaction_receipt(factory.constructor(*args).transact({"from": sender}))
    assert receipt.status == 1
    return w3.eth.contract(address=receipt.contractAddress, abi=artifact.abi)


def send(fn: Any, sender: Any) -> Any:
    """Send a contract call from an unlocked address or an eth_account key; return the receipt.

    A revert surfaces as web3's ContractCustomError (raised by the gas estimate)."""
    w3 = fn.w3
    if isinstance(sender, str):
        tx_hash = fn.transact({"from": sender})
    else:
        tx = fn.build_transaction({"from": sender.address, "nonce": w3.eth.get_transaction_count(sender.address)})
        tx_hash = w3.eth.send_raw_transaction(sender.sign_transaction(tx).raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash)
    assert receipt.status == 1, receipt
    return receipt


def revert_reason(fn: Any, sender: Any) -> str:
    """Simulate the call from `sender` and return the custom error it reverts with (the test fails
    if it does not revert). Names are decoded over every contract of the suite."""
    address = sender if isinstance(sender, str) else sender.address
    try:
        fn.estimate_gas({"from": address})
    except (ContractCustomError, ContractLogicError) as exc:
        return decode_revert(revert_data(exc)).reason
    raise AssertionError("the call did not revert")
