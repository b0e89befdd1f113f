"""ERC-2612 permits of the Drexfy stablecoin: the EIP-712 message and the digest a wallet signs."""

from __future__ import annotations

from typing import Any

from eth_account.messages import encode_typed_data
from eth_utils.crypto import keccak

#: The stablecoin's EIP-712 domain name and version (see contracts/Stablecoin.sol).
DOMAIN_NAME = "Drexfy Euro"
DOMAIN_VERSION = "1"

_TYPES = {
    "EIP712Domain": [
        {"name": "name", "type": "string"},
        {"name": "version", "type": "string"},
        {"name": "chainId", "type": "uint256"},
        {"name": "verifyingContract", "type": "address"},
    ],
    "Permit": [
        {"name": "owner", "type": "address"},
        {"name": "spender", "type": "address"},
        {"name": "value", "type": "uint256"},
        {"name": "nonce", "type": "uint256"},
        {"name": "deadline", "type": "uint256"},
    ],
}


def permit_message(
    *,
    chain_id: int,
    token: str,
    owner: str,
    spender: str,
    value: int,
    nonce: int,
    deadline: int,
    domain_name: str = DOMAIN_NAME,
) -> dict[str, Any]:
    """The full EIP-712 message of a permit (what wallets and eth-account take)."""
    return {
        "types": _TYPES,
        "primaryType": "Permit",
        "domain": {"name": domain_name, "version": DOMAIN_VERSION, "chainId": chain_id, "verifyingContract": token},
        "message": {"owner": owner, "spender": spender, "value": value, "nonce": nonce, "deadline": deadline},
    }


def permit_digest(message: dict[str, Any]) -> bytes:
    """The 32-byte EIP-712 digest of a permit message: what the owner's key signs."""
    signable = encode_typed_data(full_message=message)
    return keccak(b"\x19" + signable.version + signable.header + signable.body)
