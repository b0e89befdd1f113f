"""EIP-712 attestations by the platform's duty keys (contracts/Settlement.sol, Distribution.sol).

- The payments attestor signs a `Payment` (order id, nonce, buyer, amount, instrument, units,
  deadline) when the fiat of an order was received: Settlement mints nothing without it. The nonce
  is the order's one settlement nonce (`OperationJournal.order_nonce`, allocated once per order
  and kept in the store); Settlement uses each nonce once (a bit in a shared bitmap word), so an
  attestation is usable once and an order settles once.
- The treasury signs a `Repayment` (instrument, period, total) when a repayment round is funded:
  Distribution pays no more than that total for the period.
- The payments attestor signs a `Deposit` (deposit id, investor, amount, deadline) when a bank
  credit for the investor was received (a transfer in, or a returned payout): Settlement mints it
  once per deposit id. For an order paid from the buyer's balance it signs a `BalancePayment`
  (the fields of `Payment`, another type so it can never mint through `settle`).

Each is signed through the vault with its own key, so the relayer that submits the transaction
cannot make one up.
"""

from __future__ import annotations

from typing import Any

from eth_account.messages import encode_typed_data
from eth_utils.crypto import keccak

from drexfy.domain.ports import KeyVault

_DOMAIN = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]
PAYMENT_TYPES = {
    "EIP712Domain": _DOMAIN,
    "Payment": [
        {"name": "orderId", "type": "bytes32"},
        {"name": "nonce", "type": "uint256"},
        {"name": "buyer", "type": "address"},
        {"name": "amount", "type": "uint256"},
        {"name": "instrument", "type": "address"},
        {"name": "units", "type": "uint256"},
        {"name": "deadline", "type": "uint256"},
    ],
}
REPAYMENT_TYPES = {
    "EIP712Domain": _DOMAIN,
    "Repayment": [
        {"name": "instrument", "type": "address"},
        {"name": "period", "type": "bytes32"},
        {"name": "total", "type": "uint256"},
    ],
}
DEPOSIT_TYPES = {
    "EIP712Domain": _DOMAIN,
    "Deposit": [
        {"name": "depositId", "type": "bytes32"},
        {"name": "investor", "type": "address"},
        {"name": "amount", "type": "uint256"},
        {"name": "deadline", "type": "uint256"},
    ],
}
BALANCE_PAYMENT_TYPES = {"EIP712Domain": _DOMAIN, "BalancePayment": PAYMENT_TYPES["Payment"]}
SETTLEMENT_DOMAIN = "Drexfy Settlement"
DISTRIBUTION_DOMAIN = "Drexfy Distribution"


def _message(
    types: dict[str, Any], primary: str, domain: str, chain_id: int, contract: str, body: dict[str, Any]
) -> dict[str, Any]:
    return {
        "types": types,
        "primaryType": primary,
        "domain": {"name": domain, "version": "1", "chainId": chain_id, "verifyingContract": contract},
        "message": body,
    }


def payment_message(
    *,
    chain_id: int,
    settlement: str,
    order_id: bytes,
    nonce: int,
    buyer: str,
    amount: int,
    instrument: str,
    units: int,
    deadline: int,
) -> dict[str, Any]:
    """The EIP-712 message of a payment attestation for `settlement`."""
    body = {
        "orderId": order_id,
        "nonce": nonce,
        "buyer": buyer,
        "amount": amount,
        "instrument": instrument,
        "units": units,
        "deadline": deadline,
    }
    return _message(PAYMENT_TYPES, "Payment", SETTLEMENT_DOMAIN, chain_id, settlement, body)


def balance_payment_message(
    *,
    chain_id: int,
    settlement: str,
    order_id: bytes,
    nonce: int,
    buyer: str,
    amount: int,
    instrument: str,
    units: int,
    deadline: int,
) -> dict[str, Any]:
    """The EIP-712 message of an order paid from the buyer's balance, for `settlement`."""
    body = {
        "orderId": order_id,
        "nonce": nonce,
        "buyer": buyer,
        "amount": amount,
        "instrument": instrument,
        "units": units,
        "deadline": deadline,
    }
    return _message(BALANCE_PAYMENT_TYPES, "BalancePayment", SETTLEMENT_DOMAIN, chain_id, settlement, body)


def deposit_message(
    *, chain_id: int, settlement: str, deposit_id: bytes, investor: str, amount: int, deadline: int
) -> dict[str, Any]:
    """The EIP-712 message of a deposit attestation for `settlement`."""
    body = {"depositId": deposit_id, "investor": investor, "amount": amount, "deadline": deadline}
    return _message(DEPOSIT_TYPES, "Deposit", SETTLEMENT_DOMAIN, chain_id, settlement, body)


def repayment_message(
    *, chain_id: int, distribution: str, instrument: str, period: bytes, total: int
) -> dict[str, Any]:
    """The EIP-712 message of a repayment attestation for `distribution`."""
    body = {"instrument": instrument, "period": period, "total": total}
    return _message(REPAYMENT_TYPES, "Repayment", DISTRIBUTION_DOMAIN, chain_id, distribution, body)


def typed_digest(message: dict[str, Any]) -> bytes:
    """The 32-byte EIP-712 digest of `message` (what the signing key signs)."""
    signable = encode_typed_data(full_message=message)
    return keccak(b"\x19" + signable.version + signable.header + signable.body)


async def sign_typed(vault: KeyVault, key_id: str, message: dict[str, Any]) -> bytes:
    """`message` signed through the vault with `key_id`: 65 bytes r || s || v, as OpenZeppelin's
    ECDSA.recover takes them."""
    signature = await vault.sign_digest(key_id, typed_digest(message))
    return signature.r.to_bytes(32, "big") + signature.s.to_bytes(32, "big") + bytes([27 + signature.recovery_id])
