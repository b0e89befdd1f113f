"""The EVM ledger adapter (Moonbeam in production, anvil in tests, an in-process EVM for the demo).

Entry point for the container::

    ledger = await build_evm_ledger(config, vault, journal)

- `config` (`EvmConfig`): `rpc_url` (HTTP JSON-RPC URL, or "embedded" for eth-tester + py-evm in
  process), `chain_id`, `deployment_file` (JSON written by `drexfy contracts deploy`; in embedded
  mode the suite is deployed on start and the file written), `confirmations`, `max_fee_per_gas_wei`
  (EIP-1559 cap), `priority_fee_wei`, `receipt_timeout_s`, `batch_size`.
- `vault` (KeyVault): one reserved key per duty (deployment.PLATFORM_KEYS: admin, relayer,
  issuer, registrar, payments attestor, treasury, agent; docs/evm.md, "Keys") signs the platform's
  transactions and attestations, and investors' wallet keys sign their permits. Private keys
  never leave it.
- `journal` (OperationJournal): one signed transaction per operation id, persisted before
  broadcast; relayer nonces come from `allocate_sequence`.

`deploy_suite(...)` deploys the contracts with their roles; see docs/evm.md.
"""

from drexfy.adapters.evm.config import EMBEDDED, EvmConfig
from drexfy.adapters.evm.deployment import ADMIN_KEY, ISSUER_KEY, RELAYER_KEY, Deployment
from drexfy.adapters.evm.factory import build_evm_ledger, connect, deploy_suite
from drexfy.adapters.evm.ledger import EvmLedger

__all__ = [
    "ADMIN_KEY",
    "EMBEDDED",
    "ISSUER_KEY",
    "RELAYER_KEY",
    "Deployment",
    "EvmConfig",
    "EvmLedger",
    "build_evm_ledger",
    "connect",
    "deploy_suite",
]
