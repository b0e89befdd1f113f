"""Turning EVM failures into domain errors."""

from __future__ import annotations

import ast
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_utils.address import to_checksum_address
from hexbytes import HexBytes

from drexfy.adapters.evm.abi import COMPLIANCE_ERRORS, error_table
from drexfy.domain.errors import ComplianceRejected, LedgerRejected

_ERROR_STRING = bytes.fromhex("08c379a0")  # Error(string)
_PANIC = bytes.fromhex("4e487b71")  # Panic(uint256)


def revert_data(exc: BaseException) -> bytes | None:
    """The raw revert data carried by a web3 exception, if any."""
    for candidate in (getattr(exc, "data", None), *getattr(exc, "args", ())):
        if isinstance(candidate, dict):
            candidate = candidate.get("data")
        if isinstance(candidate, bytes | bytearray):
            return bytes(candidate)
        if isinstance(candidate, str) and candidate.startswith("execution reverted: b"):
            # eth-tester (the embedded EVM) reports the data as a bytes literal in the message.
            try:
                value = ast.literal_eval(candidate.removeprefix("execution reverted: "))
            except (ValueError, SyntaxError):
                continue
            if isinstance(value, bytes):
                return value
        if isinstance(candidate, str) and candidate.startswith("0x"):
            try:
                return bytes(HexBytes(candidate))
            except ValueError:
                continue
    return None


def _fmt(value: Any) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return str(value)


def decode_revert(data: bytes | None, tx_id: str | None = None) -> LedgerRejected:
    """A domain error for revert `data`: ComplianceRejected for the compliance rules' errors,
    LedgerRejected otherwise. `reason` is the custom error's name."""
    if not data or len(data) < 4:
        return LedgerRejected("the transaction reverted without a reason", reason="Reverted", tx_id=tx_id)
    selector, body = data[:4], data[4:]
    if selector == _ERROR_STRING:
        (message,) = abi_decode(["string"], body)
        return LedgerRejected(f"reverted: {message}", reason="Error", tx_id=tx_id)
    if selector == _PANIC:
        (code,) = abi_decode(["uint256"], body)
        return LedgerRejected(f"panic 0x{code:x}", reason="Panic", tx_id=tx_id)
    spec = error_table().get(selector)
    if spec is None:
        return LedgerRejected(f"reverted with unknown error 0x{data[:4].hex()}", reason="Unknown", tx_id=tx_id)
    values: tuple[Any, ...] = ()
    try:
        values = tuple(abi_decode(list(spec.types), body))
        args = ", ".join(f"{n}={_fmt(v)}" for n, v in zip(spec.names, values, strict=True))
    except Exception:  # malformed arguments: the name alone is still the reason
        args = "?"
    message = f"{spec.name}({args})"
    if spec.name not in COMPLIANCE_ERRORS:
        return LedgerRejected(message, reason=spec.name, tx_id=tx_id)
    # The refused party is the error's first address argument (WalletFrozen(wallet), ...).
    party = next((to_checksum_address(v) for t, v in zip(spec.types, values, strict=False) if t == "address"), None)
    return ComplianceRejected(message, reason=spec.name, tx_id=tx_id, party=party)
