"""`drexfy demo-http`: start the service on a loopback port and drive it over real HTTP exactly as
the Bubble frontend and the providers would (bearer tokens, signed webhooks, a redelivery)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import sys
import tempfile
from typing import Any

from drexfy.entrypoints.cli_common import load, open_services_and_notifier
from drexfy.entrypoints.runtime.settings import build_http_settings


def register(subparsers: Any) -> None:
    """Add demo-http to the main parser's sub-commands."""
    demo = subparsers.add_parser("demo-http", help="drive the HTTP API and signed webhooks end to end")
    demo.add_argument("--ledger", choices=["memory", "evm"], default="memory")
    demo.add_argument("--data-dir", default=None, help="keep the demo's data here (default: a temp dir)")
    demo.set_defaults(func=cmd_demo_http)


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
        settings = load(argparse.Namespace(config=None), {"data_dir": directory, "ledger.kind": ledger})
        import attrs

        http = build_http_settings(settings)
        http = attrs.evolve(http, worker=attrs.evolve(http.worker, poll_interval=0.05))
        async with open_services_and_notifier(settings) as (services, notifier):
            from aiohttp import ClientSession, web

            app = create_app(services, http, notifier=notifier)
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

    def bearer(role: str, investor_id: str | None = None, subject: str | None = None) -> dict[str, str]:
        token = issue_token(http.jwt_secret, role, investor_id=investor_id, subject=subject)
        return {"Authorization": "Bearer " + token}

    async def call(
        method: str,
        path: str,
        role: str,
        body: Any = None,
        investor: str | None = None,
        subject: str | None = None,
        **headers: str,
    ) -> Any:
        auth = bearer(role, investor, subject)
        async with client.request(method, path, json=body, headers={**auth, **headers}) as r:
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
    blocked = await wait_for(f"/api/v1/investors/{inv['id']}", "compliance", "BLOCKED")
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
    request = await call(
        "POST",
        f"/api/v1/compliance/investors/{inv['id']}/unblock",
        "compliance",
        {"reason": "false positive, cleared by review"},
        subject="officer-ana",
    )
    if request.get("kind") == "unblock":  # four-eyes: a second officer approves
        print(f"8. officer-ana asked to unblock: approval {request['status']}", file=out)
        await call(
            "POST",
            f"/api/v1/approvals/{request['id']}/approve",
            "compliance",
            {"reason": "reviewed the evidence"},
            subject="officer-ben",
        )
    cleared = await call("GET", f"/api/v1/investors/{inv['id']}", "compliance")
    print(
        f"   compliance officer unblocked -> {cleared['compliance']}, classification {cleared['classification']}",
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
