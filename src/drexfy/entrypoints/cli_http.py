"""`drexfy serve` and `drexfy worker`, registered into the main `drexfy` parser.

    drexfy serve [--host H] [--port P] [--no-worker]     the API + webhooks (+ the worker by default)
    drexfy worker [--once] [--metrics-port P]            the worker alone (scale out)

On embedded defaults nothing needs configuring: missing HTTP secrets are generated once into
`<data_dir>/http-secrets.json` (mode 0600) and printed by `serve`, so the sandbox providers (and
you, with curl) can sign webhooks and tokens. In production mode they must be configured. The
notifier, like every adapter, comes from the container.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import Any

from drexfy.entrypoints.cli_common import (
    add_config_option,
    load,
    open_services_and_notifier,
    refuse_process_local_ledger,
    wait_for_signal,
)
from drexfy.entrypoints.runtime.settings import build_http_settings, build_worker_settings


def register(subparsers: Any) -> None:
    """Add serve and worker to the main parser's sub-commands."""
    serve = subparsers.add_parser("serve", help="run the HTTP API and webhooks (with the worker)")
    serve.add_argument("--host", default=None, help="listen address (default: http.host)")
    serve.add_argument("--port", type=int, default=None, help="listen port (default: http.port)")
    serve.add_argument("--no-worker", action="store_true", help="do not run the worker in this process")
    add_config_option(serve)
    serve.set_defaults(func=cmd_serve)

    worker = subparsers.add_parser("worker", help="run the inbox worker and outbox relay alone")
    worker.add_argument("--once", action="store_true", help="process what is due, then exit")
    worker.add_argument(
        "--metrics-port", type=int, default=None, help="serve /metrics and /health of this worker on this port"
    )
    add_config_option(worker)
    worker.set_defaults(func=cmd_worker)


def cmd_serve(args: argparse.Namespace) -> int:
    return asyncio.run(_serve(args))


async def _serve(args: argparse.Namespace) -> int:
    from aiohttp import web

    from drexfy.entrypoints.container import warn_if_master_key_beside_keys
    from drexfy.entrypoints.http import create_app
    from drexfy.entrypoints.http.server import make_runner
    from drexfy.entrypoints.runtime.logs import configure_logging

    configure_logging(os.environ.get("DREXFY_LOG_LEVEL", "INFO"))
    settings = load(args)
    warn_if_master_key_beside_keys(settings)
    if args.no_worker:
        refuse_process_local_ledger(settings, "serve --no-worker")
    host = args.host or settings.get("http.host")
    port = args.port if args.port is not None else settings.get("http.port")
    http = build_http_settings(settings, run_worker=not args.no_worker)
    async with open_services_and_notifier(settings) as (services, notifier):
        app = create_app(services, http, notifier=notifier)
        runner = make_runner(app)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        print(f"drexfy listening on http://{host}:{port}  (API docs: http://{host}:{port}/api/docs)", flush=True)
        print(
            f"  ledger: {services.ledger.kind}  worker: {'in process' if http.run_worker else 'separate'}", flush=True
        )
        if settings.get("mode") == "embedded":
            for line in sandbox_secret_lines(http):
                print(line, flush=True)
        stop = wait_for_signal()
        try:
            await stop.wait()
        finally:
            await runner.cleanup()
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    return asyncio.run(_worker(args))


async def _worker(args: argparse.Namespace) -> int:
    from drexfy.entrypoints.container import warn_if_master_key_beside_keys
    from drexfy.entrypoints.runtime.logs import configure_logging
    from drexfy.entrypoints.runtime.metrics import Metrics, TimedLedger
    from drexfy.entrypoints.worker import Worker

    configure_logging(os.environ.get("DREXFY_LOG_LEVEL", "INFO"))
    settings = load(args)
    refuse_process_local_ledger(settings, "worker")
    warn_if_master_key_beside_keys(settings)
    metrics = Metrics()
    async with open_services_and_notifier(settings) as (services, notifier):
        import attrs

        timed = attrs.evolve(services, ledger=TimedLedger(services.ledger, metrics.ledger_latency))
        worker = Worker(timed, notifier, build_worker_settings(settings), metrics)
        if args.once:
            handled = await worker.run_until_idle()
            print(f"processed {handled} message(s)")
            return 0
        runner = await _worker_metrics_server(services, metrics, settings, args.metrics_port)
        stop = wait_for_signal()
        task = asyncio.create_task(worker.run())
        await stop.wait()
        worker.stop()
        await task
        if runner is not None:
            await runner.cleanup()
    return 0


def sandbox_secret_lines(http: Any) -> list[str]:
    """What `serve` prints in embedded mode: each webhook's signing secret under its own name (the
    AML webhook has its own unless it is configured to share the KYC one); never the token key."""
    return [
        "  sandbox signing secrets (embedded mode only):",
        f"    KYC webhook HMAC (X-Payload-Digest on /webhooks/kyc): {http.kyc_webhook_secret}",
        f"    AML webhook HMAC (X-Payload-Digest on /webhooks/aml): {http.aml_secret}",
        f"    Stripe webhook secret (Stripe-Signature on /webhooks/payments): {http.payments_webhook_secret}",
        "    bearer tokens: drexfy token issue --role admin",
    ]


async def _worker_metrics_server(services: Any, metrics: Any, settings: Any, port: int | None) -> Any:
    """A minimal HTTP server for a standalone worker: /metrics (its ledger latencies, job outcomes
    and the shared queue gauges) and /health."""
    if port is None:
        return None
    from aiohttp import web

    from drexfy.entrypoints.http.ops import render_metrics
    from drexfy.entrypoints.http.server import make_runner

    async def metrics_handler(request: web.Request) -> web.Response:
        return await render_metrics(services, metrics)

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_get("/metrics", metrics_handler)
    app.router.add_get("/health", health)
    runner = make_runner(app)
    await runner.setup()
    host = settings.get("http.host")
    await web.TCPSite(runner, host, port).start()
    print(f"worker metrics on http://{host}:{port}/metrics", flush=True)
    return runner
