"""A JSON-RPC proxy that counts what the platform asks the node: `with CountingProxy(node_url) as p`.

The bench points `drexfy serve` and `drexfy worker` at `p.url`; `p.counts` is a Counter of methods
(each element of a batch counted), `p.reset()` starts a new window. It runs its own event loop in a
thread so the bench's synchronous harness can use it.
"""

from __future__ import annotations

import asyncio
import collections
import json
import socket
import threading
from typing import Any

import aiohttp
from aiohttp import web


class CountingProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.counts: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def reset(self) -> None:
        with self._lock:
            self.counts.clear()

    def snapshot(self) -> collections.Counter[str]:
        with self._lock:
            return collections.Counter(self.counts)

    async def _forward(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            parsed: Any = json.loads(body)
            calls = parsed if isinstance(parsed, list) else [parsed]
            with self._lock:
                for call in calls:
                    self.counts[str(call.get("method"))] += 1
        except (ValueError, AttributeError):
            pass
        assert self._session is not None
        async with self._session.post(self.upstream, data=body, headers={"Content-Type": "application/json"}) as reply:
            return web.Response(body=await reply.read(), status=reply.status, content_type="application/json")

    async def _start(self) -> None:
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=128))
        app = web.Application(client_max_size=64 * 1024**2)
        app.router.add_post("/", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    def __enter__(self) -> CountingProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        return self

    def __exit__(self, *_: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
