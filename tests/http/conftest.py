"""Fixtures of the HTTP tests: the app over real adapters (SQLite store, local vault, sandbox
providers, the in-memory ledger) built by the container, an aiohttp test client, tokens per role,
and helpers that send signed webhooks and run the worker until the inbox is empty."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import attrs
import pytest
from aiohttp.test_utils import TestClient

from drexfy.adapters.notify import RecordingNotifier
from drexfy.adapters.webhooks import sandbox
from drexfy.domain import processes as p
from drexfy.entrypoints.config import load_settings
from drexfy.entrypoints.container import build_container
from drexfy.entrypoints.http import Role, create_app, issue_token
from drexfy.entrypoints.http.state import STATE
from drexfy.entrypoints.runtime.metrics import Metrics
from drexfy.entrypoints.runtime.settings import HttpSettings, WorkerSettings
from drexfy.entrypoints.worker import Worker

KYC_SECRET = "kyc-test-secret"
STRIPE_SECRET = "whsec_test_secret"
JWT_SECRET = "jwt-test-secret-of-enough-length-32b"
#: The platform's bank account (the bank routes need one).
BANK = {"bank.name": "Drexfy Platform GmbH", "bank.iban": "DE02120300000000202051"}


def http_settings(**changes: Any) -> HttpSettings:
    base = HttpSettings(
        kyc_webhook_secret=KYC_SECRET,
        payments_webhook_secret=STRIPE_SECRET,
        jwt_secret=JWT_SECRET,
        run_worker=False,
        worker=WorkerSettings(base_delay=0.001, max_delay=0.01, poll_interval=0.01, max_attempts=3),
    )
    return attrs.evolve(base, **changes)


@pytest.fixture
async def services(tmp_path: Any) -> AsyncIterator[p.Services]:
    settings = load_settings(env={}, overrides={"data_dir": str(tmp_path), "ledger.kind": "memory", **BANK})
    container = build_container(settings)
    svc = await container.services()
    yield svc
    shutdown = container.shutdown_resources()
    if shutdown is not None:
        await shutdown


@attrs.define
class Api:
    """A test client plus the things tests keep reaching for."""

    client: TestClient
    notifier: RecordingNotifier
    worker: Worker

    @property
    def state(self) -> Any:
        return self.client.app[STATE]

    @property
    def svc(self) -> p.Services:
        return self.state.services

    @property
    def metrics(self) -> Metrics:
        return self.state.metrics

    def token(self, role: str, investor_id: str | None = None, **kw: Any) -> dict[str, str]:
        return {"Authorization": "Bearer " + issue_token(JWT_SECRET, Role(role), investor_id=investor_id, **kw)}

    async def call(
        self,
        method: str,
        path: str,
        role: str | None = None,
        *,
        investor_id: str | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        h = dict(headers or {})
        if role:
            h.update(self.token(role, investor_id))
        response = await self.client.request(method, path, json=json, headers=h)
        body = (
            await response.json(content_type=None) if response.content_type.endswith("json") else await response.text()
        )
        return response.status, body

    async def approve(self, approval_id: str, role: str, subject: str = "second-officer") -> tuple[int, Any]:
        """A second person (another subject than the role-named default) approves a request."""
        headers = {
            "Authorization": "Bearer " + issue_token(JWT_SECRET, Role(role), subject=subject),
            "Content-Type": "application/json",
        }
        response = await self.client.post(
            f"/api/v1/approvals/{approval_id}/approve", json={"reason": "checked by a second person"}, headers=headers
        )
        return response.status, await response.json(content_type=None)

    async def kyc(self, body: bytes, alg: str = "HMAC_SHA256_HEX") -> tuple[int, Any]:
        response = await self.client.post(
            "/webhooks/kyc", data=body, headers=sandbox.digest_headers(body, KYC_SECRET, alg)
        )
        return response.status, await response.json(content_type=None)

    async def aml(self, body: bytes) -> tuple[int, Any]:
        response = await self.client.post("/webhooks/aml", data=body, headers=sandbox.digest_headers(body, KYC_SECRET))
        return response.status, await response.json(content_type=None)

    async def payment(self, body: bytes, timestamp: int | None = None) -> tuple[int, Any]:
        response = await self.client.post(
            "/webhooks/payments", data=body, headers=sandbox.stripe_headers(body, STRIPE_SECRET, timestamp)
        )
        return response.status, await response.json(content_type=None)

    async def drain(self) -> int:
        return await self.worker.run_until_idle()

    # --- scenario builders -------------------------------------------------------------------

    async def active_investor(self, email: str, country: str = "DE", accredited: bool = False) -> str:
        status, inv = await self.call(
            "POST",
            "/api/v1/investors",
            "frontend",
            json={"legal_name": "Test Investor", "email": email, "country": country, "kind": "INDIVIDUAL"},
        )
        assert status == 201, inv
        status, kyc = await self.call("POST", f"/api/v1/investors/{inv['id']}/kyc", "frontend")
        assert status == 200, kyc
        status, _ = await self.kyc(sandbox.kyc_review(kyc["applicant_id"], country=country, accredited=accredited))
        assert status == 202
        await self.drain()
        return str(inv["id"])

    async def open_instrument(
        self, symbol: str = "SME1", units: int = 1000, price_minor: int = 10_000, max_ticket_minor: int = 100_000_000
    ) -> str:
        status, ins = await self.call(
            "POST",
            "/api/v1/instruments",
            "admin",
            json={
                "symbol": symbol,
                "name": f"{symbol} pool",
                "unit_price": {"minor": price_minor, "currency": "EUR"},
                "total_units": units,
                "eligible": ["EU_ACCREDITED", "EU_NON_ACCREDITED", "US_ACCREDITED"],
                "min_ticket": {"minor": price_minor, "currency": "EUR"},
                "max_ticket": {"minor": max_ticket_minor, "currency": "EUR"},
            },
        )
        assert status == 201, ins
        status, opened = await self.call("POST", f"/api/v1/instruments/{ins['id']}/open", "admin")
        assert status == 200, opened
        return str(ins["id"])

    async def order(self, investor_id: str, instrument_id: str, units: int = 1) -> dict[str, Any]:
        status, order = await self.call(
            "POST",
            "/api/v1/orders",
            "frontend",
            json={"investor_id": investor_id, "instrument_id": instrument_id, "units": units},
        )
        assert status == 201, order
        return dict(order)


@pytest.fixture
async def api(services: p.Services, aiohttp_client: Any) -> Api:
    notifier = RecordingNotifier()
    settings = http_settings()
    app = create_app(services, settings, notifier=notifier)
    client = await aiohttp_client(app)
    state = app[STATE]
    worker = Worker(state.services, notifier, settings.worker, state.metrics)
    return Api(client, notifier, worker)
