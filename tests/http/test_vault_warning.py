"""Embedded mode keeps the vault master key in clear beside the encrypted wallet keys: `serve` and
`worker` say so loudly at start-up, and the key may live elsewhere (issue 15)."""

from __future__ import annotations

import logging

from drexfy.entrypoints.config import load_settings
from drexfy.entrypoints.container import warn_if_master_key_beside_keys


def _warned(overrides, caplog) -> bool:
    settings = load_settings(env={}, overrides={"ledger.kind": "memory", **overrides})
    with caplog.at_level(logging.WARNING, logger="drexfy.container"):
        warned = warn_if_master_key_beside_keys(settings)
    insecure = any(r.getMessage().startswith("INSECURE: the vault master key") for r in caplog.records)
    assert warned == insecure
    return warned


def test_a_master_key_beside_the_keys_is_a_loud_warning(tmp_path, monkeypatch, caplog):
    monkeypatch.delenv("DREXFY_VAULT_MASTER_KEY", raising=False)
    assert _warned({"data_dir": str(tmp_path)}, caplog)


def test_a_master_key_in_a_file_elsewhere_is_not(tmp_path, monkeypatch, caplog):
    monkeypatch.delenv("DREXFY_VAULT_MASTER_KEY", raising=False)
    elsewhere = tmp_path / "secrets" / "master.key"
    overrides = {"data_dir": str(tmp_path / "data"), "vault.master_key_file": str(elsewhere)}
    assert not _warned(overrides, caplog)


def test_a_master_key_from_the_environment_is_not(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("DREXFY_VAULT_MASTER_KEY", "22" * 32)
    assert not _warned({"data_dir": str(tmp_path)}, caplog)
