"""Registration and KYC: an investor registers, is verified, and (approved) gets a custodial
wallet and an on-chain classification."""

from __future__ import annotations

import re

import attrs

from drexfy.domain import events as ev
from drexfy.domain.bounds import check_text
from drexfy.domain.classification import Classification, classify
from drexfy.domain.errors import ClassificationRefused, DuplicateEntity, IllegalTransition, ValidationFailed
from drexfy.domain.model import Investor, InvestorKind, KycStatus
from drexfy.domain.ports import KycSession, UnitOfWork
from drexfy.domain.processes.base import Services, in_uow
from drexfy.domain.processes.compliance import ensure_wallet, record_classification_on_chain, set_wallet_frozen
from drexfy.domain.provider_events import KycResult

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")


@attrs.frozen
class RegisterInvestor:
    legal_name: str
    email: str
    country: str
    kind: InvestorKind
    declared_accredited: bool = False
    auto_cashout: bool = False


async def register_investor(svc: Services, cmd: RegisterInvestor) -> Investor:
    """Register an investor in PENDING_KYC. The declared status is kept but never trusted."""
    check_text(cmd.legal_name, "legal_name")
    check_text(cmd.email, "email", max_length=254)
    check_text(cmd.country, "country")
    name = cmd.legal_name.strip()
    email = cmd.email.strip().lower()
    country = cmd.country.strip().upper()
    if not name:
        raise ValidationFailed("legal_name must not be empty")
    if not _EMAIL.match(email):
        raise ValidationFailed("email is not a valid e-mail address")
    if not _COUNTRY.match(country):
        raise ValidationFailed("country must be an ISO 3166-1 alpha-2 code such as 'DE'")

    async def work(uow: UnitOfWork) -> Investor:
        existing = await uow.investors.get_by_email(email)
        if existing is not None:
            raise DuplicateEntity("an investor with this e-mail is already registered", existing_id=existing.id)
        now = svc.clock.now()
        investor = Investor(
            id=svc.ids.new("inv"),
            legal_name=name,
            email=email,
            country=country,
            kind=cmd.kind,
            declared_accredited=cmd.declared_accredited,
            created_at=now,
            auto_cashout=cmd.auto_cashout,
        )
        investor.events.append(ev.InvestorRegistered(investor.id, now, country, cmd.kind.value))
        await uow.investors.add(investor)
        return investor

    return await in_uow(svc, work)


async def start_kyc(svc: Services, investor_id: str) -> KycSession:
    """Start (or resume) the investor's verification with the KYC provider."""
    async with svc.store.unit_of_work() as uow:
        investor = await uow.investors.get(investor_id)
    if investor.kyc_status is not KycStatus.PENDING_KYC:
        raise IllegalTransition(f"KYC already finished for this investor ({investor.kyc_status.value})")
    session = await svc.kyc.start_verification(investor)

    async def work(uow: UnitOfWork) -> None:
        fresh = await uow.investors.get(investor_id)
        if fresh.applicant_id != session.applicant_id:
            fresh.start_kyc(session.applicant_id, svc.clock.now())
            await uow.investors.save(fresh)

    await in_uow(svc, work)
    return session


async def handle_kyc_result(svc: Services, result: KycResult) -> Investor:
    """Turn a verified KYC result into a rejected investor, or an active one with a custodial wallet,
    an activated ledger account and an on-chain classification. Safe to run again."""

    async def decide(uow: UnitOfWork) -> tuple[Investor, Classification | None]:
        investor = await uow.investors.get_by_applicant(result.applicant_id)
        if investor.kyc_status is not KycStatus.PENDING_KYC:
            return investor, investor.classification  # already decided: a duplicate or a retry
        if investor.classification is not None:
            return investor, investor.classification  # classified on chain, activation pending
        if not result.approved and not result.sanctions_hit:
            investor.reject_kyc(result.reject_labels or ("rejected by the KYC provider",), svc.clock.now())
            await uow.investors.save(investor)
            return investor, None
        try:
            return investor, classify(result, svc.settings.region_overrides)
        except ClassificationRefused as refused:
            investor.reject_kyc((refused.message,), svc.clock.now())
            await uow.investors.save(investor)
            return investor, None

    investor, classification = await in_uow(svc, decide)
    if classification is None or investor.kyc_status is not KycStatus.PENDING_KYC:
        return investor

    wallet = await ensure_wallet(svc, investor)
    if not investor.wallet_activated:
        activated = await svc.ledger.activate_wallet(f"activate:{investor.id}", wallet)

        async def mark_activated(uow: UnitOfWork) -> Investor:
            fresh = await uow.investors.get(investor.id)
            fresh.mark_wallet_activated(activated.tx_ids, svc.clock.now())
            await uow.investors.save(fresh)
            return fresh

        investor = await in_uow(svc, mark_activated)

    if investor.classification is None:
        investor = await record_classification_on_chain(svc, investor, classification)

    async def activate(uow: UnitOfWork) -> Investor:
        fresh = await uow.investors.get(investor.id)
        if fresh.kyc_status is KycStatus.PENDING_KYC:
            fresh.activate(svc.clock.now())
            if fresh.classification is Classification.SANCTIONED:
                fresh.block("sanctions screening hit at onboarding", "kyc", svc.clock.now())
            await uow.investors.save(fresh)
        return fresh

    investor = await in_uow(svc, activate)
    if investor.is_blocked and investor.wallet is not None:
        await set_wallet_frozen(svc, investor, frozen=True)
    return investor
