"""Setting the platform up on an XRP Ledger, and the rippled-compatible ledger double for the demo.

`drexfy xrpl setup` and the XRPL demo both use this; neither the demo nor the CLI imports the other.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

RPC_URL_ENV = "DREXFY_LEDGER__XRPL__RPC_URL"


async def setup_from_settings(settings: Any, *, fund_from_genesis: bool) -> list[str]:
    """Build the vault and store the container would, and run the platform setup with them."""
    from drexfy.adapters.xrpl import build_xrpl_ledger, setup_platform
    from drexfy.adapters.xrpl.setup import STANDALONE_GENESIS_SEED
    from drexfy.entrypoints.adapter_config import xrpl_config
    from drexfy.entrypoints.container import build_container

    container = build_container(settings)
    try:
        vault = await container.vault()
        store = await container.store()
        ledger = await build_xrpl_ledger(xrpl_config(settings), vault, store.journal)
        try:
            return await setup_platform(ledger, fund_from_seed=STANDALONE_GENESIS_SEED if fund_from_genesis else None)
        finally:
            await ledger.close()
    finally:
        shutdown = container.shutdown_resources()
        if shutdown is not None:
            await shutdown


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_double(port: int | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """Start `python -m tests.support.xrpl_double` from the repository checkout; wait until it answers."""
    import httpx

    root = Path(__file__).resolve().parents[3]
    if not (root / "tests" / "support" / "xrpl_double").is_dir():
        raise SystemExit("the XRPL ledger double ships with the repository's tests: run from a checkout")
    port = port or _free_port()
    process = subprocess.Popen(  # noqa: S603 - our own test server, a fixed argv
        [sys.executable, "-m", "tests.support.xrpl_double", "--port", str(port)],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/"
    for _ in range(200):
        try:
            httpx.post(url, json={"method": "server_info", "params": [{}]}, timeout=1.0)
            return process, url
        except httpx.HTTPError:
            time.sleep(0.05)
    process.terminate()
    raise SystemExit("the XRPL ledger double did not start")


@contextlib.contextmanager
def demo_double(data_dir: str | None) -> Iterator[str]:
    """The ledger double started, the platform set up on it (vault and store in `data_dir`, or a
    temporary one) and `ledger.xrpl.rpc_url` pointed at it; yields the data dir; stops the double."""
    from drexfy.entrypoints.config import load_settings

    process, url = start_double()
    previous = os.environ.get(RPC_URL_ENV)
    os.environ[RPC_URL_ENV] = url
    try:
        with tempfile.TemporaryDirectory(prefix="drexfy-xrpl-demo-") as tmp:
            directory = data_dir or tmp
            settings = load_settings(overrides={"data_dir": directory, "ledger.kind": "xrpl"})
            print(f"XRPL ledger double at {url}; setting up the platform accounts")
            for line in asyncio.run(setup_from_settings(settings, fund_from_genesis=True)):
                print(f"  {line}")
            yield directory
    finally:
        if previous is None:
            os.environ.pop(RPC_URL_ENV, None)
        else:
            os.environ[RPC_URL_ENV] = previous
        process.terminate()
        process.wait(timeout=10)
