"""The KYC provider's applicant events (Sumsub: applicantReviewed, applicantPending,
applicantOnHold, applicantReset) while onboarding and after it.

- GREEN: the verified applicant is read from the provider (`KycProvider.verified_result`: country,
  date of birth, accreditation, screening) and goes through `handle_kyc_result`; nothing the webhook
  itself claims is used for the classification.
- RED with `RETRY`: the investor stays PENDING_KYC and may submit again (`start_kyc` gives a new
  SDK token); the reasons say what to fix, compliance labels left out (no tipping-off).
- RED with `FINAL`: rejected, except a sanctions hit, which is classified SANCTIONED and blocked as
  every sanctions hit is (the verified result is read for it).
- Pending, on hold, reset: recorded as the review's progress.
- After onboarding (ongoing monitoring re-checks): a RED carrying sanctions, PEP or adverse-media
  labels becomes an AML alert (blocked at once, compliance decides); other re-check news changes
  nothing.
"""

from __future__ import annotations

from drexfy.domain.model import Investor, KycStatus
from drexfy.domain.ports import UnitOfWork
from drexfy.domain.processes.base import Services, in_uow
from drexfy.domain.processes.compliance import handle_aml_alert
from drexfy.domain.processes.registration import handle_kyc_result
from drexfy.domain.provider_events import AmlAlert, KycResult, KycReview, KycReviewKind

#: Sumsub's rejection labels that are compliance findings, not document problems. They are for
#: compliance officers only: never shown to the investor, and on a re-check they raise an AML alert.
COMPLIANCE_LABELS = frozenset(
    {
        "SANCTIONS",
        "PEP",
        "ADVERSE_MEDIA",
        "CRIMINAL",
        "COMPROMISED_PERSONS",
        "BLACKLIST",
        "BLOCKLIST",
        "FRAUDULENT_PATTERNS",
        "FRAUDULENT_LIVENESS",
        "AML_INCONSISTENT_DATA",
    }
)


async def handle_kyc_review(svc: Services, review: KycReview) -> Investor:
    async with svc.store.unit_of_work() as uow:
        investor = await uow.investors.get_by_applicant(review.applicant_id)
    findings = tuple(sorted(set(review.reject_labels) & COMPLIANCE_LABELS))
    if investor.kyc_status is not KycStatus.PENDING_KYC:
        if review.kind is KycReviewKind.REVIEWED and review.answer == "RED" and findings:
            alert = AmlAlert(
                alert_id=f"kyc-recheck:{review.event_key}",
                applicant_id=review.applicant_id,
                investor_id=None,
                flagged=True,
                reason="KYC provider re-check: " + ", ".join(findings),
            )
            return await handle_aml_alert(svc, alert)
        return investor  # a redelivery, or re-check news that changes nothing
    if review.kind is not KycReviewKind.REVIEWED:
        return await _progress(svc, investor.id, review.kind.value, ())
    if review.answer == "GREEN" or "SANCTIONS" in findings:
        return await handle_kyc_result(svc, await svc.kyc.verified_result(review))
    if review.reject_type == "RETRY":
        fixable = tuple(label for label in review.reject_labels if label not in COMPLIANCE_LABELS)
        return await _progress(svc, investor.id, "RETRY", fixable or ("please submit your documents again",))
    return await handle_kyc_result(
        svc, KycResult(review.applicant_id, approved=False, reject_labels=review.reject_labels or ("rejected",))
    )


async def _progress(svc: Services, investor_id: str, progress: str, reasons: tuple[str, ...]) -> Investor:
    async def work(uow: UnitOfWork) -> Investor:
        investor = await uow.investors.get(investor_id)
        if investor.kyc_status is KycStatus.PENDING_KYC and (investor.kyc_progress, investor.kyc_reasons) != (
            progress,
            reasons,
        ):
            investor.kyc_progressed(progress, reasons, svc.clock.now())
            await uow.investors.save(investor)
        return investor

    return await in_uow(svc, work)
