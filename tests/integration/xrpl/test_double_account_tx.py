"""The double's `account_tx` as rippled answers it (AccountTx.cpp, Tuning::accountTx, the node
database's account transaction pages): which transactions an account sees, both orders, paging by
`marker` (the first transaction not yet returned), the limit's clamp, and rippled's errors."""

from __future__ import annotations

from typing import Any

import pytest
from xrpl.asyncio.clients import AsyncJsonRpcClient
from xrpl.asyncio.transaction import submit_and_wait
from xrpl.constants import CryptoAlgorithm
from xrpl.models.requests import AccountTx, GenericRequest
from xrpl.models.transactions import AccountSet, Memo, Payment
from xrpl.wallet import Wallet

from tests.support.xrpl_double import GENESIS_SEED, DoubleConfig, LedgerDouble

pytestmark = pytest.mark.xrpl


def genesis() -> Wallet:
    return Wallet.from_seed(GENESIS_SEED, algorithm=CryptoAlgorithm.SECP256K1)


async def _raw(double: LedgerDouble, **params: Any) -> dict[str, Any]:
    reply = await AsyncJsonRpcClient(double.url).request(GenericRequest(method="account_tx", **params))  # type: ignore[call-arg]
    return dict(reply.result)


async def _history(client: AsyncJsonRpcClient, account: str, **kwargs: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    marker = None
    while True:
        page = (await client.request(AccountTx(account=account, marker=marker, **kwargs))).result
        items += page["transactions"]
        marker = page.get("marker")
        if marker is None:
            return items


async def test_an_account_sees_what_it_sent_and_what_touched_it_in_pages_both_ways() -> None:
    async with LedgerDouble(DoubleConfig(auto_close=True, close_interval=None)) as double:
        client = AsyncJsonRpcClient(double.url)
        alice, bob = Wallet.create(), Wallet.create()
        funded = await submit_and_wait(
            Payment(account=genesis().address, destination=alice.address, amount="100000000"), client, genesis()
        )
        sent = []
        for n in range(12):
            memo = Memo(memo_type=b"t".hex(), memo_data=str(n).encode().hex())
            sent.append(await submit_and_wait(AccountSet(account=alice.address, memos=[memo]), client, alice))
        paid = await submit_and_wait(
            Payment(account=genesis().address, destination=bob.address, amount="50000000"), client, genesis()
        )

        oldest_first = await _history(client, alice.address, forward=True, limit=5)  # clamped up to 10
        hashes = [item["hash"] for item in oldest_first]
        assert hashes == [funded.result["hash"]] + [
            s.result["hash"] for s in sent
        ]  # the payment that created it, then its own
        assert paid.result["hash"] not in hashes  # bob's payment touched neither alice nor her sender fields
        assert all(item["validated"] and item["meta"]["TransactionResult"] == "tesSUCCESS" for item in oldest_first)
        assert oldest_first[1]["tx_json"]["Memos"][0]["Memo"]["MemoData"] == b"0".hex().upper()  # API v2 shape
        newest_first = await _history(client, alice.address, limit=10)
        assert [item["hash"] for item in newest_first] == hashes[::-1]

        first = await _raw(double, account=alice.address, forward=True, limit=5)
        assert first["limit"] == 10 and len(first["transactions"]) == 10
        # the marker names the first transaction not returned; resuming there includes it
        eleventh = oldest_first[10]
        assert first["marker"] == {"ledger": eleventh["ledger_index"], "seq": eleventh["meta"]["TransactionIndex"]}
        rest = await _raw(double, account=alice.address, forward=True, marker=first["marker"])
        assert [t["hash"] for t in rest["transactions"]] == hashes[10:] and "marker" not in rest
        assert (await _raw(double, account=alice.address, limit=1000))["limit"] == 400

        v1 = await _raw(double, account=alice.address, forward=True, api_version=1)
        assert v1["transactions"][0]["tx"]["hash"] == funded.result["hash"]
        bounded = await _raw(double, account=alice.address, ledger_index_min=-1, ledger_index_max=-1)
        assert bounded["ledger_index_max"] >= bounded["ledger_index_min"] >= 1


async def test_rippled_errors() -> None:
    async with LedgerDouble(DoubleConfig(auto_close=True, close_interval=None)) as double:
        address = Wallet.create().address
        assert (await _raw(double))["error"] == "invalidParams"  # no account
        assert (await _raw(double, account="not-an-address"))["error"] == "actMalformed"
        assert (await _raw(double, account=address))["transactions"] == []  # unknown account: no error
        assert (await _raw(double, account=address, limit=-1))["error"] == "invalidParams"
        assert (await _raw(double, account=address, marker={"ledger": 1}))["error"] == "invalidParams"
        assert (await _raw(double, account=address, forward="yes"))["error"] == "invalidParams"  # v2: booleans only
        inverted = await _raw(double, account=address, ledger_index_min=3, ledger_index_max=2, api_version=1)
        assert inverted["error"] == "lgrIdxsInvalid"
        assert (await _raw(double, account=address, ledger_index_max=10**6))["error"] == "lgrIdxMalformed"
