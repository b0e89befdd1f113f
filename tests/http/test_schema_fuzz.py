"""A bounded schemathesis run over /api/openapi.json with each role's token (issue 15): no 5xx, and
no answer the document does not describe (status, content type, headers, body schema), and no
request that breaks the document's constraints accepted. The server is the real app (SQLite store,
local vault, sandbox providers, the in-memory ledger) on a loopback port; schemathesis runs as its
CLI, the way an outside client would. `make fuzz` runs the same with more examples."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from drexfy.adapters.notify import RecordingNotifier
from drexfy.entrypoints.config import load_settings
from drexfy.entrypoints.container import build_container
from drexfy.entrypoints.http import Role, create_app, issue_token
from drexfy.entrypoints.http.server import make_runner
from tests.http.conftest import BANK, JWT_SECRET, http_settings

#: Examples per operation and phase; FUZZ_EXAMPLES raises it (make fuzz).
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "5"))
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
    ]
)


def _serve(data_dir: Path, ready: threading.Event, box: dict[str, Any]) -> None:
    async def main() -> None:
        overrides = {"data_dir": str(data_dir), "ledger.kind": "memory", **BANK}
        settings = load_settings(env={}, overrides=overrides)
        container = build_container(settings)
        services = await container.services()
        app = create_app(services, http_settings(), notifier=RecordingNotifier())
        runner = make_runner(app)
        await runner.setup()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            box["port"] = s.getsockname()[1]
        await web.TCPSite(runner, "127.0.0.1", box["port"]).start()
        box["stop"] = asyncio.Event()
        box["loop"] = asyncio.get_running_loop()
        ready.set()
        await box["stop"].wait()
        await runner.cleanup()
        shutdown = container.shutdown_resources()
        if shutdown is not None:
            await shutdown

    asyncio.run(main())


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    ready, box = threading.Event(), {}
    thread = threading.Thread(target=_serve, args=(tmp_path_factory.mktemp("fuzz"), ready, box), daemon=True)
    thread.start()
    assert ready.wait(30)
    yield f"http://127.0.0.1:{box['port']}"
    box["loop"].call_soon_threadsafe(box["stop"].set)
    thread.join(30)


@pytest.mark.parametrize("role", [r.value for r in Role])
def test_the_api_answers_as_its_document_says_for_every_role(server: str, role: str, tmp_path: Path) -> None:
    token = issue_token(JWT_SECRET, Role(role), investor_id="inv_fuzz" if role == "investor" else None)
    cli = Path(sys.executable).with_name("schemathesis")
    command = [
        str(cli),
        "run",
        f"{server}/api/openapi.json",
        "--header",
        f"Authorization: Bearer {token}",
        "--checks",
        CHECKS,
        "--max-examples",
        str(EXAMPLES),
        "--phases",
        "examples,coverage,fuzzing",
        "--seed",
        "15",
        "--workers",
        "1",
        "--no-shrink",
        "--continue-on-failure",
        "--generation-database",
        "none",
        "--request-timeout",
        "10",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path, check=False)
    assert result.returncode == 0, result.stdout[-12000:] + result.stderr[-3000:]
