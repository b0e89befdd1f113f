"""Configuration of the EVM ledger adapter."""

from __future__ import annotations

from pathlib import Path

import attrs

EMBEDDED = "embedded"
#: Holders per distribution transaction unless configured (Distribution caps a batch at 250).
DEFAULT_BATCH_SIZE = 250


@attrs.frozen
class EvmConfig:
    """How to reach the chain and where the deployed suite is recorded.

    - `rpc_url`: an HTTP JSON-RPC endpoint (Moonbeam, anvil) or "embedded" for an in-process EVM
      (eth-tester with py-evm; its chain id is the tester's own and `chain_id` is not checked).
    - `chain_id`: expected chain id (1284 Moonbeam, 1287 Moonbase Alpha, 1281 Moonbeam dev node);
      the adapter refuses to sign for another chain.
    - `deployment_file`: JSON with the suite's addresses, written by `drexfy contracts deploy`.
    - `confirmations`: blocks a receipt must be buried under before an operation counts as done
      (1 = included).
    - `max_fee_per_gas_wei`: EIP-1559 fee cap; a base fee above it makes writes fail as transient
      (LedgerUnavailable) instead of overpaying.
    - `priority_fee_wei`: the tip offered.
    - `receipt_timeout_s`: how long one call waits for inclusion before reporting LedgerPending
      (the transaction stays journalled and a retry re-broadcasts it).
    - `receipt_timeout_blocks`: how many new blocks one call waits for inclusion before reporting
      LedgerPending; `receipt_timeout_s` is then the backstop for a chain that makes no blocks.
    - `poll_interval_s`: how often the relayer's confirmer asks the chain head (one request for
      all waiting calls; each waiting transaction's receipt is asked once per new block).
    - `block_time_s`: the chain's block time (Moonbeam: 6 s). A worker job whose transaction is not
      included within the worker's `ledger_wait_s` (`LEDGER_WAIT`) hands back `LedgerPending`, and
      comes back after one block instead of holding a worker slot while the chain works.
    - `keeper_grace_s`: how long the keeper lets a claimed nonce stand unsigned before it spends
      it on a no-op, and a signed transaction unmined before it broadcasts it again.
    """

    rpc_url: str = EMBEDDED
    chain_id: int = 1287
    deployment_file: Path = Path(".drexfy/evm-deployment.json")
    confirmations: int = 1
    max_fee_per_gas_wei: int = 500 * 10**9
    priority_fee_wei: int = 10**9
    receipt_timeout_s: float = 60.0
    receipt_timeout_blocks: int = 10
    poll_interval_s: float = 0.05
    block_time_s: float = 6.0
    keeper_grace_s: float = 10.0
    #: Holders per Distribution batch (each batch is one transaction); the contract caps it too.
    batch_size: int = DEFAULT_BATCH_SIZE
    #: Blocks per eth_getLogs request when listing holders (public RPC endpoints cap the range).
    log_chunk_blocks: int = 2_000

    @property
    def embedded(self) -> bool:
        return self.rpc_url == EMBEDDED
