"""The cached call-data encoder gives web3's bytes for every function of the suite it encodes, and
refuses a value that does not fit its type as web3 does."""

from __future__ import annotations

import os

import pytest
from eth_abi.exceptions import EncodingTypeError
from eth_utils.address import to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st
from web3 import AsyncWeb3

from drexfy.adapters.evm.abi import load_artifact
from drexfy.adapters.evm.calldata import encode_call

W3 = AsyncWeb3()
ADDRESS = to_checksum_address("0x" + "11" * 20)


def _contract(name: str):  # type: ignore[no-untyped-def]
    return W3.eth.contract(address=ADDRESS, abi=load_artifact(name).abi)


addresses = st.binary(min_size=20, max_size=20).map(lambda b: to_checksum_address("0x" + b.hex()))
uint = st.integers(min_value=0, max_value=2**256 - 1)


@settings(max_examples=40, deadline=None)
@given(
    order=st.binary(min_size=32, max_size=32),
    nonce=uint,
    buyer=addresses,
    amount=uint,
    instrument=addresses,
    units=uint,
    deadline=uint,
    attestation=st.binary(max_size=130),
    v=st.integers(min_value=0, max_value=255),
)
def test_settle_call_data_is_webs3s(
    order: bytes,
    nonce: int,
    buyer: str,
    amount: int,
    instrument: str,
    units: int,
    deadline: int,
    attestation: bytes,
    v: int,
) -> None:
    settlement = _contract("Settlement")
    args = [
        (order, nonce, buyer, amount, instrument, units, deadline),
        attestation,
        deadline,
        v,
        os.urandom(32),
        os.urandom(32),
    ]
    assert encode_call(settlement, "settle", args) == bytes.fromhex(settlement.encode_abi("settle", args=args)[2:])


@pytest.mark.parametrize(
    ("name", "fn", "args"), [("Stablecoin", "nonces", [ADDRESS]), ("Stablecoin", "balanceOf", [ADDRESS])]
)
def test_reads_and_other_calls_are_webs3s(name: str, fn: str, args: list[object]) -> None:
    contract = _contract(name)
    assert encode_call(contract, fn, args) == bytes.fromhex(contract.encode_abi(fn, args=args)[2:])


def test_a_value_that_does_not_fit_is_refused() -> None:
    stablecoin = _contract("Stablecoin")
    with pytest.raises(EncodingTypeError, match="cannot be encoded"):
        encode_call(stablecoin, "nonces", [-1])
