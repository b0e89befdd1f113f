"""The double's JSON-RPC answers in rippled's shapes where the adapter or xrpl-py depend on them."""

from __future__ import annotations

from typing import Any

import pytest
from xrpl.asyncio.clients import AsyncJsonRpcClient
from xrpl.constants import CryptoAlgorithm
from xrpl.models.requests import AccountInfo, AccountLines, GenericRequest, LedgerData, ServerInfo, SubmitOnly
from xrpl.wallet import Wallet

from tests.integration.xrpl.chain import Chain
from tests.support.xrpl_double import GENESIS_SEED, DoubleConfig, LedgerDouble

pytestmark = pytest.mark.xrpl


def genesis() -> Wallet:
    return Wallet.from_seed(GENESIS_SEED, algorithm=CryptoAlgorithm.SECP256K1)


def payment(to: str, network_id: int | None = None, **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "TransactionType": "Payment",
        "Account": genesis().address,
        "Destination": to,
        "Amount": "20000000",
        **extra,
    }
    if network_id is not None:
        data["NetworkID"] = network_id
    return data


async def submit(double: LedgerDouble, data: dict[str, Any], *, autofill: bool = True) -> dict[str, Any]:
    chain = Chain.__new__(Chain)  # only its signing helper, over the running double's engine
    chain.engine = double.engine
    blob = chain.raw_blob(genesis(), data, autofill=autofill)
    response = await AsyncJsonRpcClient(double.url).request(SubmitOnly(tx_blob=blob))
    return dict(response.result)


async def test_a_signed_transaction_without_sequence_is_an_invalid_transaction() -> None:
    """Sequence is a required common field (rippled TxFormats.cpp): the blob does not deserialise
    into an STTx and `submit` answers the error invalidTransaction (nothing applied or queued),
    not a tef result."""
    async with LedgerDouble(DoubleConfig(close_interval=None)) as double:
        result = await submit(double, payment(Wallet.create().address, Fee="10"), autofill=False)
        assert result["error"] == "invalidTransaction"
        assert "Sequence" in result["error_exception"]
        assert double.engine.pending == []


async def test_a_malformed_address_is_act_malformed() -> None:
    """rippled's account methods parse the address first (AccountInfo.cpp, AccountLines.cpp:
    `parseBase58<AccountID>` fails -> rpcACT_MALFORMED): actMalformed, never actNotFound."""
    async with LedgerDouble(DoubleConfig(close_interval=None)) as double:
        client = AsyncJsonRpcClient(double.url)
        for request in (
            GenericRequest(method="account_info", account="rNotAnAddress"),  # type: ignore[call-arg]
            GenericRequest(method="account_lines", account="rNotAnAddress"),  # type: ignore[call-arg]
        ):
            response = await client.request(request)
            assert response.result["error"] == "actMalformed"
        missing = await client.request(AccountInfo(account=Wallet.create().address))
        assert missing.result["error"] == "actNotFound"
        lines = await client.request(AccountLines(account=Wallet.create().address))
        assert lines.result["error"] == "actNotFound"


async def test_network_id_in_server_info_and_in_transactions() -> None:
    """NetworkOPs.cpp getServerInfo reports network_id only when the node has one configured;
    Transactor.cpp preflight0: on a network id <= 1024 a NetworkID field is
    telNETWORK_ID_MAKES_TX_NON_CANONICAL, above 1024 it is required (telREQUIRES_NETWORK_ID) and
    must match (telWRONG_NETWORK)."""
    async with LedgerDouble(DoubleConfig(close_interval=None)) as double:
        info = await AsyncJsonRpcClient(double.url).request(ServerInfo())
        assert "network_id" not in info.result["info"]
        result = await submit(double, payment(Wallet.create().address, network_id=0))
        assert result["engine_result"] == "telNETWORK_ID_MAKES_TX_NON_CANONICAL"
    async with LedgerDouble(DoubleConfig(close_interval=None, network_id=21_338)) as double:
        info = await AsyncJsonRpcClient(double.url).request(ServerInfo())
        assert info.result["info"]["network_id"] == 21_338
        assert (await submit(double, payment(Wallet.create().address)))["engine_result"] == "telREQUIRES_NETWORK_ID"
        wrong = await submit(double, payment(Wallet.create().address, network_id=21_337))
        assert wrong["engine_result"] == "telWRONG_NETWORK"
        right = await submit(double, payment(Wallet.create().address, network_id=21_338))
        assert right["engine_result"] == "tesSUCCESS"


async def test_ledger_data_markers_are_opaque_keys() -> None:
    """LedgerData.cpp: the marker is the key of the last entry returned and the next page starts
    after it; a marker that is not a key is invalidParams. Paging must neither skip nor repeat."""
    async with LedgerDouble(DoubleConfig(auto_close=True, close_interval=None)) as double:
        client = AsyncJsonRpcClient(double.url)
        chain = Chain.__new__(Chain)
        chain.engine = double.engine
        for _ in range(4):
            blob = chain.raw_blob(genesis(), payment(Wallet.create().address))
            await client.request(SubmitOnly(tx_blob=blob))
        everything = await client.request(LedgerData(ledger_index="validated", type="account"))
        keys = [node["index"] for node in everything.result["state"]]
        assert len(keys) == 5
        seen: list[str] = []
        marker: Any = None
        while True:
            page = await client.request(LedgerData(ledger_index="validated", type="account", limit=2, marker=marker))
            seen += [node["index"] for node in page.result["state"]]
            marker = page.result.get("marker")
            if marker is None:
                break
            assert len(marker) == 64 and marker == page.result["state"][-1]["index"]
        assert seen == keys
        bad = await client.request(LedgerData(ledger_index="validated", marker="2"))
        assert bad.result["error"] == "invalidParams"
