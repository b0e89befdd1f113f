"""PaymentGateway over Stripe Checkout, through the `stripe` package's async client.

- `create_checkout`: one Checkout Session per order (`mode=payment`, one line item: units x unit
  price in the order's currency, the order id in `metadata`, `payment_intent_data.metadata` and
  `client_reference_id`), ending at the reservation deadline clamped into Stripe's window (30 min to
  24 h after creation), success/cancel URLs from the config. The idempotency key is derived from
  the order id, so a retried request gets the first session back instead of a second one; every
  parameter, `expires_at` included, comes from the order alone, so a retry sends the same request
  (Stripe refuses a key reused with other parameters).
- `expire_checkout`: `POST /v1/checkout/sessions/{id}/expire`; a session that already expired is
  fine; a completed one (paid, or a SEPA debit under way) -> CheckoutCompleted: the order is not
  paid a second way (from the balance) while its card payment's event is still on its way.
- `refund`: `POST /v1/refunds` of the whole PaymentIntent, idempotency key `refund-<order>-<attempt>`.
- Errors: network trouble, rate limits, 5xx and authentication -> ProviderError (transient; the
  client's own retries, `max_network_retries`, come first); the API refusing the request (invalid
  request, card, idempotency errors) -> PaymentRefused with Stripe's message, which names no secret.
"""

from __future__ import annotations

from typing import Any

import attrs
import stripe

from drexfy.domain.errors import CheckoutCompleted, ConfigurationError, PaymentRefused, ProviderError
from drexfy.domain.model import Investor, Order
from drexfy.domain.ports import Checkout

#: Stripe's window for `expires_at`: 30 minutes to 24 hours after the session is created. The margin
#: is how long after its order's creation a checkout may first be asked for (the request follows
#: the order's reservation at once; the margin covers a slow store and clocks a little off).
MIN_EXPIRY_S = 30 * 60
MAX_EXPIRY_S = 24 * 60 * 60
EXPIRY_MARGIN_S = 300


@attrs.frozen
class StripeConfig:
    """`payments.stripe.*`."""

    api_key: str = attrs.field(repr=False)
    success_url: str
    cancel_url: str
    #: Empty: Stripe's own API; tests point it at the local fake.
    api_base: str = ""
    max_network_retries: int = 2
    timeout_s: float = 30.0

    def __attrs_post_init__(self) -> None:
        if not self.api_key:
            raise ConfigurationError("payments.stripe.api_key: required when payments.kind = stripe")
        for name in ("success_url", "cancel_url"):
            if not getattr(self, name).startswith(("https://", "http://")):
                raise ConfigurationError(f"payments.stripe.{name}: an absolute http(s) URL is required")


def checkout_expiry(order: Order) -> int:
    """The session's `expires_at` (unix seconds): the order's reservation deadline, clamped into
    Stripe's window counted from the order's creation. A reservation longer than 24 h ends with the
    session (`checkout.session.expired` releases it); a shorter one than 30 min is expired by the
    platform's own sweep, which expires the session with it.

    It depends on the order only, never on the time of the request: every retry of the request
    (same idempotency key) sends the same parameters, and Stripe answers it with the first session
    however much later it comes. A first request more than `EXPIRY_MARGIN_S` after the order was
    created is too late for the window: Stripe refuses it (`PaymentRefused`), and the order fails
    with its units released, as any checkout that cannot be created."""
    start = int(order.created_at.timestamp())
    low = start + MIN_EXPIRY_S + EXPIRY_MARGIN_S
    high = start + MAX_EXPIRY_S - EXPIRY_MARGIN_S
    return max(low, min(high, int(order.expires_at.timestamp())))


class StripeGateway:
    """PaymentGateway for `payments.kind = "stripe"`."""

    kind = "stripe"

    def __init__(self, config: StripeConfig) -> None:
        self._config = config
        self._http = stripe.AIOHTTPClient(timeout=config.timeout_s)
        base = {"api": config.api_base} if config.api_base else None
        self._client = stripe.StripeClient(
            config.api_key,
            base_addresses=base,  # type: ignore[arg-type]
            http_client=self._http,
            max_network_retries=config.max_network_retries,
        )

    async def close(self) -> None:
        await self._http.close_async()  # type: ignore[no-untyped-call]

    async def create_checkout(self, order: Order, investor: Investor) -> Checkout:
        unit_minor, rest = divmod(order.amount.minor, order.units)
        if rest or order.units <= 0:
            raise PaymentRefused(f"order {order.id}: {order.amount} is not units x a unit price")
        params: dict[str, Any] = {
            "mode": "payment",
            "line_items": [
                {
                    "quantity": order.units,
                    "price_data": {
                        "currency": order.amount.currency.lower(),
                        "unit_amount": unit_minor,
                        "product_data": {"name": f"Units of instrument {order.instrument_id}"},
                    },
                }
            ],
            "client_reference_id": order.id,
            "metadata": {"order_id": order.id, "investor_id": investor.id},
            "payment_intent_data": {"metadata": {"order_id": order.id}},
            "expires_at": checkout_expiry(order),
            "success_url": self._config.success_url,
            "cancel_url": self._config.cancel_url,
        }
        session = await self._call(
            self._client.v1.checkout.sessions.create_async(
                params,  # type: ignore[arg-type]
                {"idempotency_key": f"checkout-{order.id}"},
            )
        )
        if not session.url:
            raise ProviderError(f"checkout session {session.id} has no URL")
        return Checkout(str(session.id), str(session.url))

    async def expire_checkout(self, order: Order) -> None:
        if not order.checkout_ref:
            return
        sessions = self._client.v1.checkout.sessions
        try:
            await self._call(sessions.expire_async(order.checkout_ref))
        except PaymentRefused:
            # Only open sessions can be expired: one that expired already is done; a completed one
            # was paid (or a bank debit is under way), and that payment decides the order.
            session = await self._call(sessions.retrieve_async(order.checkout_ref))
            if session.status == "complete":
                raise CheckoutCompleted(
                    f"order {order.id}: its checkout was already paid (or a bank debit is under way)"
                ) from None
            if session.status == "open":
                raise

    async def refund(self, order: Order) -> str:
        if not order.payment_ref:
            raise PaymentRefused(f"order {order.id} has no payment to refund")
        params: dict[str, Any] = {"metadata": {"order_id": order.id}}
        # A checkout's payment is its PaymentIntent; a bare charge id is refunded as a charge.
        params["charge" if order.payment_ref.startswith("ch_") else "payment_intent"] = order.payment_ref
        refund = await self._call(
            self._client.v1.refunds.create_async(
                params,  # type: ignore[arg-type]
                {"idempotency_key": f"refund-{order.id}-{order.refund_attempts}"},
            )
        )
        return str(refund.id)

    async def _call(self, request: Any) -> Any:
        try:
            return await request
        except (stripe.APIConnectionError, stripe.RateLimitError, stripe.AuthenticationError) as exc:
            raise ProviderError(f"stripe: {type(exc).__name__}") from None
        except (stripe.InvalidRequestError, stripe.CardError, stripe.IdempotencyError) as exc:
            raise PaymentRefused(f"stripe refused: {exc.user_message or exc.code or 'invalid request'}"[:300]) from None
        except stripe.StripeError as exc:  # 5xx and anything else the API answers
            raise ProviderError(f"stripe: {type(exc).__name__} (HTTP {exc.http_status})") from None
