"""The local vault: keys encrypted at rest and bound to their wallet; master key handling."""

import asyncio
import json
import os

import pytest

from drexfy.adapters import secp256k1
from drexfy.adapters.local_vault import MASTER_KEY_ENV, LocalVault, load_master_key
from drexfy.domain.errors import ConfigurationError, KeyNotFound, VaultError


@pytest.fixture
def vault(tmp_path):
    return LocalVault(tmp_path / "keys", bytes(range(32)))


def run(coro):
    return asyncio.run(coro)


def test_signatures_recover_to_the_wallet_key_and_creation_is_idempotent(vault):
    public = run(vault.create_key("wallet-a"))
    assert run(vault.create_key("wallet-a")) == public
    digest = bytes(32 * [7])
    signature = run(vault.sign_digest("wallet-a", digest))
    assert secp256k1.verify(digest, signature, public)


def test_the_file_holds_no_clear_key(vault, tmp_path):
    run(vault.create_key("wallet-a"))
    (path,) = (tmp_path / "keys").iterdir()
    record = json.loads(path.read_text())
    assert set(record) == {"wallet_id", "nonce", "ciphertext", "public_key"}
    assert oct(path.stat().st_mode)[-3:] == "600"


def test_a_ciphertext_copied_to_another_wallet_does_not_decrypt(vault, tmp_path):
    run(vault.create_key("wallet-a"))
    run(vault.create_key("wallet-b"))
    a = tmp_path / "keys" / "wallet-a.json"
    b = tmp_path / "keys" / "wallet-b.json"
    b.write_text(a.read_text())
    with pytest.raises(VaultError):
        run(vault.sign_digest("wallet-b", bytes(32)))


def test_unknown_wallet_and_bad_digest(vault):
    with pytest.raises(KeyNotFound):
        run(vault.sign_digest("nobody", bytes(32)))
    run(vault.create_key("wallet-a"))
    with pytest.raises(VaultError):
        run(vault.sign_digest("wallet-a", b"short"))


def test_master_key_is_generated_only_in_embedded_mode(tmp_path, monkeypatch):
    monkeypatch.delenv(MASTER_KEY_ENV, raising=False)
    with pytest.raises(ConfigurationError, match="refusing to generate"):
        load_master_key(tmp_path / "prod.key", allow_generate=False)
    key = load_master_key(tmp_path / "dev.key", allow_generate=True)
    assert len(key) == 32 and load_master_key(tmp_path / "dev.key", allow_generate=False) == key
    assert oct(os.stat(tmp_path / "dev.key").st_mode)[-3:] == "600"
    monkeypatch.setenv(MASTER_KEY_ENV, "00" * 31)
    with pytest.raises(ConfigurationError, match="32 bytes"):
        load_master_key(None, allow_generate=False)
