"""Short business scenarios driven through the processes (shared by integration and CLI tests)."""

from __future__ import annotations

from drexfy.domain import processes as p
from drexfy.domain.classification import Classification
from drexfy.domain.model import InvestorKind
from drexfy.domain.money import Money
from drexfy.domain.provider_events import KycResult, PaymentEvent, PaymentEventKind


def eur(text: str) -> Money:
    return Money.parse(text, "EUR")


async def onboard(svc: p.Services, name: str, country: str = "DE") -> str:
    investor = await p.register_investor(
        svc, p.RegisterInvestor(name, f"{name}@example.com", country, InvestorKind.INDIVIDUAL)
    )
    session = await p.start_kyc(svc, investor.id)
    await p.handle_kyc_result(svc, KycResult(session.applicant_id, approved=True, verified_country=country))
    return investor.id


async def instrument(svc: p.Services) -> str:
    created = await p.create_instrument(
        svc,
        p.CreateInstrument(
            "RCV1",
            "recovery pool",
            eur("10.00"),
            1000,
            frozenset({Classification.EU_NON_ACCREDITED}),
            eur("10.00"),
            eur("10000.00"),
        ),
    )
    return (await p.open_instrument(svc, created.id)).id


async def buy(svc: p.Services, investor_id: str, instrument_id: str, units: int) -> str:
    order = await p.create_order(svc, p.CreateOrder(investor_id, instrument_id, units))
    await pay(svc, order.id, order.amount)
    return order.id


async def pay(svc: p.Services, order_id: str, amount: Money):
    event = PaymentEvent(f"evt_{order_id}", PaymentEventKind.SUCCEEDED, order_id, f"pi_{order_id}", amount)
    return await p.handle_payment(svc, event)
