"""EvmConfig read from the application's settings."""

from __future__ import annotations

from pathlib import Path

from drexfy.adapters.evm import EvmConfig
from drexfy.adapters.evm.config import DEFAULT_BATCH_SIZE
from drexfy.entrypoints.config import load_settings


def test_defaults_are_the_embedded_evm(tmp_path: Path) -> None:
    config = EvmConfig.from_settings(load_settings(env={}, overrides={"data_dir": str(tmp_path)}))
    assert config.embedded
    assert config.deployment_file == tmp_path / "evm-deployment.json"
    assert config.confirmations >= 1
    assert config.batch_size == DEFAULT_BATCH_SIZE  # 0 in the settings means automatic


def test_settings_are_carried_over(tmp_path: Path) -> None:
    settings = load_settings(
        env={},
        overrides={
            "data_dir": str(tmp_path),
            "ledger.evm.rpc_url": "http://127.0.0.1:9944",
            "ledger.evm.chain_id": 1284,
            "ledger.evm.deployment_file": str(tmp_path / "moonbeam.json"),
            "ledger.evm.confirmations": 3,
            "ledger.evm.max_fee_gwei": 150,
            "processes.distribution_batch_size": 40,
        },
    )
    config = EvmConfig.coerce(settings)
    assert not config.embedded
    assert (config.rpc_url, config.chain_id, config.confirmations) == ("http://127.0.0.1:9944", 1284, 3)
    assert config.deployment_file == tmp_path / "moonbeam.json"
    assert config.max_fee_per_gas_wei == 150 * 10**9
    assert config.batch_size == 40
    assert EvmConfig.coerce(config) is config
