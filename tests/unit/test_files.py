"""Files several processes create at once: one value wins, nobody reads half a file or fails.

`drexfy serve --no-worker` and `drexfy worker` started together on a fresh embedded data directory
both generate the vault master key and the HTTP secrets; before `adapters.files` one of them could
crash with FileExistsError or read an empty key file.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import stat
from pathlib import Path
from typing import Any

import pytest

from drexfy.adapters import files
from drexfy.adapters.local_vault import LocalVault, load_master_key

PROCESSES = 6
ROUNDS = 10


def _master(path: Path, barrier: Any) -> str:
    barrier.wait()
    return load_master_key(path, allow_generate=True).hex()


def _secrets(data_dir: Path, barrier: Any) -> str:
    from drexfy.entrypoints.config import load_settings
    from drexfy.entrypoints.runtime import settings as runtime_settings

    settings = load_settings(None, overrides={"data_dir": str(data_dir)})
    barrier.wait()
    return json.dumps(runtime_settings.http_secrets(settings), sort_keys=True)


def _wallet(directory: Path, barrier: Any) -> str:
    vault = LocalVault(directory, b"\x01" * 32)
    barrier.wait()
    return asyncio.run(vault.create_key("inv_race")).hex()


def _race(target: Any, arg: Path) -> list[str]:
    ctx = multiprocessing.get_context("fork")
    with ctx.Manager() as manager:
        barrier = manager.Barrier(PROCESSES)
        with ctx.Pool(PROCESSES) as pool:
            return pool.starmap(target, [(arg, barrier)] * PROCESSES)


@pytest.mark.parametrize("target", [_master, _secrets, _wallet], ids=["master-key", "http-secrets", "wallet-key"])
def test_processes_racing_to_create_agree_on_one_value(tmp_path, target):
    for n in range(ROUNDS):
        where = tmp_path / f"round{n}"
        arg = where / "vault-master.key" if target is _master else where
        results = _race(target, arg)
        assert len(set(results)) == 1, f"round {n}: processes saw different values"
        leftovers = [p.name for p in where.rglob(".*.tmp")]
        assert leftovers == []


def test_publish_once_keeps_the_first_value_private_and_whole(tmp_path):
    path = tmp_path / "sub" / "key"
    assert files.publish_once(path, b"first") is True
    assert files.publish_once(path, b"second") is False
    assert path.read_bytes() == b"first"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    files.replace_atomically(path, b"third")
    assert path.read_bytes() == b"third" and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["key"]


def test_secrets_missing_from_an_older_file_are_added_and_existing_ones_kept(tmp_path):
    from drexfy.entrypoints.config import load_settings
    from drexfy.entrypoints.runtime import settings as runtime_settings

    (tmp_path / runtime_settings.SECRETS_FILE).write_text(json.dumps({"jwt_secret": "kept"}))
    settings = load_settings(None, overrides={"data_dir": str(tmp_path)})
    first = runtime_settings.http_secrets(settings)
    assert first["jwt_secret"] == "kept" and first["stripe_webhook_secret"].startswith("whsec_")
    assert runtime_settings.http_secrets(settings) == first
