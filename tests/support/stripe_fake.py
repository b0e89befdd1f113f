"""A local fake of the parts of Stripe's API the platform uses, following Stripe's public API
reference: the real `stripe` client is pointed at it (`api_base`). Started by the tests, not shipped.
(About 410 lines in one module: its sessions, payment intents, charges and refunds refer to one
another, as Stripe's objects do.)

What it holds to, as Stripe documents it:
- requests are form-encoded with bracketed nesting (`line_items[0][price_data][currency]=eur`);
  answers are JSON objects, errors `{"error": {"type", "code", "message", "param"}}`;
- `Authorization: Bearer <secret key>`; a wrong key is a 401 `invalid_request_error`;
- `Idempotency-Key`: the same key with the same parameters replays the first answer (with the
  `Idempotent-Replayed: true` header); with other parameters it is a 400 `idempotency_error`. Only
  requests that ran are saved (a validation error is not), and a replay is not validated again
  (a retry hours later with the same parameters gets the first session);
- Checkout Sessions: `mode=payment` with `line_items[].price_data` and `quantity`, `success_url`
  required, `expires_at` from 30 minutes to 24 hours after creation (the time of the request, read
  from `time.time()` when it comes in), amounts from 0.50 to
  999,999.99 (EUR); only `open` sessions can be expired;
- Refunds of a PaymentIntent or charge: at most what is left to refund (`charge_already_refunded`).

Test hooks (Python methods, the fake runs in the test's loop): `pay` (a card, or a delayed method
that `settle_delayed` ends), `lapse` (Stripe expiring a session by itself), `fail_refund`,
`fail_next` (5xx answers), and `events` (the events Stripe would send, as `stripe.Event` JSON).
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

import attrs
from aiohttp import web
from aiohttp.test_utils import TestServer

MIN_EXPIRY_S = 30 * 60
MAX_EXPIRY_S = 24 * 60 * 60
MIN_AMOUNT = 50
MAX_AMOUNT = 99_999_999
_KEY_PART = re.compile(r"\[([^\]]*)\]")


class StripeApiError(Exception):
    def __init__(self, status: int, kind: str, message: str, code: str | None = None, param: str | None = None):
        super().__init__(message)
        self.status, self.kind, self.code, self.param = status, kind, code, param

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.kind, "message": str(self)}
        if self.code:
            error["code"] = self.code
        if self.param:
            error["param"] = self.param
        return {"error": error}


def decode_form(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's bracketed form encoding -> nested dicts and lists (numeric keys make lists)."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        head = key.split("[", 1)[0]
        parts = [head, *_KEY_PART.findall(key)]
        node: Any = root
        for part, following in zip(parts, [*parts[1:], None], strict=True):
            if following is None:
                node[part] = value
            else:
                node = node.setdefault(part, {})
    return _listify(root)


def _listify(node: Any) -> Any:
    if isinstance(node, dict):
        items = {k: _listify(v) for k, v in node.items()}
        if items and all(k.isdigit() for k in items):
            return [items[k] for k in sorted(items, key=int)]
        return items
    return node


def _int(params: dict[str, Any], name: str, path: str) -> int:
    try:
        return int(params[name])
    except KeyError:
        raise StripeApiError(
            400, "invalid_request_error", f"Missing required param: {path}.", "parameter_missing", path
        ) from None
    except ValueError:
        raise StripeApiError(
            400, "invalid_request_error", f"Invalid integer: {params[name]}", "parameter_invalid_integer", path
        ) from None


@attrs.define
class FakeStripe:
    api_key: str = "sk_test_fake_" + "0" * 24
    sessions: dict[str, dict[str, Any]] = attrs.field(factory=dict)
    intents: dict[str, dict[str, Any]] = attrs.field(factory=dict)
    charges: dict[str, dict[str, Any]] = attrs.field(factory=dict)
    refunds: dict[str, dict[str, Any]] = attrs.field(factory=dict)
    events: list[dict[str, Any]] = attrs.field(factory=list)
    requests: list[tuple[str, str, dict[str, Any]]] = attrs.field(factory=list)
    #: Refunds start `pending` (answered later by `settle_refund`/`fail_refund`) or `succeeded`.
    refund_status: str = "succeeded"
    _idempotent: dict[str, tuple[str, dict[str, Any], int, dict[str, Any]]] = attrs.field(factory=dict)
    _failures: int = 0
    server: TestServer | None = None

    # -- lifecycle --------------------------------------------------------------------------------

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/v1/{path:.*}", self._handle)
        self.server = TestServer(app, host="127.0.0.1")
        await self.server.start_server()
        return str(self.server.make_url("")).rstrip("/")

    async def close(self) -> None:
        if self.server is not None:
            await self.server.close()

    def fail_next(self, count: int = 1) -> None:
        """The next `count` requests get a 500 `api_error` (and change nothing)."""
        self._failures = count

    # -- HTTP -------------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        path = "/v1/" + request.match_info["path"]
        raw = (await request.read()).decode()
        params = decode_form(parse_qsl(raw, keep_blank_values=True)) if raw else {}
        self.requests.append((request.method, path, params))
        try:
            if request.headers.get("Authorization") != f"Bearer {self.api_key}":
                raise StripeApiError(401, "invalid_request_error", "Invalid API Key provided: sk_****")
            if self._failures > 0:
                self._failures -= 1
                raise StripeApiError(500, "api_error", "An unknown error occurred")
            key = request.headers.get("Idempotency-Key") if request.method == "POST" else None
            if key is not None and key in self._idempotent:
                first_path, first_params, status, body = self._idempotent[key]
                if (first_path, first_params) != (path, params):
                    raise StripeApiError(
                        400,
                        "idempotency_error",
                        "Keys for idempotent requests can only be used with the same parameters they were first"
                        f" used with. Try using a key other than '{key}' if you meant to execute a different request.",
                    )
                return web.json_response(body, status=status, headers={"Idempotent-Replayed": "true"})
            body = self._route(request.method, path, params)
            if key is not None:
                self._idempotent[key] = (path, params, 200, body)
            return web.json_response(body)
        except StripeApiError as error:
            return web.json_response(error.body(), status=error.status)

    def _route(self, method: str, path: str, params: dict[str, Any]) -> dict[str, Any]:
        parts = path.strip("/").split("/")
        if method == "POST" and parts == ["v1", "checkout", "sessions"]:
            return self._create_session(params)
        if parts[:3] == ["v1", "checkout", "sessions"] and len(parts) >= 4:
            session = self._get(self.sessions, parts[3], "checkout.session")
            if method == "GET" and len(parts) == 4:
                return session
            if method == "POST" and parts[4:] == ["expire"]:
                return self._expire(session)
        if method == "POST" and parts == ["v1", "refunds"]:
            return self._create_refund(params)
        if method == "GET" and parts[:2] == ["v1", "refunds"] and len(parts) == 3:
            return self._get(self.refunds, parts[2], "refund")
        raise StripeApiError(404, "invalid_request_error", f"Unrecognized request URL ({method}: {path}).")

    @staticmethod
    def _get(table: dict[str, dict[str, Any]], ident: str, name: str) -> dict[str, Any]:
        if ident not in table:
            raise StripeApiError(404, "invalid_request_error", f"No such {name}: '{ident}'", "resource_missing", "id")
        return table[ident]

    # -- Checkout Sessions --------------------------------------------------------------------------

    def _create_session(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("mode") != "payment":
            raise StripeApiError(
                400, "invalid_request_error", "Missing required param: mode.", "parameter_missing", "mode"
            )
        if not params.get("success_url"):
            raise StripeApiError(
                400, "invalid_request_error", "Missing required param: success_url.", "parameter_missing", "success_url"
            )
        items = params.get("line_items")
        if not isinstance(items, list) or not items:
            raise StripeApiError(
                400, "invalid_request_error", "Missing required param: line_items.", "parameter_missing", "line_items"
            )
        total, currency = 0, None
        for index, item in enumerate(items):
            price = item.get("price_data") or {}
            quantity = _int(item, "quantity", f"line_items[{index}][quantity]")
            unit = _int(price, "unit_amount", f"line_items[{index}][price_data][unit_amount]")
            if not (price.get("product_data") or {}).get("name"):
                raise StripeApiError(
                    400,
                    "invalid_request_error",
                    "Missing required param: line_items[0][price_data][product_data][name].",
                    "parameter_missing",
                )
            if quantity < 1 or unit < 0:
                raise StripeApiError(400, "invalid_request_error", "Invalid line item.", "parameter_invalid_integer")
            currency = price.get("currency")
            total += quantity * unit
        if total < MIN_AMOUNT:
            raise StripeApiError(400, "invalid_request_error", "Amount must be at least €0.50 eur", "amount_too_small")
        if total > MAX_AMOUNT:
            raise StripeApiError(
                400, "invalid_request_error", "Amount must be no more than €999,999.99", "amount_too_large"
            )
        now = int(time.time())
        expires_at = _int(params, "expires_at", "expires_at") if "expires_at" in params else now + MAX_EXPIRY_S
        if expires_at - now < MIN_EXPIRY_S:
            raise StripeApiError(
                400,
                "invalid_request_error",
                "The `expires_at` timestamp must be at least 30 minutes from Checkout Session creation.",
                "parameter_invalid_integer",
                "expires_at",
            )
        if expires_at - now > MAX_EXPIRY_S:
            raise StripeApiError(
                400,
                "invalid_request_error",
                "The `expires_at` timestamp must be less than 24 hours from Checkout Session creation.",
                "parameter_invalid_integer",
                "expires_at",
            )
        ident = "cs_test_" + secrets.token_hex(12)
        session = {
            "id": ident,
            "object": "checkout.session",
            "mode": "payment",
            "status": "open",
            "payment_status": "unpaid",
            "amount_total": total,
            "currency": currency,
            "client_reference_id": params.get("client_reference_id"),
            "metadata": params.get("metadata") or {},
            "payment_intent": None,
            "expires_at": expires_at,
            "success_url": params["success_url"],
            "cancel_url": params.get("cancel_url"),
            "url": f"https://checkout.stripe.test/c/pay/{ident}",
            "livemode": False,
            "_intent_metadata": (params.get("payment_intent_data") or {}).get("metadata") or {},
        }
        self.sessions[ident] = session
        return self._public(session)

    @staticmethod
    def _public(obj: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in obj.items() if not k.startswith("_")}

    def _expire(self, session: dict[str, Any]) -> dict[str, Any]:
        if session["status"] != "open":
            raise StripeApiError(
                400,
                "invalid_request_error",
                'Only Checkout Sessions with a status in ["open"] can be expired.',
                "checkout_session_not_open",
            )
        session["status"] = "expired"
        self._emit("checkout.session.expired", self._public(session))
        return self._public(session)

    # -- test hooks: what customers and Stripe do ----------------------------------------------------

    def pay(self, session_id: str, *, delayed: bool = False) -> dict[str, Any]:
        """The customer pays the session: by card (paid at once) or a delayed method (SEPA Direct
        Debit: `completed` unpaid now, `settle_delayed` later)."""
        session = self.sessions[session_id]
        assert session["status"] == "open", session["status"]
        intent_id = "pi_" + secrets.token_hex(12)
        charge_id = "ch_" + secrets.token_hex(12)
        metadata = dict(session["_intent_metadata"])
        self.intents[intent_id] = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": session["amount_total"],
            "amount_received": 0 if delayed else session["amount_total"],
            "currency": session["currency"],
            "status": "processing" if delayed else "succeeded",
            "metadata": metadata,
            "latest_charge": charge_id,
        }
        self.charges[charge_id] = {
            "id": charge_id,
            "object": "charge",
            "amount": session["amount_total"],
            "amount_refunded": 0,
            "refunded": False,
            "payment_intent": intent_id,
            "currency": session["currency"],
            "metadata": metadata,
            "paid": not delayed,
        }
        session.update(status="complete", payment_status="unpaid" if delayed else "paid", payment_intent=intent_id)
        return self._emit("checkout.session.completed", self._public(session))

    def settle_delayed(self, session_id: str, *, succeeded: bool = True) -> dict[str, Any]:
        session = self.sessions[session_id]
        intent = self.intents[session["payment_intent"]]
        if succeeded:
            intent.update(status="succeeded", amount_received=intent["amount"])
            self.charges[intent["latest_charge"]]["paid"] = True
            session["payment_status"] = "paid"
            return self._emit("checkout.session.async_payment_succeeded", self._public(session))
        intent["status"] = "requires_payment_method"
        return self._emit("checkout.session.async_payment_failed", self._public(session))

    def lapse(self, session_id: str) -> dict[str, Any]:
        """Stripe expires an open session at its `expires_at`."""
        session = self.sessions[session_id]
        session["status"] = "expired"
        return self._emit("checkout.session.expired", self._public(session))

    # -- Refunds ----------------------------------------------------------------------------------

    def _create_refund(self, params: dict[str, Any]) -> dict[str, Any]:
        if "payment_intent" in params:
            intent = self._get(self.intents, params["payment_intent"], "payment_intent")
            charge = self.charges[intent["latest_charge"]]
        elif "charge" in params:
            charge = self._get(self.charges, params["charge"], "charge")
        else:
            raise StripeApiError(
                400,
                "invalid_request_error",
                "One of the following params should be provided for this request: payment_intent or charge.",
            )
        if not charge["paid"]:
            raise StripeApiError(
                400, "invalid_request_error", f"Charge {charge['id']} has not been paid.", "charge_not_refundable"
            )
        left = charge["amount"] - charge["amount_refunded"]
        if left <= 0:
            raise StripeApiError(
                400,
                "invalid_request_error",
                f"Charge {charge['id']} has already been refunded.",
                "charge_already_refunded",
            )
        amount = _int(params, "amount", "amount") if "amount" in params else left
        if amount > left:
            raise StripeApiError(
                400,
                "invalid_request_error",
                "Refund amount is greater than unrefunded amount on charge",
                "amount_too_large",
                "amount",
            )
        ident = "re_" + secrets.token_hex(12)
        refund = {
            "id": ident,
            "object": "refund",
            "amount": amount,
            "charge": charge["id"],
            "payment_intent": charge["payment_intent"],
            "currency": charge["currency"],
            "metadata": params.get("metadata") or {},
            "status": "pending",
            "failure_reason": None,
        }
        self.refunds[ident] = refund
        charge["amount_refunded"] += amount  # Stripe counts a pending refund against the charge
        self._emit("refund.created", dict(refund))
        if self.refund_status == "succeeded":
            self.settle_refund(ident)
        return dict(self.refunds[ident])

    def settle_refund(self, refund_id: str) -> dict[str, Any]:
        refund = self.refunds[refund_id]
        refund["status"] = "succeeded"
        charge = self.charges[refund["charge"]]
        charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
        self._emit("charge.refunded", dict(charge))
        return self._emit("refund.updated", dict(refund))

    def fail_refund(self, refund_id: str, reason: str = "expired_or_canceled_card") -> dict[str, Any]:
        """The bank returned the refund: the money is back on the platform's balance."""
        refund = self.refunds[refund_id]
        refund.update(status="failed", failure_reason=reason)
        self.charges[refund["charge"]]["amount_refunded"] -= refund["amount"]
        return self._emit("refund.updated", dict(refund))

    # -- events -----------------------------------------------------------------------------------

    def _emit(self, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        event = {
            "id": "evt_" + secrets.token_hex(12),
            "object": "event",
            "api_version": "2025-01-27.acacia",
            "created": int(time.time()),
            "livemode": False,
            "type": kind,
            "data": {"object": json.loads(json.dumps(obj))},
        }
        self.events.append(event)
        return event

    def take_events(self) -> list[bytes]:
        """The event bodies Stripe would have sent since the last call, oldest first."""
        bodies = [json.dumps(e, separators=(",", ":")).encode() for e in self.events]
        self.events.clear()
        return bodies
