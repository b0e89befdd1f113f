"""CLI commands of the HTTP service and the worker, registered into the main `drexfy` parser.

    drexfy serve [--host H] [--port P] [--no-worker]     the API + webhooks (+ the worker by default)
    drexfy worker [--once]                               the worker alone (scale out)
    drexfy token issue --role admin|frontend|compliance|investor [--investor ID] [--ttl S]
    drexfy jobs list [--queue inbox|outbox] [--status DEAD]
    drexfy jobs retry ID [--queue inbox|outbox]
    drexfy jobs purge [--done-days 30] [--idempotency-hours 72]
    drexfy reconcile [--instrument ID ...] [--json]      ledger holders vs the store's positions (exit 1 on drift)
    drexfy demo-http [--ledger memory|evm]               drive the HTTP surface like the frontend and providers

Each sub-command sets `func(args) -> int` on its parser; `cli.py` calls it.

On embedded defaults nothing needs configuring: missing HTTP secrets are generated once into
`<data_dir>/http-secrets.json` (mode 0600) and printed by `serve`, so the sandbox providers (and
you, with curl) can sign webhooks and tokens. In production mode they must be configured.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import signal
import socket
import sys
import tempfile
from collections.abc import AsyncIterator
from typing import Any

from drexfy.adapters import files
from drexfy.domain.errors import ConfigurationError, DomainError

SECRETS_FILE = "http-secrets.json"
_SECRET_KEYS = ("jwt_secret", "kyc_webhook_secret", "aml_webhook_secret", "stripe_webhook_secret", "notify_secret")


def register(subparsers: Any) -> None:
    """Add serve, worker, token, jobs, reconcile and demo-http to the main parser's sub-commands."""
    serve = subparsers.add_parser("serve", help="run the HTTP API and webhooks (with the worker)")
    serve.add_argument("--host", default=None, help="listen address (default: http.host)")
    serve.add_argument("--port", type=int, default=None, help="listen port (default: http.port)")
    serve.add_argument("--no-worker", action="store_true", help="do not run the worker in this process")
    _common(serve)
    serve.set_defaults(func=cmd_serve)

    worker = subparsers.add_parser("worker", help="run the inbox worker and outbox relay alone")
    worker.add_argument("--once", action="store_true", help="process what is due, then exit")
    worker.add_argument(
        "--metrics-port", type=int, default=None, help="serve /metrics and /health of this worker on this port"
    )
    _common(worker)
    worker.set_defaults(func=cmd_worker)

    token = subparsers.add_parser("token", help="API bearer tokens")
    token_sub = token.add_subparsers(dest="token_command", required=True)
    issue = token_sub.add_parser("issue", help="print a signed bearer token")
    issue.add_argument("--role", required=True, choices=["frontend", "admin", "compliance", "investor"])
    issue.add_argument("--investor", default=None, help="investor id (required for --role investor)")
    issue.add_argument("--subject", default=None, help="who the token is for (audit trail)")
    issue.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds (default 3600)")
    _common(issue)
    issue.set_defaults(func=cmd_token_issue)

    jobs = subparsers.add_parser("jobs", help="inspect and retry the worker's jobs")
    jobs_sub = jobs.add_subparsers(dest="jobs_command", required=True)
    listing = jobs_sub.add_parser("list", help="list jobs")
    listing.add_argument("--queue", choices=["inbox", "outbox"], default="inbox")
    listing.add_argument("--status", choices=["PENDING", "RUNNING", "DONE", "DEAD"], default=None)
    listing.add_argument("--limit", type=int, default=50)
    _common(listing)
    listing.set_defaults(func=cmd_jobs_list)
    retry = jobs_sub.add_parser("retry", help="put a dead job back in its queue")
    retry.add_argument("job_id")
    retry.add_argument("--queue", choices=["inbox", "outbox"], default="inbox")
    _common(retry)
    retry.set_defaults(func=cmd_jobs_retry)
    purge = jobs_sub.add_parser("purge", help="delete old DONE jobs and Idempotency-Key answers (DEAD jobs stay)")
    purge.add_argument("--done-days", type=float, default=None, help="keep DONE jobs this many days (default 30)")
    purge.add_argument(
        "--idempotency-hours", type=float, default=None, help="keep Idempotency-Key answers this long (default 72)"
    )
    _common(purge)
    purge.set_defaults(func=cmd_jobs_purge)

    recon = subparsers.add_parser(
        "reconcile", help="compare each instrument's holders on the ledger with the store (exit 1 on drift)"
    )
    recon.add_argument(
        "--instrument", action="append", default=None, help="instrument id (repeatable; default: every issued one)"
    )
    recon.add_argument("--json", action="store_true", help="print one JSON report per instrument")
    _common(recon)
    recon.set_defaults(func=cmd_reconcile)

    demo = subparsers.add_parser("demo-http", help="drive the HTTP API and signed webhooks end to end")
    demo.add_argument("--ledger", choices=["memory", "evm"], default="memory")
    demo.add_argument("--data-dir", default=None, help="keep the demo's data here (default: a temp dir)")
    demo.set_defaults(func=cmd_demo_http)


def _common(parser: argparse.ArgumentParser) -> None:
    if not any(a.dest == "config" for a in parser._actions):
        # SUPPRESS: an absent sub-command --config must not clobber the main parser's --config.
        parser.add_argument("--config", default=argparse.SUPPRESS, help="TOML configuration file (or DREXFY_CONFIG)")


# ------------------------------------------------------------------------------------------------
# Configuration
# ------------------------------------------------------------------------------------------------


def _load(args: argparse.Namespace, overrides: dict[str, Any] | None = None) -> Any:
    from drexfy.entrypoints.config import load_settings

    return load_settings(getattr(args, "config", None), overrides=overrides)


def http_secrets(settings: Any) -> dict[str, str]:
    """The HTTP secrets: configured values, else (embedded mode) generated once and kept in the data dir."""
    configured = {k: settings.get(f"http.{k}") for k in _SECRET_KEYS}
    if all(configured[k] for k in ("jwt_secret", "kyc_webhook_secret", "stripe_webhook_secret")):
        return configured
    if settings.get("mode") != "embedded":
        raise ConfigurationError("http.jwt_secret, http.kyc_webhook_secret and http.stripe_webhook_secret are required")
    path = settings.data_dir / SECRETS_FILE
    # serve, worker and `token issue` may start together: read, fill in and write under one lock
    with files.exclusive(path):
        stored: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
        missing = [key for key in _SECRET_KEYS if not stored.get(key)]
        for key in missing:
            stored[key] = ("whsec_" if key == "stripe_webhook_secret" else "") + secrets.token_hex(24)
        if missing:
            files.replace_atomically(path, json.dumps(stored, indent=2).encode())
    return {k: configured[k] or stored[k] for k in _SECRET_KEYS}


def build_http_settings(settings: Any, *, run_worker: bool = True) -> Any:
    from drexfy.entrypoints.http import HttpSettings

    s = http_secrets(settings)
    return HttpSettings(
        kyc_webhook_secret=s["kyc_webhook_secret"],
        aml_webhook_secret=s["aml_webhook_secret"],
        payments_webhook_secret=s["stripe_webhook_secret"],
        jwt_secret=s["jwt_secret"],
        run_worker=run_worker,
        worker=build_worker_settings(settings),
        jwt_previous_secrets=_previous(settings, "jwt_previous_secrets"),
        kyc_previous_secrets=_previous(settings, "kyc_webhook_previous_secrets"),
        aml_previous_secrets=_previous(settings, "aml_webhook_previous_secrets"),
        payments_previous_secrets=_previous(settings, "stripe_webhook_previous_secrets"),
    )


def _previous(settings: Any, key: str) -> tuple[str, ...]:
    """A rotation's earlier secrets: a comma-separated string (env friendly) or a TOML list."""
    value = settings.get(f"http.{key}")
    items = value.split(",") if isinstance(value, str) else list(value)
    return tuple(str(item).strip() for item in items if str(item).strip())


def build_worker_settings(settings: Any) -> Any:
    """The `[worker]` section as WorkerSettings (validated by the config loader)."""
    from drexfy.entrypoints.http import WorkerSettings

    return WorkerSettings(**settings.get("worker"))


def build_notifier(settings: Any) -> Any:
    from drexfy.adapters.notify import HttpNotifier, RecordingNotifier

    url = settings.get("http.notify_url")
    if not url:
        return RecordingNotifier()
    return HttpNotifier(url, http_secrets(settings)["notify_secret"])


@contextlib.asynccontextmanager
async def _services(settings: Any) -> AsyncIterator[Any]:
    from drexfy.entrypoints.container import build_container

    container = build_container(settings)
    try:
        yield await container.services()  # type: ignore[misc]
    finally:
        shutdown = container.shutdown_resources()
        if shutdown is not None:
            await shutdown


def refuse_process_local_ledger(settings: Any, command: str) -> None:
    """A worker apart from the API must share their ledger. The memory ledger and the embedded EVM
    live inside one process: a separate worker would settle on a private chain of its own that the
    API never sees (and both would deploy the same contracts at the same addresses, which hides it)."""
    from drexfy.entrypoints.config import process_local_ledger

    where = process_local_ledger(settings)
    if where is not None:
        raise ConfigurationError(
            f"{command}: {where} is a ledger inside one process, so a separate worker cannot share it;"
            " run `drexfy serve` with its in-process worker, or point the ledger at a node"
            " (DREXFY_LEDGER__EVM__RPC_URL=http://..., or ledger.kind = 'xrpl')"
        )


def _wait_for_signal() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    return stop


# ------------------------------------------------------------------------------------------------
# serve / worker
# ------------------------------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    return asyncio.run(_serve(args))


async def _serve(args: argparse.Namespace) -> int:
    from aiohttp import web

    from drexfy.entrypoints.http import create_app
    from drexfy.entrypoints.http.logs import configure_logging

    configure_logging(os.environ.get("DREXFY_LOG_LEVEL", "INFO"))
    settings = _load(args)
    if args.no_worker:
        refuse_process_local_ledger(settings, "serve --no-worker")
    host = args.host or settings.get("http.host")
    port = args.port if args.port is not None else settings.get("http.port")
    http = build_http_settings(settings, run_worker=not args.no_worker)
    notifier = build_notifier(settings)
    async with _services(settings) as services:
        app = create_app(services, http, notifier=notifier)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        print(f"drexfy listening on http://{host}:{port}  (API docs: http://{host}:{port}/api/docs)", flush=True)
        print(
            f"  ledger: {services.ledger.kind}  worker: {'in process' if http.run_worker else 'separate'}", flush=True
        )
        if settings.get("mode") == "embedded":
            print("  sandbox signing secrets (embedded mode only):", flush=True)
            print(f"    KYC/AML webhook HMAC (X-Payload-Digest): {http.kyc_webhook_secret}", flush=True)
            print(f"    Stripe webhook secret (Stripe-Signature): {http.payments_webhook_secret}", flush=True)
            print("    bearer tokens: drexfy token issue --role admin", flush=True)
        stop = _wait_for_signal()
        try:
            await stop.wait()
        finally:
            await runner.cleanup()
            await notifier.close()
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    return asyncio.run(_worker(args))


async def _worker(args: argparse.Namespace) -> int:
    from drexfy.entrypoints.http import Metrics
    from drexfy.entrypoints.http.logs import configure_logging
    from drexfy.entrypoints.http.metrics import TimedLedger
    from drexfy.entrypoints.worker import Worker

    configure_logging(os.environ.get("DREXFY_LOG_LEVEL", "INFO"))
    settings = _load(args)
    refuse_process_local_ledger(settings, "worker")
    notifier = build_notifier(settings)
    metrics = Metrics()
    async with _services(settings) as services:
        import attrs

        timed = attrs.evolve(services, ledger=TimedLedger(services.ledger, metrics.ledger_latency))
        worker = Worker(timed, notifier, build_worker_settings(settings), metrics)
        try:
            if args.once:
                handled = await worker.run_until_idle()
                print(f"processed {handled} message(s)")
                return 0
            runner = await _worker_metrics_server(services, metrics, settings, args.metrics_port)
            stop = _wait_for_signal()
            task = asyncio.create_task(worker.run())
            await stop.wait()
            worker.stop()
            await task
            if runner is not None:
                await runner.cleanup()
        finally:
            await notifier.close()
    return 0


async def _worker_metrics_server(services: Any, metrics: Any, settings: Any, port: int | None) -> Any:
    """A minimal HTTP server for a standalone worker: /metrics (its ledger latencies, job outcomes
    and the shared queue gauges) and /health."""
    if port is None:
        return None
    from aiohttp import web

    from drexfy.entrypoints.http.app import render_metrics

    async def metrics_handler(request: web.Request) -> web.Response:
        return await render_metrics(services.store, metrics)

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_get("/metrics", metrics_handler)
    app.router.add_get("/health", health)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    host = settings.get("http.host")
    await web.TCPSite(runner, host, port).start()
    print(f"worker metrics on http://{host}:{port}/metrics", flush=True)
    return runner


# ------------------------------------------------------------------------------------------------
# token / jobs
# ------------------------------------------------------------------------------------------------


def cmd_token_issue(args: argparse.Namespace) -> int:
    from drexfy.entrypoints.http import issue_token

    if args.role == "investor" and not args.investor:
        print("--investor ID is required for an investor token", file=sys.stderr)
        return 2
    settings = _load(args)
    http = build_http_settings(settings)
    print(
        issue_token(
            http.jwt_secret,
            args.role,
            subject=args.subject,
            investor_id=args.investor,
            ttl_seconds=args.ttl,
            issuer=http.jwt_issuer,
            audience=http.jwt_audience,
        )
    )
    return 0


def cmd_jobs_list(args: argparse.Namespace) -> int:
    return asyncio.run(_jobs_list(args))


async def _jobs_list(args: argparse.Namespace) -> int:
    from drexfy.domain.ports import MessageStatus
    from drexfy.entrypoints.http import views

    settings = _load(args)
    async with _services(settings) as services:
        queue = services.store.inbox if args.queue == "inbox" else services.store.outbox
        status = MessageStatus(args.status) if args.status else None
        counts = await queue.counts()
        print(" ".join(f"{s.value}={counts.get(s, 0)}" for s in MessageStatus))
        for message in await queue.list(status, limit=args.limit):
            job = views.job(message, args.queue)
            print(
                f"{job['id']}  {job['status']:<7} attempts={job['attempts']}  {job['kind']:<14} {job['key']}"
                + (f"  last_error={job['last_error']}" if job["last_error"] else "")
            )
    return 0


def cmd_jobs_retry(args: argparse.Namespace) -> int:
    return asyncio.run(_jobs_retry(args))


async def _jobs_retry(args: argparse.Namespace) -> int:
    from drexfy.domain.errors import DomainError

    settings = _load(args)
    async with _services(settings) as services:
        queue = services.store.inbox if args.queue == "inbox" else services.store.outbox
        try:
            await queue.requeue(args.job_id, services.clock.now())
        except DomainError as exc:
            print(f"cannot retry {args.job_id}: {exc.message}", file=sys.stderr)
            return 1
    print(f"{args.job_id} is pending again; the worker will pick it up")
    return 0


def cmd_jobs_purge(args: argparse.Namespace) -> int:
    return asyncio.run(_jobs_purge(args))


async def _jobs_purge(args: argparse.Namespace) -> int:
    import attrs

    from drexfy.entrypoints.worker import purge_old

    settings = _load(args)
    retention = build_worker_settings(settings)
    if args.done_days is not None:
        retention = attrs.evolve(retention, done_retention_days=args.done_days)
    if args.idempotency_hours is not None:
        retention = attrs.evolve(retention, idempotency_retention_hours=args.idempotency_hours)
    if retention.done_retention_days < 0 or retention.idempotency_retention_hours < 0:
        print("retention periods cannot be negative", file=sys.stderr)
        return 2
    async with _services(settings) as services:
        purged = await purge_old(services, retention)
    print(
        f"purged {purged['inbox']} inbox and {purged['outbox']} outbox DONE jobs older than"
        f" {retention.done_retention_days:g} days, {purged['idempotency']} Idempotency-Key records older than"
        f" {retention.idempotency_retention_hours:g} hours"
    )
    return 0


def cmd_reconcile(args: argparse.Namespace) -> int:
    return asyncio.run(_reconcile(args))


async def _reconcile(args: argparse.Namespace) -> int:
    from drexfy.domain import processes as p
    from drexfy.entrypoints.http import views

    settings = _load(args)
    refuse_process_local_ledger(settings, "reconcile")
    async with _services(settings) as services:
        try:
            if args.instrument:
                reports = [await p.reconcile(services, instrument_id) for instrument_id in args.instrument]
            else:
                reports = await p.reconcile_all(services)
        except DomainError as error:  # an unknown instrument, the ledger unreachable
            print(f"reconcile: {error.message}", file=sys.stderr)
            return 2
    for report in reports:
        if args.json:
            print(json.dumps(views.reconciliation(report)))
            continue
        state = "in sync" if report.in_sync else f"DRIFT at {len(report.drift)} address(es)"
        if report.reserved_without_order:
            state = "DRIFT in reservations" if not report.drift else state + " and in reservations"
        print(
            f"{report.symbol} ({report.instrument_id}): ledger {report.ledger_units} units,"
            f" store {report.store_units}: {state}"
        )
        for drift in report.drift:
            who = drift.investor_id or "no investor"
            print(f"  {drift.address} ({who}): ledger {drift.ledger_units}, store {drift.store_units}")
        if report.reserved_without_order:
            print(
                f"  reservations: {report.units_reserved} units reserved, open orders hold {report.reserved_by_orders}"
            )
    if not reports and not args.json:
        print("no instrument is issued on the ledger yet")
    return 0 if all(report.in_sync for report in reports) else 1


# ------------------------------------------------------------------------------------------------
# demo-http
# ------------------------------------------------------------------------------------------------


def cmd_demo_http(args: argparse.Namespace) -> int:
    return asyncio.run(run_demo_http(ledger=args.ledger, data_dir=args.data_dir))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def run_demo_http(ledger: str = "memory", data_dir: str | None = None, out: Any = None) -> int:
    """Start the service on a loopback port and drive it over real HTTP as the frontend and the
    providers would: register, KYC by signed webhook, instrument, order, signed payment webhook,
    settlement, AML block by webhook, unblock by a compliance officer."""
    from drexfy.adapters.webhooks import sandbox
    from drexfy.entrypoints.http import create_app

    out = out or sys.stdout
    with contextlib.ExitStack() as stack:
        directory = data_dir or stack.enter_context(tempfile.TemporaryDirectory(prefix="drexfy-demo-"))
        settings = _load(argparse.Namespace(config=None), {"data_dir": directory, "ledger.kind": ledger})
        import attrs

        http = build_http_settings(settings)
        http = attrs.evolve(http, worker=attrs.evolve(http.worker, poll_interval=0.05))
        async with _services(settings) as services:
            from aiohttp import ClientSession, web

            app = create_app(services, http)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            port = _free_port()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            base = f"http://127.0.0.1:{port}"
            print(f"service on {base} (ledger: {services.ledger.kind})", file=out)
            try:
                async with ClientSession(base) as client:
                    await _demo_script(client, http, sandbox, out)
            finally:
                await runner.cleanup()
    return 0


async def _demo_script(client: Any, http: Any, sandbox: Any, out: Any) -> None:
    from drexfy.entrypoints.http import issue_token

    def bearer(role: str, investor_id: str | None = None) -> dict[str, str]:
        return {"Authorization": "Bearer " + issue_token(http.jwt_secret, role, investor_id=investor_id)}

    async def call(
        method: str, path: str, role: str, body: Any = None, investor: str | None = None, **headers: str
    ) -> Any:
        async with client.request(method, path, json=body, headers={**bearer(role, investor), **headers}) as r:
            data = await r.json(content_type=None)
            if r.status >= 400:
                raise RuntimeError(f"{method} {path} -> {r.status}: {data}")
            return data

    async def webhook(path: str, body: bytes, headers: dict[str, str]) -> int:
        async with client.post(path, data=body, headers=headers) as r:
            return int(r.status)

    async def wait_for(path: str, field: str, value: Any, role: str = "admin", within: float = 60) -> Any:
        deadline = asyncio.get_running_loop().time() + within
        while True:
            data = await call("GET", path, role)
            if data.get(field) == value:
                return data
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(f"{path}: {field} is {data.get(field)!r}, expected {value!r}")
            await asyncio.sleep(0.05)

    inv = await call(
        "POST",
        "/api/v1/investors",
        "frontend",
        {
            "legal_name": "Ana Demo",
            "email": "ana.demo@example.com",
            "country": "PT",
            "kind": "INDIVIDUAL",
            "declared_accredited": True,
        },
        **{"Idempotency-Key": "demo-register-ana"},
    )
    print(f"1. frontend registered investor {inv['id']} -> {inv['status']}", file=out)
    kyc = await call("POST", f"/api/v1/investors/{inv['id']}/kyc", "frontend")
    print(f"2. KYC started: applicant {kyc['applicant_id']}, link {kyc['url']}", file=out)
    body = sandbox.kyc_review(kyc["applicant_id"], country="PT", accredited=True)
    status = await webhook("/webhooks/kyc", body, sandbox.digest_headers(body, http.kyc_webhook_secret))
    print(f"3. KYC provider sent a signed GREEN review -> HTTP {status}", file=out)
    active = await wait_for(f"/api/v1/investors/{inv['id']}", "status", "ACTIVE")
    print(f"   investor ACTIVE, classified {active['classification']}, wallet {active['wallet']['address']}", file=out)

    ins = await call(
        "POST",
        "/api/v1/instruments",
        "admin",
        {
            "symbol": "DEMO26",
            "name": "Demo SME pool 2026",
            "unit_price": {"minor": 10_000, "currency": "EUR"},
            "total_units": 1_000,
            "eligible": ["EU_ACCREDITED", "EU_NON_ACCREDITED"],
            "min_ticket": {"minor": 10_000, "currency": "EUR"},
            "max_ticket": {"minor": 5_000_000, "currency": "EUR"},
        },
    )
    await call("POST", f"/api/v1/instruments/{ins['id']}/open", "admin")
    print(f"4. admin created and opened {ins['symbol']} ({ins['ledger_ref']})", file=out)

    order = await call(
        "POST",
        "/api/v1/orders",
        "investor",
        {"investor_id": inv["id"], "instrument_id": ins["id"], "units": 25},
        investor=inv["id"],
    )
    order = await call("GET", f"/api/v1/orders/{order['id']}", "frontend")
    print(
        f"5. order {order['id']}: 25 units, {order['amount']['display']} EUR, checkout "
        f"{order['checkout']['reference']}",
        file=out,
    )
    body = sandbox.stripe_event(
        f"evt_demo_{order['id']}",
        "checkout.session.completed",
        order_id=order["id"],
        amount_minor=order["amount"]["minor"],
    )
    headers = sandbox.stripe_headers(body, http.payments_webhook_secret)
    first = await webhook("/webhooks/payments", body, headers)
    again = await webhook("/webhooks/payments", body, headers)
    print(
        f"6. gateway sent a signed payment webhook -> HTTP {first}; redelivered -> HTTP {again} (duplicate)", file=out
    )
    settled = await wait_for(f"/api/v1/orders/{order['id']}", "status", "SETTLED")
    print(f"   order SETTLED on the ledger, tx {', '.join(settled['tx_ids'])}", file=out)

    body = sandbox.aml_alert("alert-demo-1", investor_id=inv["id"], reason="adverse media match")
    status = await webhook("/webhooks/aml", body, sandbox.digest_headers(body, http.aml_secret))
    print(f"7. AML monitoring flagged the investor -> HTTP {status}", file=out)
    blocked = await wait_for(f"/api/v1/investors/{inv['id']}", "classification", "SANCTIONED")
    while True:  # let the worker finish the block (freeze on chain) before the officer acts
        counts = (await call("GET", "/api/v1/jobs", "admin"))["counts"]
        if counts["PENDING"] == 0 and counts["RUNNING"] == 0:
            break
        await asyncio.sleep(0.05)
    print(f"   investor BLOCKED ({blocked['blocked_reason']}), classification {blocked['classification']}", file=out)
    try:
        await call(
            "POST", "/api/v1/orders", "frontend", {"investor_id": inv["id"], "instrument_id": ins["id"], "units": 1}
        )
    except RuntimeError as refused:
        print(f"   a new order is refused: {str(refused).split(' -> ')[1][:90]}...", file=out)
    cleared = await call(
        "POST",
        f"/api/v1/compliance/investors/{inv['id']}/unblock",
        "compliance",
        {"reason": "false positive, cleared by review"},
    )
    print(
        f"8. compliance officer unblocked -> {cleared['compliance']}, classification {cleared['classification']}",
        file=out,
    )
    jobs = await call("GET", "/api/v1/jobs", "admin")
    print(f"9. inbox jobs: {jobs['counts']}", file=out)
    async with client.get("/metrics") as r:
        text = await r.text()
    wanted = ("drexfy_webhooks_received_total", "drexfy_webhooks_duplicate_total", "drexfy_settlement_seconds_count")
    for line in text.splitlines():
        if line.startswith(wanted):
            print(f"   {line}", file=out)
