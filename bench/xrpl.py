"""XRPL adapter throughput against the ledger double: what reliable submission costs.

Measures, on one in-process double with ledgers closing on every applied transaction:
- `adapter`: XrplLedger.distribute to N holders (one issuer Payment each), i.e. journal + autofill +
  KeyVault signing + submit + tracking to a validated result, per transaction;
- `xrpl-py`: the same payments with xrpl-py's stock path (`autofill_and_sign` on its
  AsyncJsonRpcClient, then `submit`) without journal, vault or tracking. Its client opens a new
  HTTP client per request, which is why the adapter pools one (`drexfy.adapters.xrpl.submission.Rpc`).
- with ledgers closing on a timer only (as on a network), a repayment to TIMED_HOLDERS holders with
  the issuer's payments pipelined (`distribute`) against the same payments one at a time.
Writes bench/results/xrpl.json.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

HOLDERS = 20
#: The timed-close part: a ledger every CLOSE_INTERVAL seconds (mainnet: 3-5 s), TIMED_HOLDERS payees.
CLOSE_INTERVAL = 0.5
TIMED_HOLDERS = 10
RESULTS = Path(__file__).resolve().parent / "results"


async def main() -> dict[str, Any]:
    from tests.support.xrpl_double import GENESIS_SEED, DoubleConfig, LedgerDouble
    from xrpl.asyncio.clients import AsyncJsonRpcClient
    from xrpl.asyncio.transaction import autofill_and_sign
    from xrpl.constants import CryptoAlgorithm
    from xrpl.core.binarycodec import encode
    from xrpl.models.requests import SubmitOnly
    from xrpl.models.transactions import Payment
    from xrpl.wallet import Wallet as XrplWallet

    from drexfy.adapters.local_vault import LocalVault
    from drexfy.adapters.sqlite.store import open_sqlite_store
    from drexfy.adapters.xrpl import XrplConfig, XrplLedger, setup_platform
    from drexfy.domain.model import Wallet
    from drexfy.domain.money import Money
    from drexfy.domain.ports import Payout

    with tempfile.TemporaryDirectory() as tmp:
        async with LedgerDouble(DoubleConfig(auto_close=True, close_interval=None)) as double:
            store = await open_sqlite_store(Path(tmp) / "bench.db")
            vault = LocalVault(Path(tmp) / "keys", os.urandom(32))
            ledger = XrplLedger(XrplConfig(rpc_url=double.url, poll_interval=0.01), vault, store.journal)
            await setup_platform(ledger, fund_from_seed=GENESIS_SEED)
            wallets = []
            for n in range(HOLDERS):
                public = await vault.create_key(f"bench-{n}")
                wallet = Wallet(f"bench-{n}", ledger.address_for(public), public.hex())
                await ledger.activate_wallet(f"activate:{n}", wallet)
                wallets.append(wallet)
            started = time.perf_counter()
            await ledger.distribute("bench:repay", "00" * 24, [Payout(w, Money(100, "EUR")) for w in wallets])
            adapter_seconds = time.perf_counter() - started

            client = AsyncJsonRpcClient(double.url)
            genesis = XrplWallet.from_seed(GENESIS_SEED, algorithm=CryptoAlgorithm.SECP256K1)
            started = time.perf_counter()
            for wallet in wallets:
                signed = await autofill_and_sign(
                    Payment(account=genesis.address, destination=wallet.address, amount="10"), client, genesis
                )
                await ledger.rpc.call(SubmitOnly(tx_blob=encode(signed.to_xrpl())))
            baseline_seconds = time.perf_counter() - started

            # As on a network: ledgers close on a timer only. A repayment's payments pipelined
            # (XrplLedger.distribute) against the same payments one at a time (each awaits its close).
            double.config.auto_close = False
            await double.restart_closer(CLOSE_INTERVAL)
            issuer = await ledger.platform("issuer")
            timed = wallets[:TIMED_HOLDERS]
            started = time.perf_counter()
            await ledger.distribute("bench:pipelined", "00" * 24, [Payout(w, Money(100, "EUR")) for w in timed])
            pipelined_seconds = time.perf_counter() - started
            started = time.perf_counter()
            for n, wallet in enumerate(timed):
                pay = Payment(
                    account=issuer.address,
                    destination=wallet.address,
                    amount=ledger._iou(issuer.address, Money(100, "EUR")),
                )
                await ledger.submitter.run(f"bench:one-by-one/{n}", issuer, pay, "repayment")
            one_by_one_seconds = time.perf_counter() - started
            await ledger.close()
            await store.close()
    result = {
        "holders": HOLDERS,
        "adapter_ms_per_tx": round(1000 * adapter_seconds / HOLDERS, 1),
        "xrpl_py_stock_ms_per_tx": round(1000 * baseline_seconds / HOLDERS, 1),
        "adapter_tx_per_s": round(HOLDERS / adapter_seconds, 1),
        "timed_closes": {
            "ledger_close_interval_s": CLOSE_INTERVAL,
            "holders": TIMED_HOLDERS,
            "repayment_pipelined_s": round(pipelined_seconds, 2),
            "same_payments_one_at_a_time_s": round(one_by_one_seconds, 2),
        },
    }
    print(f"{'path':<10} {'ms/tx':>8}")
    print(f"{'adapter':<10} {result['adapter_ms_per_tx']:>8}")
    print(f"{'xrpl-py':<10} {result['xrpl_py_stock_ms_per_tx']:>8}")
    print(
        f"repayment to {TIMED_HOLDERS} holders, a ledger closing every {CLOSE_INTERVAL} s:"
        f" pipelined {pipelined_seconds:.2f} s, one at a time {one_by_one_seconds:.2f} s"
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "xrpl.json").write_text(json.dumps(result, indent=2) + "\n")
    return result
