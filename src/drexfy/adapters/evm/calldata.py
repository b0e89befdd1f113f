"""Call data of the suite's functions, encoded with eth_abi from a per-function cache.

web3's `contract.encode_abi(fn, args)` validates the whole ABI on every call (it recomputes the
4-byte selector of every function of the contract to look one up): about 7 ms of CPU per settlement
on this machine, twice per settlement (the job's retry encodes again), on two cores shared with the
node. The selector and the argument types of a function never change, so they are computed once per
(ABI, function) and the arguments go straight to `eth_abi.encode`, which checks every value against
its type as web3 does. An overloaded name (two functions, one name) is left to web3's resolver.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eth_abi.abi import encode
from eth_utils.abi import function_abi_to_4byte_selector, get_abi_input_types
from web3.contract import AsyncContract

#: (id of an ABI list, function name) -> (the ABI list, kept alive so the id stays its own; the
#: selector and input types, or None for an overloaded name).
_FUNCTIONS: dict[tuple[int, str], tuple[Sequence[Any], tuple[bytes, list[str]] | None]] = {}


def _function(abi: Sequence[Any], fn: str) -> tuple[bytes, list[str]] | None:
    key = (id(abi), fn)
    cached = _FUNCTIONS.get(key)
    if cached is None or cached[0] is not abi:
        matches = [item for item in abi if item.get("type") == "function" and item.get("name") == fn]
        spec = None
        if len(matches) == 1:
            spec = (function_abi_to_4byte_selector(matches[0]), list(get_abi_input_types(matches[0])))
        cached = _FUNCTIONS[key] = (abi, spec)
    return cached[1]


def encode_call(contract: AsyncContract, fn: str, args: list[Any] | tuple[Any, ...]) -> bytes:
    """The call data of `contract.fn(*args)`: the same bytes as web3's `encode_abi`."""
    spec = _function(contract.abi, fn)
    if spec is None:
        return bytes.fromhex(contract.encode_abi(fn, args=list(args))[2:])
    selector, types = spec
    return selector + encode(types, list(args))
