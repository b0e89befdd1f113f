"""Embedded mode keeps the vault master key in clear beside the encrypted wallet keys: the start
says so loudly, and the key may live elsewhere (issue 15)."""

from __future__ import annotations

import logging

import pytest

from drexfy.entrypoints.config import load_settings
from drexfy.entrypoints.container import build_container


async def _start(overrides, monkeypatch, caplog) -> list[str]:
    monkeypatch.delenv("DREXFY_VAULT_MASTER_KEY", raising=False)
    container = build_container(load_settings(env={}, overrides={"ledger.kind": "memory", **overrides}))
    with caplog.at_level(logging.WARNING, logger="drexfy.container"):
        await container.vault()
    shutdown = container.shutdown_resources()
    if shutdown is not None:
        await shutdown
    return [r.getMessage() for r in caplog.records if r.name == "drexfy.container"]


async def test_a_master_key_beside_the_keys_is_a_loud_warning(tmp_path, monkeypatch, caplog):
    messages = await _start({"data_dir": str(tmp_path)}, monkeypatch, caplog)
    assert any(m.startswith("INSECURE: the vault master key") for m in messages)


@pytest.mark.parametrize("where", ["file", "env"])
async def test_a_master_key_kept_elsewhere_is_not(tmp_path, monkeypatch, caplog, where):
    elsewhere = tmp_path / "secrets" / "master.key"
    overrides = {"data_dir": str(tmp_path / "data")}
    if where == "file":
        elsewhere.parent.mkdir()
        elsewhere.write_text("11" * 32)
        overrides["vault.master_key_file"] = str(elsewhere)
        messages = await _start(overrides, monkeypatch, caplog)
    else:
        container = build_container(load_settings(env={}, overrides={"ledger.kind": "memory", **overrides}))
        monkeypatch.setenv("DREXFY_VAULT_MASTER_KEY", "22" * 32)
        with caplog.at_level(logging.WARNING, logger="drexfy.container"):
            await container.vault()
        shutdown = container.shutdown_resources()
        if shutdown is not None:
            await shutdown
        messages = [r.getMessage() for r in caplog.records if r.name == "drexfy.container"]
    assert not any("INSECURE" in m for m in messages)
