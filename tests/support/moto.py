"""moto in server mode for the AWS tests: a real HTTP endpoint that boto3 talks to with `endpoint_url`.

`MotoServer` starts moto's server (the `moto_server` of this venv, through `moto_launcher.py`, which
corrects KMS Sign for MessageType=DIGEST; see there) on a free loopback port and can stop,
restart (same port), pause and resume it for fault tests. `moto_server` keeps its state in memory:
a restart starts empty, a pause (SIGSTOP) keeps everything. Fixtures:

- `moto_server` (session): one server per pytest process, so each xdist worker has its own;
- `moto_endpoint`: its URL;
- `private_moto_server` (function): a server of the test's own, for tests that stop or pause it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

#: Dummy credentials: moto accepts anything, boto3 needs something.
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "eu-west-1",
}
REGION = "eu-west-1"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _moto_command() -> list[str]:
    """moto's own server `main`, started through our launcher (which makes KMS honour DIGEST)."""
    if not (Path(sys.executable).parent / "moto_server").exists():
        raise RuntimeError(f"moto_server not found next to {sys.executable}; install '.[dev]'")
    return [sys.executable, str(Path(__file__).with_name("moto_launcher.py"))]


class MotoServer:
    """One `moto_server` process on 127.0.0.1."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or _free_port()
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 20.0) -> None:
        if self.running:
            return
        env = {**os.environ, **AWS_ENV}
        self._proc = subprocess.Popen(
            [*_moto_command(), "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"moto_server exited with {self._proc.returncode} (port {self.port} taken?)")
            try:
                with urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=1):
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"moto_server did not answer on {self.endpoint} within {timeout}s")

    def stop(self) -> None:
        """Stop the process (its state is gone); the port stays ours for `start`."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGCONT)  # a paused process cannot handle SIGTERM
            proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def restart(self) -> None:
        """Stop and start again on the same port (empty state)."""
        self.stop()
        self.start()

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections are accepted by the kernel but never answered,
        like an AWS endpoint that hangs. State is kept."""
        assert self._proc is not None
        self._proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self._proc is not None
        self._proc.send_signal(signal.SIGCONT)

    def reset(self) -> None:
        """Forget every resource (moto's reset API)."""
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=5):
            pass


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """A moto server shared by the tests of this pytest process (one per xdist worker)."""
    for name, value in AWS_ENV.items():
        os.environ.setdefault(name, value)
    server = MotoServer()
    for attempt in range(3):
        try:
            server.start()
            break
        except RuntimeError:
            if attempt == 2:
                raise
            server = MotoServer()  # port grabbed by someone else between probe and bind
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def moto_endpoint(moto_server: MotoServer) -> str:
    return moto_server.endpoint


@pytest.fixture
def private_moto_server() -> Iterator[MotoServer]:
    """A server only this test uses: free to stop, restart or pause it."""
    for name, value in AWS_ENV.items():
        os.environ.setdefault(name, value)
    server = MotoServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
