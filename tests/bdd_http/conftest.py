"""The same feature files, driven through HTTP as the frontend and the providers would.

Every step of tests/bdd/conftest.py is reused; the steps in which someone *acts* are replaced here by
HTTP calls: registration, KYC start, orders, repayments, withdrawals and unblocking through the API
with bearer tokens of the right role; KYC results, AML alerts and payments as signed webhooks, then
the worker drains the inbox. The `Then` steps still read the store and the ledger directly (that is
what they check), and the ledger is chosen by the same `ledger_kind` parameter.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import attrs
import pytest
from aiohttp.test_utils import TestClient, TestServer
from pytest_bdd import given, parsers, then, when

from drexfy.adapters.notify import RecordingNotifier
from drexfy.adapters.webhooks import sandbox
from drexfy.domain.classification import Classification
from drexfy.domain.model import OrderStatus
from drexfy.domain.ports import MessageStatus
from drexfy.entrypoints.config import load_settings
from drexfy.entrypoints.container import build_container
from drexfy.entrypoints.http import create_app, issue_token
from drexfy.entrypoints.http.state import STATE
from drexfy.entrypoints.runtime.settings import HttpSettings, WorkerSettings
from drexfy.entrypoints.worker import Worker
from tests.bdd.conftest import *  # noqa: F403 - every step, overridden below where someone acts
from tests.bdd.conftest import _RESIDENCE, Crash, CrashingLedger, FakeClock, World
from tests.support.ledgers import ledger_overrides

SECRETS = {"kyc": "bdd-kyc-secret", "stripe": "whsec_bdd", "jwt": "bdd-jwt-secret-of-32-bytes-length!"}


class ApiRefusal(Exception):
    """An API answer >= 400; str() is the problem's detail (which names every reason)."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        super().__init__(problem.get("detail", ""))
        self.status, self.problem = status, problem


@attrs.define
class HttpWorld(World):
    client: Any = None
    worker: Any = None

    def api(self, method: str, path: str, role: str, body: Any = None, investor_id: str | None = None) -> Any:
        token = issue_token(SECRETS["jwt"], role, investor_id=investor_id)

        async def go() -> tuple[int, Any]:
            response = await self.client.request(method, path, json=body, headers={"Authorization": f"Bearer {token}"})
            return response.status, await response.json(content_type=None)

        status, answer = self.run(go())
        if status >= 400:
            raise ApiRefusal(status, answer)
        return answer

    def attempt_api(self, *args: Any, **kwargs: Any) -> Any:
        self.error = None
        try:
            return self.api(*args, **kwargs)
        except ApiRefusal as refusal:
            self.error = refusal
            return None

    def webhook(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        async def go() -> int:
            response = await self.client.post(path, data=body, headers=headers)
            return int(response.status)

        status = self.run(go())
        assert status in (200, 202), status
        return status

    def drain(self) -> None:
        """Run the worker until nothing is pending; moves the scenario clock past retry delays."""
        for _ in range(50):
            self.run(self.worker.run_until_idle())
            counts = self.run(self.svc.store.inbox.counts())
            if counts[MessageStatus.PENDING] == 0:
                return
            self.clock.advance(timedelta(seconds=self.worker.settings.max_delay + 1))
        raise AssertionError("the inbox did not drain")


@pytest.fixture
def world(ledger_kind: str, tmp_path: Any, request: pytest.FixtureRequest) -> Iterator[HttpWorld]:
    loop = asyncio.new_event_loop()
    overrides: dict[str, Any] = {"data_dir": str(tmp_path), "ledger.kind": ledger_kind}
    overrides.update(ledger_overrides(ledger_kind, request, tmp_path))
    settings = load_settings(env={}, overrides=overrides)
    clock = FakeClock()
    container = build_container(settings, clock=clock)

    async def services_in_loop() -> Any:
        return await container.services()  # the container's futures must belong to this loop

    services = loop.run_until_complete(services_in_loop())
    ledger = CrashingLedger(services.ledger)
    svc = attrs.evolve(services, ledger=ledger)
    http = HttpSettings(
        kyc_webhook_secret=SECRETS["kyc"],
        payments_webhook_secret=SECRETS["stripe"],
        jwt_secret=SECRETS["jwt"],
        run_worker=False,
        worker=WorkerSettings(base_delay=0.01, max_delay=1.0, max_attempts=20),
    )
    app = create_app(svc, http, notifier=RecordingNotifier())

    async def start() -> TestClient:
        client = TestClient(TestServer(app))  # made inside the loop it serves on
        await client.start_server()
        return client

    client = loop.run_until_complete(start())
    state = app[STATE]
    worker = Worker(state.services, state.notifier, http.worker, state.metrics)
    yield HttpWorld(svc=svc, run=loop.run_until_complete, clock=clock, ledger=ledger, client=client, worker=worker)

    async def stop() -> None:
        await client.close()
        shutdown = container.shutdown_resources()
        if shutdown is not None:
            await shutdown

    loop.run_until_complete(stop())
    loop.close()


# ================================================================================================
# Registration and KYC
# ================================================================================================


def _register(world: HttpWorld, name: str, country: str, declared: bool = False) -> str:
    investor = world.api(
        "POST",
        "/api/v1/investors",
        "frontend",
        {
            "legal_name": f"{name} Example",
            "email": f"{name.lower()}@example.com",
            "country": country,
            "kind": "INDIVIDUAL",
            "declared_accredited": declared,
        },
    )
    world.investors[name] = investor["id"]
    world.api("POST", f"/api/v1/investors/{investor['id']}/kyc", "frontend")
    return str(investor["id"])


@given(parsers.parse('an investor "{name}" registered with residence "{country}" who declares to be accredited'))
def registered_declaring(world: HttpWorld, name: str, country: str) -> None:
    _register(world, name, country, declared=True)


@given(parsers.parse('an investor "{name}" registered with residence "{country}"'))
def registered(world: HttpWorld, name: str, country: str) -> None:
    _register(world, name, country)


def _kyc(
    world: HttpWorld,
    name: str,
    *,
    approved: bool,
    country: str | None = None,
    accredited: bool = False,
    sanctions: bool = False,
    labels: tuple[str, ...] = (),
) -> None:
    investor = world.investor(name)
    body = sandbox.kyc_review(
        investor.applicant_id,
        approved=approved,
        country=country,
        accredited=accredited,
        sanctions_hit=sanctions,
        reject_labels=labels,
    )
    world.webhook("/webhooks/kyc", body, sandbox.digest_headers(body, SECRETS["kyc"]))
    world.drain()


@when(
    parsers.parse(
        'the KYC provider approves "{name}" with verified residence "{country}" and no accreditation evidence'
    )
)
def kyc_approves_plain(world: HttpWorld, name: str, country: str) -> None:
    _kyc(world, name, approved=True, country=country)


@when(
    parsers.parse('the KYC provider approves "{name}" with verified residence "{country}" and verified accreditation')
)
def kyc_approves_accredited(world: HttpWorld, name: str, country: str) -> None:
    _kyc(world, name, approved=True, country=country, accredited=True)


@when(parsers.parse('the KYC provider rejects "{name}" for "{label}"'))
def kyc_rejects(world: HttpWorld, name: str, label: str) -> None:
    _kyc(world, name, approved=False, labels=(label,))


@when(parsers.parse('the KYC provider reports a sanctions hit for "{name}"'))
def kyc_sanctions(world: HttpWorld, name: str) -> None:
    _kyc(world, name, approved=False, country="CY", sanctions=True, labels=("SANCTIONS",))


@given(parsers.parse('an active investor "{name}" classified "{cls}"'))
def active_investor(world: HttpWorld, name: str, cls: str) -> None:
    country, accredited = _RESIDENCE[Classification[cls]]
    _register(world, name, country)
    _kyc(world, name, approved=True, country=country, accredited=accredited)
    view = world.api("GET", f"/api/v1/investors/{world.investors[name]}", "frontend")
    assert view["classification"] == cls, view


# ================================================================================================
# Instruments and orders
# ================================================================================================


def _eur(text: str) -> dict[str, Any]:
    from drexfy.domain.money import Money

    return {"minor": Money.parse(text, "EUR").minor, "currency": "EUR"}


@given(
    parsers.parse(
        'an open instrument "{symbol}" of {units:d} units at {price} EUR for "{eligible}" '
        "with tickets from {low} to {high} EUR"
    )
)
def open_instrument(world: HttpWorld, symbol: str, units: int, price: str, eligible: str, low: str, high: str) -> None:
    instrument = world.api(
        "POST",
        "/api/v1/instruments",
        "admin",
        {
            "symbol": symbol,
            "name": f"{symbol} SME credit pool",
            "unit_price": _eur(price),
            "total_units": units,
            "eligible": [c.strip() for c in eligible.split(",")],
            "min_ticket": _eur(low),
            "max_ticket": _eur(high),
        },
    )
    world.instruments[symbol] = instrument["id"]
    world.api("POST", f"/api/v1/instruments/{instrument['id']}/open", "admin")


def _order(world: HttpWorld, name: str, units: int, symbol: str) -> None:
    investor_id = world.investors[name]
    order = world.attempt_api(
        "POST",
        "/api/v1/orders",
        "investor",
        {"investor_id": investor_id, "instrument_id": world.instruments[symbol], "units": units},
        investor_id=investor_id,
    )
    if order is not None:
        world.orders[name] = order["id"]


@when(parsers.parse('"{name}" orders {units:d} units of "{symbol}"'))
def orders(world: HttpWorld, name: str, units: int, symbol: str) -> None:
    _order(world, name, units, symbol)
    assert world.error is None, world.error


@when(parsers.parse('"{name}" tries to order {units:d} units of "{symbol}"'))
def tries_to_order(world: HttpWorld, name: str, units: int, symbol: str) -> None:
    _order(world, name, units, symbol)


def _pay(world: HttpWorld, name: str, *, drain: bool = True) -> None:
    order = world.order_of(name)
    body = sandbox.stripe_event(
        f"evt_{order.id}",
        "checkout.session.completed",
        order_id=order.id,
        amount_minor=order.amount.minor,
        payment_ref=f"pi_{order.id}",
    )
    world.webhook("/webhooks/payments", body, sandbox.stripe_headers(body, SECRETS["stripe"]))
    if drain:
        world.drain()


@when(parsers.parse('"{name}" cancels the order'))
def cancels_order_over_http(world: HttpWorld, name: str) -> None:
    world.api("POST", f"/api/v1/orders/{world.orders[name]}/cancel", "investor", investor_id=world.investors[name])


@when(parsers.parse('the payment gateway confirms the payment for the order of "{name}"'))
def payment_confirmed(world: HttpWorld, name: str) -> None:
    _pay(world, name)
    world.settle_txs[name] = world.order_of(name).tx_ids


@when(parsers.parse('the payment gateway confirms the payment for the order of "{name}" again'))
def payment_confirmed_again(world: HttpWorld, name: str) -> None:
    _pay(world, name)


@given(parsers.parse('"{name}" holds {units:d} units of "{symbol}"'))
def holds_units(world: HttpWorld, name: str, units: int, symbol: str) -> None:
    _order(world, name, units, symbol)
    assert world.error is None, world.error
    _pay(world, name)
    assert world.order_of(name).status is OrderStatus.SETTLED


@when(parsers.parse('the platform crashes right after the ledger settles the order of "{name}"'))
def crash_after_settle(world: HttpWorld, name: str) -> None:
    world.ledger.armed.add(f"settle:{world.orders[name]}")
    _pay(world, name, drain=False)
    world.run(world.worker.drain_inbox_once())  # the worker "dies" in the settlement: the job is retried later
    assert not world.ledger.armed, "the armed crash did not happen"
    assert world.order_of(name).status is OrderStatus.PAID  # the store never learnt of the settlement
    [job] = [
        m for m in world.run(world.svc.store.inbox.list(limit=1000)) if m.key == f"payments:evt_{world.orders[name]}"
    ]
    assert job.status is MessageStatus.PENDING and job.last_error == Crash.__name__


# ================================================================================================
# Repayment, withdrawal, compliance
# ================================================================================================


def _repay(world: HttpWorld, symbol: str, period: str, interest: str, principal: str, final: bool) -> None:
    world.api(
        "POST",
        f"/api/v1/instruments/{world.instruments[symbol]}/repayments",
        "admin",
        {"period": period, "interest": _eur(interest), "principal": _eur(principal), "final": final},
    )


@when(
    parsers.parse(
        'the admin triggers the repayment of "{symbol}" for period "{period}" '
        "with interest {interest} EUR and principal {principal} EUR"
    )
)
def repayment(world: HttpWorld, symbol: str, period: str, interest: str, principal: str) -> None:
    _repay(world, symbol, period, interest, principal, final=False)


@when(
    parsers.parse(
        'the admin triggers the final repayment of "{symbol}" for period "{period}" '
        "with interest {interest} EUR and principal {principal} EUR"
    )
)
def final_repayment(world: HttpWorld, symbol: str, period: str, interest: str, principal: str) -> None:
    _repay(world, symbol, period, interest, principal, final=True)


@given(parsers.parse('the admin has repaid {interest} EUR of interest on "{symbol}"'))
def repaid_interest(world: HttpWorld, interest: str, symbol: str) -> None:
    _repay(world, symbol, "2026-10", interest, "0.00", final=False)


def _withdraw(world: HttpWorld, name: str, amount: str) -> None:
    investor_id = world.investors[name]
    world.attempt_api(
        "POST",
        "/api/v1/withdrawals",
        "investor",
        {"investor_id": investor_id, "amount": _eur(amount)},
        investor_id=investor_id,
    )


@when(parsers.parse('"{name}" withdraws {amount} EUR'))
def withdraws(world: HttpWorld, name: str, amount: str) -> None:
    _withdraw(world, name, amount)
    assert world.error is None, world.error


@when(parsers.parse('"{name}" tries to withdraw {amount} EUR'))
def tries_to_withdraw(world: HttpWorld, name: str, amount: str) -> None:
    _withdraw(world, name, amount)


@given(parsers.parse('AML monitoring flags "{name}" for "{reason}"'))
@when(parsers.parse('AML monitoring flags "{name}" for "{reason}"'))
def aml_flags(world: HttpWorld, name: str, reason: str) -> None:
    investor = world.investor(name)
    body = sandbox.aml_alert(f"aml_{investor.id}_{reason}", applicant_id=investor.applicant_id, reason=reason)
    world.webhook("/webhooks/aml", body, sandbox.digest_headers(body, SECRETS["kyc"]))
    world.drain()


@when(parsers.parse('a compliance officer unblocks "{name}" because "{reason}"'))
def officer_unblocks(world: HttpWorld, name: str, reason: str) -> None:
    world.api("POST", f"/api/v1/compliance/investors/{world.investors[name]}/unblock", "compliance", {"reason": reason})


@then(parsers.parse('an auditor finds the holders of "{symbol}" on the ledger equal to the platform\'s books'))
def books_agree_over_http(world: HttpWorld, symbol: str) -> None:
    report = world.api("GET", f"/api/v1/instruments/{world.instruments[symbol]}/reconciliation", "compliance")
    assert report["in_sync"], report["drift"]
    assert report["ledger_units"] == report["store_units"] > 0
