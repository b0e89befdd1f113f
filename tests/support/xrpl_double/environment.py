"""An XRPL environment for ledger-parametrised suites (BDD, demo tests): one ledger double per test
process, running on its own thread, and platform accounts set up once in a shared vault.

Scenarios share the double and the platform accounts; each gets its own vault directory with copies
of the platform keys, so investor keys are never shared. Each scenario's own store starts with an
empty journal; that is fine because the adapter allocates sequences from max(chain, journal).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import tempfile
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import attrs

from tests.support.xrpl_double.engine import GENESIS_SEED
from tests.support.xrpl_double.server import DoubleConfig, LedgerDouble


@attrs.define
class XrplEnvironment:
    double: LedgerDouble
    loop: asyncio.AbstractEventLoop
    thread: threading.Thread
    directory: Path

    @property
    def overrides(self) -> dict[str, Any]:
        """Settings (dotted keys) pointing the container at the double, with a fresh vault directory
        per call that holds copies of the (encrypted) platform keys: tests share the platform
        accounts but never each other's investor keys, even when their wallet ids repeat."""
        vault = Path(tempfile.mkdtemp(prefix="vault-", dir=self.directory))
        for key_file in (self.directory / "keys").glob("platform__*.json"):
            shutil.copy2(key_file, vault / key_file.name)
        return {
            "ledger.xrpl.rpc_url": self.double.url,
            "vault.directory": str(vault),
            "vault.master_key_file": str(self.directory / "vault-master.key"),
        }

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.double.stop(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        shutil.rmtree(self.directory, ignore_errors=True)


_ENV: XrplEnvironment | None = None
_LOCK = threading.Lock()


def start_environment() -> XrplEnvironment:
    """Start the double on a background loop and set up the platform accounts."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="xrpl-double", daemon=True)
    thread.start()
    double = LedgerDouble(DoubleConfig(auto_close=True, close_interval=0.2))
    started: Future[None] = asyncio.run_coroutine_threadsafe(double.start(), loop)
    started.result(timeout=10)
    directory = Path(tempfile.mkdtemp(prefix="drexfy-xrpl-"))
    key_file = directory / "vault-master.key"
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_bytes(32).hex())
    env = XrplEnvironment(double, loop, thread, directory)
    asyncio.run(_setup(env))
    return env


async def _setup(env: XrplEnvironment) -> None:
    from drexfy.adapters.local_vault import LocalVault, load_master_key
    from drexfy.adapters.sqlite.store import open_sqlite_store
    from drexfy.adapters.xrpl import XrplConfig, XrplLedger, setup_platform

    vault = LocalVault(
        env.directory / "keys", load_master_key(env.directory / "vault-master.key", allow_generate=False)
    )
    store = await open_sqlite_store(env.directory / "setup.db", synchronous="NORMAL")
    ledger = XrplLedger(XrplConfig(rpc_url=env.double.url, poll_interval=0.05), vault, store.journal)
    try:
        await setup_platform(ledger, fund_from_seed=GENESIS_SEED)
    finally:
        await ledger.close()
        await store.close()


def shared_environment(config: Any) -> XrplEnvironment:
    """The process-wide environment, started on first use and stopped at the end of the session
    (`config` is pytest's Config, used to register the cleanup)."""
    global _ENV
    with _LOCK:
        if _ENV is None:
            _ENV = start_environment()
            env = _ENV

            def stop() -> None:
                global _ENV
                env.stop()
                _ENV = None

            config.add_cleanup(stop)
        return _ENV
