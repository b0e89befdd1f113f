"""Registration and KYC steps (features/registration.feature, and the investors of every feature)."""

from __future__ import annotations

from typing import Any

from pytest_bdd import given, parsers, then, when

from drexfy.domain.classification import Classification
from drexfy.domain.model import KycStatus
from drexfy.domain.provider_events import KycResult
from tests.bdd.world import RESIDENCE, World


def _kyc(world: World, name: str, **fields: Any) -> None:
    world.driver.kyc_result(name, KycResult(applicant_id=world.investor(name).applicant_id, **fields))


@given(parsers.parse('an investor "{name}" registered with residence "{country}" who declares to be accredited'))
def registered_declaring(world: World, name: str, country: str) -> None:
    world.driver.register(name, country, declared=True)


@given(parsers.parse('an investor "{name}" registered with residence "{country}"'))
def registered(world: World, name: str, country: str) -> None:
    world.driver.register(name, country, declared=False)


@when(
    parsers.parse(
        'the KYC provider approves "{name}" with verified residence "{country}" and no accreditation evidence'
    )
)
def kyc_approves_plain(world: World, name: str, country: str) -> None:
    _kyc(world, name, approved=True, verified_country=country)


@when(
    parsers.parse('the KYC provider approves "{name}" with verified residence "{country}" and verified accreditation')
)
def kyc_approves_accredited(world: World, name: str, country: str) -> None:
    _kyc(world, name, approved=True, verified_country=country, accreditation_verified=True)


@when(parsers.parse('the KYC provider rejects "{name}" for "{label}"'))
def kyc_rejects(world: World, name: str, label: str) -> None:
    _kyc(world, name, approved=False, reject_labels=(label,))


@when(parsers.parse('the KYC provider reports a sanctions hit for "{name}"'))
def kyc_sanctions(world: World, name: str) -> None:
    _kyc(world, name, approved=False, sanctions_hit=True, verified_country="CY", reject_labels=("SANCTIONS",))


@when(parsers.parse('the KYC provider asks "{name}" to submit again because "{label}"'))
def kyc_asks_again(world: World, name: str, label: str) -> None:
    applicant = world.investor(name).applicant_id
    world.driver.kyc_review(name, world.sumsub.review(applicant, "RED", labels=(label,), reject_type="RETRY"))
    assert world.error is None, world.error


@when(parsers.parse('"{name}" starts KYC again with the same applicant'))
def starts_kyc_again(world: World, name: str) -> None:
    applicant = world.investor(name).applicant_id
    world.driver.start_kyc(name)
    assert world.investor(name).applicant_id == applicant
    assert len(world.sumsub.applicants) == len(world.investors)  # no second applicant at the provider


@when(parsers.parse('the KYC provider verifies "{name}" with residence "{alpha3}" and approves'))
def kyc_verifies_and_approves(world: World, name: str, alpha3: str) -> None:
    applicant = world.investor(name).applicant_id
    world.sumsub.verify(applicant, country=alpha3)  # what the worker reads back from the provider's API
    world.driver.kyc_review(name, world.sumsub.review(applicant, "GREEN"))
    assert world.error is None, world.error


@then(parsers.parse('"{name}" is asked to submit KYC again because "{label}"'))
def asked_again(world: World, name: str, label: str) -> None:
    investor = world.investor(name)
    assert (investor.kyc_status, investor.kyc_progress, investor.kyc_reasons) == (
        KycStatus.PENDING_KYC,
        "RETRY",
        (label,),
    )


@given(parsers.parse('an active investor "{name}" classified "{cls}"'))
def active_investor(world: World, name: str, cls: str) -> None:
    country, accredited = RESIDENCE[Classification[cls]]
    world.driver.register(name, country, declared=False)
    _kyc(world, name, approved=True, verified_country=country, accreditation_verified=accredited)
    assert world.error is None, world.error
    assert world.investor(name).classification is Classification[cls]


@then(parsers.parse('"{name}" is active'))
def is_active(world: World, name: str) -> None:
    assert world.error is None, world.error
    assert world.investor(name).kyc_status is KycStatus.ACTIVE


@then(parsers.parse('"{name}" is classified "{cls}" in the platform and on the ledger'))
def is_classified(world: World, name: str, cls: str) -> None:
    investor = world.investor(name)
    assert investor.classification is Classification[cls]
    assert world.run(world.svc.ledger.classification_of(investor.wallet.address)) is Classification[cls]


@then(parsers.parse('"{name}" has a custodial wallet activated on the ledger'))
def wallet_activated(world: World, name: str) -> None:
    investor = world.investor(name)
    assert investor.wallet is not None and investor.wallet_activated
    # The vault signs for the wallet's address and never hands the key out.
    public_key = world.run(world.svc.vault.public_key(investor.wallet.id))
    assert world.svc.ledger.address_for(public_key) == investor.wallet.address


@then(parsers.parse('"{name}" is rejected with reason "{reason}"'))
def is_rejected(world: World, name: str, reason: str) -> None:
    investor = world.investor(name)
    assert investor.kyc_status is KycStatus.REJECTED
    assert any(reason in r for r in investor.kyc_reasons), investor.kyc_reasons


@then(parsers.parse('"{name}" has no wallet and nothing on the ledger'))
def no_wallet(world: World, name: str) -> None:
    investor = world.investor(name)
    assert investor.wallet is None and investor.classification is None
    assert not investor.events


@then(parsers.parse('"{name}" was classified on the ledger exactly once'))
def classified_once(world: World, name: str) -> None:
    investor = world.investor(name)
    assert investor.classification_seq == 1

    async def events() -> list[Any]:
        async with world.svc.store.unit_of_work() as uow:
            return await uow.events.list(aggregate_id=investor.id, limit=1000)

    assert [e.name for e in world.run(events())].count("InvestorClassified") == 1


def _outbox_names(world: World, investor_id: str) -> list[str]:
    messages = world.run(world.svc.store.outbox.list(limit=1000))
    return [m.kind for m in messages if investor_id in (m.payload.get("aggregate_id"), m.payload.get("investor_id"))]


@then(parsers.parse('the frontend is told that "{name}" was {what}'))
def frontend_told(world: World, name: str, what: str) -> None:
    expected = {
        "classified": "InvestorClassified",
        "rejected": "KycRejected",
        "blocked": "InvestorBlocked",
        "unblocked": "InvestorUnblocked",
    }[what]
    assert expected in _outbox_names(world, world.investors[name])


@then(parsers.parse('the frontend is told that "{name}" must submit again'))
def frontend_told_retry(world: World, name: str) -> None:
    assert "KycProgressed" in _outbox_names(world, world.investors[name])
