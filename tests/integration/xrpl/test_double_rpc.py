"""The double speaks rippled's JSON-RPC well enough for xrpl-py's AsyncJsonRpcClient, unchanged."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from xrpl.asyncio.clients import AsyncJsonRpcClient
from xrpl.asyncio.ledger import get_fee, get_latest_open_ledger_sequence, get_latest_validated_ledger_sequence
from xrpl.asyncio.transaction import autofill_and_sign, submit_and_wait
from xrpl.constants import CryptoAlgorithm
from xrpl.core.binarycodec import encode
from xrpl.models.requests import AccountInfo, GenericRequest, ServerState, SubmitOnly, Tx
from xrpl.models.transactions import OfferCreate, Payment
from xrpl.wallet import Wallet

from tests.support.xrpl_double import GENESIS_SEED, DoubleConfig, LedgerDouble

pytestmark = pytest.mark.xrpl
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
async def manual() -> LedgerDouble:
    """Ledgers close only on ledger_accept."""
    async with LedgerDouble(DoubleConfig(auto_close=False, close_interval=None)) as running:
        yield running  # type: ignore[misc]


def genesis() -> Wallet:
    return Wallet.from_seed(GENESIS_SEED, algorithm=CryptoAlgorithm.SECP256K1)


async def test_xrpl_py_submit_and_wait_works_unchanged() -> None:
    async with LedgerDouble(DoubleConfig(auto_close=True, close_interval=None)) as double:
        client = AsyncJsonRpcClient(double.url)
        target = Wallet.create()
        response = await submit_and_wait(
            Payment(account=genesis().address, destination=target.address, amount="25000000"), client, genesis()
        )
        assert response.result["validated"] is True
        assert response.result["meta"]["TransactionResult"] == "tesSUCCESS"
        info = await client.request(AccountInfo(account=target.address, ledger_index="validated"))
        assert info.result["account_data"]["Balance"] == "25000000"
        assert await get_fee(client) == "10"
        assert await get_latest_open_ledger_sequence(client) == await get_latest_validated_ledger_sequence(client) + 1


async def test_validation_happens_at_ledger_close(manual: LedgerDouble) -> None:
    client = AsyncJsonRpcClient(manual.url)
    target = Wallet.create()
    signed = await autofill_and_sign(
        Payment(account=genesis().address, destination=target.address, amount="25000000"), client, genesis()
    )
    submitted = await client.request(SubmitOnly(tx_blob=encode(signed.to_xrpl())))
    assert submitted.result["engine_result"] == "tesSUCCESS"
    assert submitted.result["applied"] is True
    pending = await client.request(Tx(transaction=signed.get_hash()))
    assert pending.result["validated"] is False and "meta" not in pending.result
    before = await client.request(AccountInfo(account=target.address, ledger_index="validated"))
    assert before.result["error"] == "actNotFound"
    await client.request(GenericRequest(method="ledger_accept"))  # type: ignore[call-arg]
    final = await client.request(Tx(transaction=signed.get_hash()))
    assert final.result["validated"] is True
    assert final.result["meta"]["TransactionResult"] == "tesSUCCESS"
    assert final.result["tx_json"]["Destination"] == target.address  # API v2 shape


async def test_reserves_are_published_in_drops(manual: LedgerDouble) -> None:
    state = await AsyncJsonRpcClient(manual.url).request(ServerState())
    validated = state.result["state"]["validated_ledger"]
    assert (validated["reserve_base"], validated["reserve_inc"]) == (1_000_000, 200_000)


async def test_unsupported_transactions_answer_not_supported(manual: LedgerDouble) -> None:
    client = AsyncJsonRpcClient(manual.url)
    offer = OfferCreate(
        account=genesis().address,
        taker_gets="1000",
        taker_pays={"currency": "EUR", "issuer": Wallet.create().address, "value": "1"},
    )
    signed = await autofill_and_sign(offer, client, genesis())
    response = await client.request(SubmitOnly(tx_blob=encode(signed.to_xrpl())))
    assert response.result["error"] == "notSupported"
    assert "OfferCreate" in response.result["error_message"]


async def test_unknown_methods_answer_unknown_cmd(manual: LedgerDouble) -> None:
    response = await AsyncJsonRpcClient(manual.url).request(GenericRequest(method="path_find"))  # type: ignore[call-arg]
    assert response.result["error"] == "unknownCmd"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_runs_as_a_process_for_the_demo() -> None:
    port = _free_port()
    process = subprocess.Popen(  # noqa: ASYNC220 - a short-lived child, waited for below
        [sys.executable, "-m", "tests.support.xrpl_double", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        for _ in range(100):
            try:
                async with httpx.AsyncClient() as http:
                    reply = await http.post(f"http://127.0.0.1:{port}/", json={"method": "server_info", "params": [{}]})
                break
            except httpx.HTTPError:
                await asyncio.sleep(0.05)
        else:
            pytest.fail("the double process did not start")
        assert reply.json()["result"]["info"]["server_state"] == "full"
    finally:
        process.terminate()
        process.wait(timeout=10)


async def test_account_reads_show_lines_objects_and_nfts() -> None:
    from xrpl.models.requests import AccountLines, AccountNFTs, AccountObjects, AccountObjectType
    from xrpl.models.transactions import NFTokenMint, TrustSet

    async with LedgerDouble(DoubleConfig(auto_close=True, close_interval=None)) as double:
        client = AsyncJsonRpcClient(double.url)
        issuer = Wallet.create()
        await submit_and_wait(
            Payment(account=genesis().address, destination=issuer.address, amount="30000000"), client, genesis()
        )
        limit = {"currency": "EUR", "issuer": issuer.address, "value": "250"}
        await submit_and_wait(TrustSet(account=genesis().address, limit_amount=limit), client, genesis())
        await submit_and_wait(NFTokenMint(account=genesis().address, nftoken_taxon=7, uri="CAFE"), client, genesis())
        lines = await client.request(AccountLines(account=genesis().address, ledger_index="validated"))
        assert [(ln["account"], ln["limit"], ln["balance"]) for ln in lines.result["lines"]] == [
            (issuer.address, "250", "0")
        ]
        state = await client.request(AccountObjects(account=genesis().address, type=AccountObjectType.STATE))
        assert [o["LedgerEntryType"] for o in state.result["account_objects"]] == ["RippleState"]
        nfts = await client.request(AccountNFTs(account=genesis().address, ledger_index="validated"))
        assert [(n["NFTokenTaxon"], n["URI"]) for n in nfts.result["account_nfts"]] == [(7, "CAFE")]
        info = await client.request(AccountInfo(account=genesis().address, ledger_index="validated"))
        assert info.result["account_data"]["OwnerCount"] == 2  # the trust line and one NFT page
