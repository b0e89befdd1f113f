"""The XRPL ledger double as a separate process, closing ledgers as a stand-alone rippled does when
something calls `ledger_accept`: here a thread of the harness, every `close_every` seconds, which the
harness can stop (the chain halts: nothing validates) and start again."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


class XrplNode:
    def __init__(self, close_every: float) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self.close_every = close_every
        self._proc: subprocess.Popen[bytes] | None = subprocess.Popen(
            [sys.executable, "-m", "tests.support.xrpl_double", "--port", str(self.port), "--manual-close"],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group, so the harness can SIGSTOP it alone
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                self.rpc("server_info")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the XRPL double did not start") from None
                time.sleep(0.1)
        self.closing = threading.Event()
        self.closing.set()
        self._stopped = threading.Event()
        self._closer = threading.Thread(target=self._close_periodically, daemon=True)
        self._closer.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rpc(self, method: str, **params: Any) -> Any:
        body = json.dumps({"method": method, "params": [params]}).encode()
        request = urllib.request.Request(self.url, data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())["result"]

    def _close_periodically(self) -> None:
        while not self._stopped.wait(self.close_every):
            if self.closing.is_set():
                with contextlib.suppress(OSError):  # hung (SIGSTOP) or stopping: try next time
                    self.rpc("ledger_accept")

    def halt(self) -> None:
        """No ledger closes (nothing validates) until `resume`."""
        self.closing.clear()

    def resume(self) -> None:
        self.closing.set()

    def stop(self) -> None:
        self._stopped.set()
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGCONT)
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
