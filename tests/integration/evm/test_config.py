"""EvmConfig read from the application's settings (by the container's mapping, not the adapter)."""

from __future__ import annotations

from pathlib import Path

import pytest

from drexfy.adapters.evm.config import DEFAULT_BATCH_SIZE
from drexfy.domain.errors import ConfigurationError
from drexfy.entrypoints.adapter_config import evm_config
from drexfy.entrypoints.config import load_settings


def test_defaults_are_the_embedded_evm(tmp_path: Path) -> None:
    config = evm_config(load_settings(env={}, overrides={"data_dir": str(tmp_path)}))
    assert config.embedded
    assert config.deployment_file == tmp_path / "evm-deployment.json"
    assert config.confirmations >= 1
    assert config.batch_size == DEFAULT_BATCH_SIZE  # 0 in the settings means automatic
    assert (config.receipt_timeout_s, config.keeper_grace_s) == (60.0, 10.0)


def test_settings_are_carried_over(tmp_path: Path) -> None:
    settings = load_settings(
        env={"DREXFY_LEDGER__EVM__RECEIPT_TIMEOUT_S": "240", "DREXFY_LEDGER__EVM__POLL_INTERVAL_S": "1.5"},
        overrides={
            "data_dir": str(tmp_path),
            "ledger.evm.rpc_url": "http://127.0.0.1:9944",
            "ledger.evm.chain_id": 1284,
            "ledger.evm.deployment_file": str(tmp_path / "moonbeam.json"),
            "ledger.evm.confirmations": 3,
            "ledger.evm.max_fee_gwei": 150,
            "ledger.evm.keeper_grace_s": 30.0,
            "processes.distribution_batch_size": 40,
        },
    )
    config = evm_config(settings)
    assert not config.embedded
    assert (config.rpc_url, config.chain_id, config.confirmations) == ("http://127.0.0.1:9944", 1284, 3)
    assert config.deployment_file == tmp_path / "moonbeam.json"
    assert config.max_fee_per_gas_wei == 150 * 10**9
    assert config.batch_size == 40
    assert (config.receipt_timeout_s, config.poll_interval_s, config.keeper_grace_s) == (240.0, 1.5, 30.0)


@pytest.mark.parametrize(
    ("key", "value"),
    [("receipt_timeout_s", 0.0), ("poll_interval_s", 120.0), ("keeper_grace_s", 0.5), ("receipt_timeout_s", True)],
)
def test_timeouts_out_of_bounds_are_refused_naming_the_setting(tmp_path: Path, key: str, value: object) -> None:
    with pytest.raises(ConfigurationError, match=f"ledger.evm.{key}"):
        load_settings(env={}, overrides={"data_dir": str(tmp_path), f"ledger.evm.{key}": value})


def test_repayment_batches_fill_a_block_on_the_evm_ledger(tmp_path: Path) -> None:
    """0 means automatic: on the EVM ledger a repayment batch is several on-chain chunks (sent
    together, one block for all), each within the contract's 250; elsewhere the store's size."""
    from drexfy.entrypoints.container import _process_settings

    def settings(**overrides: object) -> object:
        return load_settings(env={}, overrides={"data_dir": str(tmp_path), **overrides})

    evm = settings(**{"ledger.kind": "evm"})
    assert _process_settings(evm).distribution_batch_size == 1500  # type: ignore[arg-type]
    assert evm_config(evm).batch_size == DEFAULT_BATCH_SIZE == 250  # type: ignore[arg-type]
    assert _process_settings(settings(**{"ledger.kind": "memory"})).distribution_batch_size == 200  # type: ignore[arg-type]
    chosen = settings(**{"ledger.kind": "evm", "processes.distribution_batch_size": 40})
    assert _process_settings(chosen).distribution_batch_size == 40  # type: ignore[arg-type]
