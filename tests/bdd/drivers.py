"""Who acts in a scenario: the same feature files run through two drivers.

- `ProcessDriver` calls the domain processes directly, as the worker does after a webhook;
- `HttpDriver` acts as the Bubble frontend and the providers would: API calls with bearer tokens of
  the right role, KYC results, AML alerts and payments as signed webhooks, then the worker drains
  the inbox.

Steps only call the driver for what someone *does*; what a scenario *checks* is read from the store
and the ledger directly, whichever driver acted.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any, Protocol

import attrs
from aiohttp.test_utils import TestClient, TestServer

from drexfy.adapters.kyc.sumsub_webhooks import parse_sumsub
from drexfy.adapters.notify import RecordingNotifier
from drexfy.adapters.webhooks import sandbox
from drexfy.domain import processes as p
from drexfy.domain.model import InvestorKind
from drexfy.domain.ports import MessageStatus
from drexfy.domain.processes import approvals as ap
from drexfy.domain.provider_events import AmlAlert, KycResult, PaymentEvent, PaymentEventKind
from drexfy.entrypoints.approval_actions import ACTIONS
from drexfy.entrypoints.http import create_app, issue_token
from drexfy.entrypoints.http.state import STATE
from drexfy.entrypoints.runtime.settings import HttpSettings, WorkerSettings
from drexfy.entrypoints.worker import Worker
from tests.bdd.world import Crash, World, classes, eur

SECRETS = {"kyc": "bdd-kyc-secret", "stripe": "whsec_bdd", "jwt": "bdd-jwt-secret-of-32-bytes-length!"}


@attrs.frozen
class Reconciled:
    in_sync: bool
    drift: Any
    ledger_units: int
    store_units: int


class Driver(Protocol):
    """What someone does in a scenario. Refusals an actor can meet (an order or a withdrawal that
    is not allowed) are recorded in `world.error`; anything else unexpected raises."""

    def register(self, name: str, country: str, declared: bool) -> None: ...
    def kyc_result(self, name: str, result: KycResult) -> None: ...
    def kyc_review(self, name: str, body: bytes) -> None:
        """The KYC provider's applicant webhook (Sumsub's JSON, as its fake builds it)."""
        ...

    def start_kyc(self, name: str) -> None:
        """The investor (re)starts KYC: a new SDK token for the same applicant."""
        ...

    def open_instrument(self, symbol: str, units: int, price: str, eligible: str, low: str, high: str) -> None: ...
    def order(self, name: str, units: int, symbol: str) -> None: ...
    def cancel(self, name: str) -> None: ...
    def pay(self, name: str) -> None: ...
    def refund_outcome(self, name: str, succeeded: bool, reason: str = "") -> None: ...
    def crash_right_after_settling(self, name: str) -> None: ...
    def repay(self, symbol: str, period: str, interest: str, principal: str, final: bool) -> None: ...
    def withdraw(self, name: str, amount: str) -> None: ...
    def aml_flag(self, name: str, reason: str) -> None: ...
    def unblock(self, name: str, reason: str) -> None: ...
    def decide_alert(self, name: str, decision: str, reason: str) -> None: ...
    def reconcile(self, symbol: str) -> Reconciled: ...
    def import_statement(self, data: bytes) -> None: ...
    def register_payout_iban(self, name: str, iban: str) -> None: ...
    def pay_from_balance(self, name: str) -> None: ...
    def export_payouts(self) -> bytes: ...
    def request_unblock(self, officer: str, name: str, reason: str) -> str:
        """A compliance officer asks to unblock (four-eyes): the approval request's id."""
        ...

    def decide(self, officer: str, approval_id: str, approve: bool) -> None:
        """A compliance officer approves or rejects; a refusal is recorded in `world.error`."""
        ...

    def force_transfer(self, symbol: str, sender: str, receiver: str, units: int, reason: str) -> None: ...
    def recover_wallet(self, name: str, reason: str) -> None: ...

    #: The principal's subject the platform records for the admin's actions.
    actor: str


@attrs.define
class ProcessDriver:
    """Acts by calling the processes, as the worker does once a webhook is in the inbox."""

    world: World

    def register(self, name: str, country: str, declared: bool) -> None:
        w = self.world
        command = p.RegisterInvestor(
            legal_name=f"{name} Example",
            email=f"{name.lower()}@example.com",
            country=country,
            kind=InvestorKind.INDIVIDUAL,
            declared_accredited=declared,
        )
        investor = w.run(p.register_investor(w.svc, command))
        w.investors[name] = investor.id
        w.run(p.start_kyc(w.svc, investor.id))

    def kyc_result(self, name: str, result: KycResult) -> None:
        self.world.attempt(p.handle_kyc_result(self.world.svc, result))

    def kyc_review(self, name: str, body: bytes) -> None:
        parsed = parse_sumsub(body)  # as the webhook parses it; the worker then hands it over
        assert parsed is not None
        self.world.attempt(p.handle_kyc_review(self.world.svc, parsed[1]))

    def start_kyc(self, name: str) -> None:
        self.world.run(p.start_kyc(self.world.svc, self.world.investors[name]))

    def open_instrument(self, symbol: str, units: int, price: str, eligible: str, low: str, high: str) -> None:
        w = self.world
        command = p.CreateInstrument(
            symbol=symbol,
            name=f"{symbol} SME credit pool",
            unit_price=eur(price),
            total_units=units,
            eligible=classes(eligible),
            min_ticket=eur(low),
            max_ticket=eur(high),
        )
        instrument = w.run(p.create_instrument(w.svc, command))
        w.instruments[symbol] = instrument.id
        w.run(p.open_instrument(w.svc, instrument.id))

    def order(self, name: str, units: int, symbol: str) -> None:
        w = self.world
        order = w.attempt(p.create_order(w.svc, p.CreateOrder(w.investors[name], w.instruments[symbol], units)))
        if order is not None:
            w.orders[name] = order.id

    def cancel(self, name: str) -> None:
        self.world.run(p.cancel_order(self.world.svc, self.world.orders[name], "cancelled by the investor"))

    def pay(self, name: str) -> None:
        w = self.world
        order = w.order_of(name)
        event = PaymentEvent(
            event_id=f"evt_{order.id}",
            kind=PaymentEventKind.SUCCEEDED,
            order_id=order.id,
            payment_ref=f"pi_{order.id}",
            amount=order.amount,
        )
        w.attempt(p.handle_payment(w.svc, event))

    def refund_outcome(self, name: str, succeeded: bool, reason: str = "") -> None:
        w = self.world
        order = w.order_of(name)
        event = PaymentEvent(
            event_id=f"evt_refund_{order.refund_ref}_{succeeded}",
            kind=PaymentEventKind.REFUNDED if succeeded else PaymentEventKind.REFUND_FAILED,
            order_id=order.id,
            payment_ref=str(order.payment_ref),
            reason=reason,
            refund_ref=order.refund_ref,
        )
        w.attempt(p.handle_payment(w.svc, event))

    def crash_right_after_settling(self, name: str) -> None:
        try:
            self.pay(name)
        except Crash:
            return
        raise AssertionError("the armed crash did not happen")

    def repay(self, symbol: str, period: str, interest: str, principal: str, final: bool) -> None:
        w = self.world
        command = p.TriggerRepayment(w.instruments[symbol], period, eur(interest), eur(principal), final)
        w.attempt(p.trigger_repayment(w.svc, command))
        assert w.error is None, w.error

    def withdraw(self, name: str, amount: str) -> None:
        w = self.world
        w.attempt(p.withdraw(w.svc, p.Withdraw(w.investors[name], eur(amount))))

    def aml_flag(self, name: str, reason: str) -> None:
        investor = self.world.investor(name)
        alert = AmlAlert(f"aml_{investor.id}_{reason}", investor.applicant_id, None, True, reason)
        self.world.run(p.handle_aml_alert(self.world.svc, alert))

    def unblock(self, name: str, reason: str) -> None:
        self.world.run(p.unblock_investor(self.world.svc, self.world.investors[name], reason, "officer-1"))

    def request_unblock(self, officer: str, name: str, reason: str) -> str:
        w = self.world
        approval = w.run(
            ap.request_approval(
                w.svc,
                ACTIONS,
                "unblock",
                w.investors[name],
                {"reason": reason, "requested_by": officer},
                reason,
                ap.Actor(officer, "compliance"),
                timedelta(days=1),
            )
        )
        return str(approval.id)

    def decide(self, officer: str, approval_id: str, approve: bool) -> None:
        w = self.world
        decide = ap.approve if approve else ap.reject
        w.attempt(decide(w.svc, ACTIONS, approval_id, ap.Actor(officer, "compliance"), "reviewed"))

    def decide_alert(self, name: str, decision: str, reason: str) -> None:
        decide = p.confirm_sanctions if decision == "confirm" else p.dismiss_alert
        self.world.run(decide(self.world.svc, self.world.investors[name], reason, "officer-1"))

    def reconcile(self, symbol: str) -> Reconciled:
        report = self.world.run(p.reconcile(self.world.svc, self.world.instruments[symbol]))
        return Reconciled(report.in_sync, report.drift, report.ledger_units, report.store_units)

    def import_statement(self, data: bytes) -> None:
        self.world.run(p.import_statement(self.world.svc, data))

    def register_payout_iban(self, name: str, iban: str) -> None:
        self.world.run(p.register_payout_iban(self.world.svc, self.world.investors[name], iban))

    def pay_from_balance(self, name: str) -> None:
        self.world.attempt(p.pay_from_balance(self.world.svc, self.world.orders[name]))

    def export_payouts(self) -> bytes:
        made = self.world.run(p.export_payouts(self.world.svc))
        assert made is not None, "nothing to pay out"
        return bytes(made.data)

    actor = "admin-1"

    def force_transfer(self, symbol: str, sender: str, receiver: str, units: int, reason: str) -> None:
        w = self.world
        op = w.svc.ids.new("agt")
        cmd = p.ForceTransfer(
            op, w.instruments[symbol], w.investors[sender], w.investors[receiver], units, reason, self.actor
        )
        w.attempt(p.force_transfer(w.svc, cmd))

    def recover_wallet(self, name: str, reason: str) -> None:
        w = self.world
        w.attempt(p.recover_wallet(w.svc, p.RecoverWallet(w.svc.ids.new("agt"), w.investors[name], reason, self.actor)))


class ApiRefusal(Exception):
    """An API answer >= 400; str() is the problem's detail (which names every reason)."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        super().__init__(problem.get("detail", ""))
        self.status, self.problem = status, problem


def _eur(text: str) -> dict[str, Any]:
    return {"minor": eur(text).minor, "currency": "EUR"}


@attrs.define
class HttpDriver:
    """Acts as the frontend and the providers: the API with bearer tokens, signed webhooks, and the
    worker draining the inbox after each webhook."""

    world: World
    client: TestClient
    worker: Worker

    # -- the wire ---------------------------------------------------------------------------------

    def api(
        self,
        method: str,
        path: str,
        role: str,
        body: Any = None,
        investor_id: str | None = None,
        subject: str | None = None,
    ) -> Any:
        token = issue_token(SECRETS["jwt"], role, investor_id=investor_id, subject=subject)

        async def go() -> tuple[int, Any]:
            response = await self.client.request(method, path, json=body, headers={"Authorization": f"Bearer {token}"})
            return response.status, await response.json(content_type=None)

        status, answer = self.world.run(go())
        if status >= 400:
            raise ApiRefusal(status, answer)
        return answer

    def attempt_api(self, *args: Any, **kwargs: Any) -> Any:
        self.world.error = None
        try:
            return self.api(*args, **kwargs)
        except ApiRefusal as refusal:
            self.world.error = refusal
            return None

    def webhook(self, path: str, body: bytes, headers: dict[str, str]) -> None:
        async def go() -> int:
            response = await self.client.post(path, data=body, headers=headers)
            return int(response.status)

        status = self.world.run(go())
        assert status in (200, 202), status

    def drain(self) -> None:
        """Run the worker until nothing is pending; moves the scenario clock past retry delays."""
        w = self.world
        for _ in range(50):
            w.run(self.worker.run_until_idle())
            if w.run(w.svc.store.inbox.counts())[MessageStatus.PENDING] == 0:
                return
            w.clock.advance(timedelta(seconds=self.worker.settings.max_delay + 1))
        raise AssertionError("the inbox did not drain")

    # -- the actors -------------------------------------------------------------------------------

    def register(self, name: str, country: str, declared: bool) -> None:
        body = {
            "legal_name": f"{name} Example",
            "email": f"{name.lower()}@example.com",
            "country": country,
            "kind": "INDIVIDUAL",
            "declared_accredited": declared,
        }
        investor = self.api("POST", "/api/v1/investors", "frontend", body)
        self.world.investors[name] = investor["id"]
        self.api("POST", f"/api/v1/investors/{investor['id']}/kyc", "frontend")

    def kyc_result(self, name: str, result: KycResult) -> None:
        body = sandbox.kyc_review(
            result.applicant_id,
            approved=result.approved,
            country=result.verified_country,
            accredited=result.accreditation_verified,
            sanctions_hit=result.sanctions_hit,
            reject_labels=result.reject_labels,
        )
        self.webhook("/webhooks/kyc", body, sandbox.digest_headers(body, SECRETS["kyc"]))
        self.drain()

    def kyc_review(self, name: str, body: bytes) -> None:
        self.webhook("/webhooks/sumsub", body, sandbox.digest_headers(body, SECRETS["kyc"]))
        self.drain()

    def start_kyc(self, name: str) -> None:
        self.api("POST", f"/api/v1/investors/{self.world.investors[name]}/kyc", "frontend")

    def open_instrument(self, symbol: str, units: int, price: str, eligible: str, low: str, high: str) -> None:
        body = {
            "symbol": symbol,
            "name": f"{symbol} SME credit pool",
            "unit_price": _eur(price),
            "total_units": units,
            "eligible": [c.strip() for c in eligible.split(",")],
            "min_ticket": _eur(low),
            "max_ticket": _eur(high),
        }
        instrument = self.api("POST", "/api/v1/instruments", "admin", body)
        self.world.instruments[symbol] = instrument["id"]
        self.api("POST", f"/api/v1/instruments/{instrument['id']}/open", "admin")

    def order(self, name: str, units: int, symbol: str) -> None:
        investor_id = self.world.investors[name]
        body = {"investor_id": investor_id, "instrument_id": self.world.instruments[symbol], "units": units}
        order = self.attempt_api("POST", "/api/v1/orders", "investor", body, investor_id=investor_id)
        if order is not None:
            self.world.orders[name] = order["id"]

    def cancel(self, name: str) -> None:
        w = self.world
        self.api("POST", f"/api/v1/orders/{w.orders[name]}/cancel", "investor", investor_id=w.investors[name])

    def _payment_webhook(self, name: str) -> None:
        order = self.world.order_of(name)
        body = sandbox.stripe_event(
            f"evt_{order.id}",
            "checkout.session.completed",
            order_id=order.id,
            amount_minor=order.amount.minor,
            payment_ref=f"pi_{order.id}",
        )
        self.webhook("/webhooks/payments", body, sandbox.stripe_headers(body, SECRETS["stripe"]))

    def pay(self, name: str) -> None:
        self.world.error = None
        self._payment_webhook(name)
        self.drain()

    def refund_outcome(self, name: str, succeeded: bool, reason: str = "") -> None:
        order = self.world.order_of(name)
        body = sandbox.stripe_refund_event(
            f"evt_refund_{order.refund_ref}_{succeeded}",
            order_id=order.id,
            refund_id=str(order.refund_ref),
            status="succeeded" if succeeded else "failed",
            amount_minor=order.amount.minor,
            failure_reason=reason or None,
        )
        self.webhook("/webhooks/payments", body, sandbox.stripe_headers(body, SECRETS["stripe"]))
        self.drain()

    def crash_right_after_settling(self, name: str) -> None:
        w = self.world
        self._payment_webhook(name)
        w.run(self.worker.drain_inbox_once())  # the worker "dies" in the settlement: the job is retried later
        assert not w.ledger.armed, "the armed crash did not happen"
        [job] = [m for m in w.run(w.svc.store.inbox.list(limit=1000)) if m.key == f"payments:evt_{w.orders[name]}"]
        assert job.status is MessageStatus.PENDING and job.last_error == Crash.__name__

    def repay(self, symbol: str, period: str, interest: str, principal: str, final: bool) -> None:
        body = {"period": period, "interest": _eur(interest), "principal": _eur(principal), "final": final}
        self.api("POST", f"/api/v1/instruments/{self.world.instruments[symbol]}/repayments", "admin", body)
        self.drain()  # the worker pays the batches

    def withdraw(self, name: str, amount: str) -> None:
        investor_id = self.world.investors[name]
        body = {"investor_id": investor_id, "amount": _eur(amount)}
        self.attempt_api("POST", "/api/v1/withdrawals", "investor", body, investor_id=investor_id)

    def aml_flag(self, name: str, reason: str) -> None:
        investor = self.world.investor(name)
        body = sandbox.aml_alert(f"aml_{investor.id}_{reason}", applicant_id=investor.applicant_id, reason=reason)
        self.webhook("/webhooks/aml", body, sandbox.digest_headers(body, SECRETS["kyc"]))
        self.drain()

    def unblock(self, name: str, reason: str) -> None:
        """Four-eyes at the API: one officer asks, a second approves."""
        approval_id = self.request_unblock("officer-1", name, reason)
        self.decide("officer-2", approval_id, approve=True)
        assert self.world.error is None, self.world.error

    def request_unblock(self, officer: str, name: str, reason: str) -> str:
        path = f"/api/v1/compliance/investors/{self.world.investors[name]}/unblock"
        request = self.api("POST", path, "compliance", {"reason": reason}, subject=officer)
        assert request["status"] == "PENDING", request
        return str(request["id"])

    def decide(self, officer: str, approval_id: str, approve: bool) -> None:
        verb = "approve" if approve else "reject"
        self.attempt_api(
            "POST", f"/api/v1/approvals/{approval_id}/{verb}", "compliance", {"reason": "reviewed"}, subject=officer
        )

    #: Four-eyes: one admin asks, a second approves; the record names both.
    actor = "admin-1, approved by admin-2"

    def _agent_action(self, path: str, body: dict[str, object]) -> None:
        """An agent action at the API: requested by one admin, approved by a second (four-eyes).
        A refusal, at the request or when the approval runs it, lands in `world.error`."""
        request = self.attempt_api("POST", path, "admin", body, subject="admin-1")
        if self.world.error is not None:
            return
        assert request is not None and request["status"] == "PENDING", request
        self.attempt_api(
            "POST", f"/api/v1/approvals/{request['id']}/approve", "admin", {"reason": "reviewed"}, subject="admin-2"
        )

    def force_transfer(self, symbol: str, sender: str, receiver: str, units: int, reason: str) -> None:
        w = self.world
        body = {"from_investor_id": w.investors[sender], "to_investor_id": w.investors[receiver], "units": units}
        self._agent_action(f"/api/v1/instruments/{w.instruments[symbol]}/forced-transfers", {**body, "reason": reason})

    def recover_wallet(self, name: str, reason: str) -> None:
        self._agent_action(f"/api/v1/investors/{self.world.investors[name]}/wallet-recovery", {"reason": reason})

    def decide_alert(self, name: str, decision: str, reason: str) -> None:
        """A confirmation acts at once; a dismissal lifts the block, so a second officer approves it."""
        path = f"/api/v1/compliance/investors/{self.world.investors[name]}/{decision}"
        answer = self.api("POST", path, "compliance", {"reason": reason}, subject="officer-1")
        if decision == "dismiss":
            assert answer["status"] == "PENDING", answer
            self.decide("officer-2", str(answer["id"]), approve=True)
            assert self.world.error is None, self.world.error

    def reconcile(self, symbol: str) -> Reconciled:
        report = self.api("GET", f"/api/v1/instruments/{self.world.instruments[symbol]}/reconciliation", "compliance")
        return Reconciled(report["in_sync"], report["drift"], report["ledger_units"], report["store_units"])

    def _post_raw(self, path: str, data: bytes | None, headers: dict[str, str]) -> tuple[int, bytes]:
        token = issue_token(SECRETS["jwt"], "admin")

        async def go() -> tuple[int, bytes]:
            response = await self.client.post(path, data=data, headers={"Authorization": f"Bearer {token}", **headers})
            return response.status, await response.read()

        status, body = self.world.run(go())
        return int(status), bytes(body)

    def import_statement(self, data: bytes) -> None:
        status, body = self._post_raw("/api/v1/bank/statements", data, {"Content-Type": "application/xml"})
        assert status == 200, body
        self.drain()  # the outbox: the investor is told

    def register_payout_iban(self, name: str, iban: str) -> None:
        investor_id = self.world.investors[name]
        path = f"/api/v1/investors/{investor_id}/payout-account"
        self.api("PUT", path, "investor", {"iban": iban}, investor_id=investor_id)

    def pay_from_balance(self, name: str) -> None:
        w = self.world
        path = f"/api/v1/orders/{w.orders[name]}/pay-from-balance"
        self.attempt_api("POST", path, "investor", investor_id=w.investors[name])

    def export_payouts(self) -> bytes:
        status, body = self._post_raw("/api/v1/bank/payouts", None, {})
        assert status == 200, body
        return body


def attach_http(world: World) -> Iterator[World]:
    """Serve the API over the world's services and attach an HttpDriver; closes it afterwards."""
    http = HttpSettings(
        kyc_webhook_secret=SECRETS["kyc"],
        payments_webhook_secret=SECRETS["stripe"],
        jwt_secret=SECRETS["jwt"],
        run_worker=False,
        worker=WorkerSettings(base_delay=0.01, max_delay=1.0, max_attempts=20),
    )
    app = create_app(world.svc, http, notifier=RecordingNotifier())

    async def start() -> TestClient:
        client = TestClient(TestServer(app))  # made inside the loop it serves on
        await client.start_server()
        return client

    client = world.run(start())
    state = app[STATE]
    world.driver = HttpDriver(world, client, Worker(state.services, state.notifier, http.worker, state.metrics))
    try:
        yield world
    finally:
        world.run(client.close())
