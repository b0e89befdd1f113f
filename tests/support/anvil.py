"""anvil (npm `@foundry-rs/anvil`, pinned in package.json) as the EVM node of the tests and the gas bench.

`AnvilNode` starts `node_modules/.bin/anvil` on a free loopback port with a Moonbeam chain id (1287,
Moonbase Alpha, by default), waits until it answers JSON-RPC and stops it after. Fixtures:

- `anvil_node` (session): one node per pytest process, so each xdist worker has its own;
- `anvil_url`: its HTTP URL;
- `private_anvil_node` (function): a node of the test's own, for tests that stop it or need a clean chain;
- `shared_evm_environment(config)`: anvil + the deployed suite + the platform keys' vault, for the
  ledger-parametrised suites (BDD, demo tests); see `tests/support/ledgers.py`.

Tests import the fixtures they use (`from tests.support.anvil import anvil_node, anvil_url`) or a
conftest lists this module in `pytest_plugins`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
ANVIL = ROOT / "node_modules" / ".bin" / "anvil"
MOONBASE_ALPHA = 1287


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class AnvilNode:
    """One anvil process on 127.0.0.1. Blocks are mined on every transaction (automine)."""

    def __init__(
        self,
        chain_id: int = MOONBASE_ALPHA,
        port: int | None = None,
        gas_limit: int = 60_000_000,
        extra_args: tuple[str, ...] = (),
    ):
        self.chain_id = chain_id
        self.extra_args = extra_args
        self.port = port or _free_port()
        self.gas_limit = gas_limit
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 30.0) -> None:
        if self.running:
            return
        if not ANVIL.exists():
            raise RuntimeError(f"{ANVIL} not found; run `make node` (npm install) first")
        self._proc = subprocess.Popen(
            [
                str(ANVIL),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--chain-id",
                str(self.chain_id),
                "--gas-limit",
                str(self.gas_limit),
                "--silent",
                *self.extra_args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # Own process group: the npm entry point is a node wrapper around the real binary,
            # and stop() must end both.
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"anvil exited with {self._proc.returncode} (port {self.port} taken?)")
            try:
                if int(self.rpc("eth_chainId"), 16) == self.chain_id:
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"anvil did not answer on {self.url} within {timeout}s")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def rpc(self, method: str, *params: Any) -> Any:
        """A raw JSON-RPC call (for test set-up: anvil_setBalance, evm_snapshot, ...)."""
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}).encode()
        request = urllib.request.Request(self.url, data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            answer = json.loads(response.read())
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer["result"]

    def fund(self, address: str, wei: int = 10**24) -> None:
        """Give `address` native coin for gas (the platform's relayer and admin keys)."""
        self.rpc("anvil_setBalance", address, hex(wei))

    def __enter__(self) -> AnvilNode:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_anvil(chain_id: int = MOONBASE_ALPHA, attempts: int = 3, extra_args: tuple[str, ...] = ()) -> AnvilNode:
    """Start a node, retrying on a fresh port if another process took the probed one."""
    for attempt in range(attempts):
        node = AnvilNode(chain_id, extra_args=extra_args)
        try:
            node.start()
            return node
        except RuntimeError:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def anvil_node() -> Iterator[AnvilNode]:
    """An anvil node shared by the tests of this pytest process (one per xdist worker)."""
    node = start_anvil()
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture
def anvil_url(anvil_node: AnvilNode) -> str:
    return anvil_node.url


@pytest.fixture
def private_anvil_node() -> Iterator[AnvilNode]:
    """A node only this test uses: a clean chain, free to stop."""
    node = start_anvil()
    try:
        yield node
    finally:
        node.stop()


# ================================================================================================
# Shared EVM environment for the ledger-parametrised suites (BDD, demo tests)
# ================================================================================================


@dataclasses.dataclass
class EvmEnvironment:
    """One anvil per test process with the contract suite deployed once, and the vault directory
    holding the platform keys that deployed it. Scenarios share the chain and the platform keys;
    investor wallets are new per scenario. Each scenario's store starts with an empty journal, which
    is fine: relayer nonces are allocated from max(chain, journal)."""

    node: AnvilNode
    directory: Path

    @property
    def deployment_file(self) -> Path:
        return self.directory / "evm-deployment.json"

    @property
    def overrides(self) -> dict[str, Any]:
        """Settings (dotted keys) pointing the container at anvil, the deployment and the vault."""
        return {
            "ledger.evm.rpc_url": self.node.url,
            "ledger.evm.chain_id": self.node.chain_id,
            "ledger.evm.deployment_file": str(self.deployment_file),
            "vault.directory": str(self.directory / "keys"),
            "vault.master_key_file": str(self.directory / "vault-master.key"),
        }


def start_evm_environment(extra_args: tuple[str, ...] = ()) -> EvmEnvironment:
    """`extra_args` go to anvil (say `--prune-history 2` for a node that keeps no old state)."""
    directory = Path(tempfile.mkdtemp(prefix="drexfy-evm-"))
    key_file = directory / "vault-master.key"
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_bytes(32).hex())
    node = start_anvil(extra_args=extra_args)
    env = EvmEnvironment(node, directory)
    try:
        asyncio.run(_deploy(env))
    except BaseException:
        node.stop()
        raise
    return env


async def _deploy(env: EvmEnvironment) -> None:
    from drexfy.adapters.evm import EvmConfig, connect, deploy_suite
    from drexfy.adapters.evm.memory_journal import MemoryJournal
    from drexfy.adapters.local_vault import LocalVault, load_master_key

    vault = LocalVault(
        env.directory / "keys", load_master_key(env.directory / "vault-master.key", allow_generate=False)
    )
    config = EvmConfig(rpc_url=env.node.url, chain_id=env.node.chain_id, deployment_file=env.deployment_file)
    w3 = await connect(config)
    (await deploy_suite(w3, vault, MemoryJournal(), config)).save(env.deployment_file)
    await w3.provider.disconnect()  # type: ignore[union-attr]


_EVM_ENV: EvmEnvironment | None = None
_EVM_LOCK = threading.Lock()


def shared_evm_environment(config: Any) -> EvmEnvironment:
    """The process-wide EVM environment, started on first use and stopped at the end of the session
    (`config` is pytest's Config, used to register the cleanup)."""
    global _EVM_ENV
    with _EVM_LOCK:
        if _EVM_ENV is None:
            env = _EVM_ENV = start_evm_environment()

            def stop() -> None:
                global _EVM_ENV
                env.node.stop()
                shutil.rmtree(env.directory, ignore_errors=True)
                _EVM_ENV = None

            config.add_cleanup(stop)
        return _EVM_ENV
