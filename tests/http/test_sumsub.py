"""KYC with Sumsub end to end over HTTP: the Sumsub adapter against the local fake Sumsub API
(tests/support/sumsub_fake.py, which checks every request's signature), Sumsub's webhooks on
/webhooks/sumsub, the worker reading the verified applicant from the API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from drexfy.adapters.kyc import SumsubKyc
from drexfy.adapters.notify import RecordingNotifier
from drexfy.domain.model import KycStatus
from drexfy.entrypoints.config import load_settings
from drexfy.entrypoints.container import build_container
from drexfy.entrypoints.http import create_app
from drexfy.entrypoints.http.state import STATE
from drexfy.entrypoints.worker import Worker
from tests.http.conftest import Api, http_settings
from tests.support.sumsub_fake import FakeSumsub


@pytest.fixture
async def sumsub() -> AsyncIterator[FakeSumsub]:
    fake = FakeSumsub()
    await fake.start()
    yield fake
    await fake.close()


def _settings(tmp_path: Any, fake: FakeSumsub, secret_key: str) -> Any:
    return load_settings(
        env={},
        overrides={
            "data_dir": str(tmp_path),
            "ledger.kind": "memory",
            "kyc.kind": "sumsub",
            "kyc.sumsub.app_token": fake.app_token,
            "kyc.sumsub.secret_key": secret_key,
            "kyc.sumsub.level_name": "basic-kyc-level",
            "kyc.sumsub.api_base": fake.url,
        },
    )


async def _api(tmp_path: Any, fake: FakeSumsub, aiohttp_client: Any, secret_key: str) -> AsyncIterator[Api]:
    container = build_container(_settings(tmp_path, fake, secret_key))
    services = await container.services()
    assert isinstance(services.kyc, SumsubKyc)
    notifier = RecordingNotifier()
    settings = http_settings(kyc_webhook_secret=fake.webhook_secret)
    app = create_app(services, settings, notifier=notifier)
    client = await aiohttp_client(app)
    yield Api(client, notifier, Worker(app[STATE].services, notifier, settings.worker, app[STATE].metrics))
    await container.shutdown_resources()  # type: ignore[misc]


@pytest.fixture
async def api(tmp_path: Any, sumsub: FakeSumsub, aiohttp_client: Any) -> AsyncIterator[Api]:
    async for api in _api(tmp_path, sumsub, aiohttp_client, sumsub.secret_key):
        yield api


async def register(api: Api, email: str = "ana@example.com", country: str = "DE") -> str:
    status, inv = await api.call(
        "POST",
        "/api/v1/investors",
        "frontend",
        json={"legal_name": "Ana Test", "email": email, "country": country, "kind": "INDIVIDUAL"},
    )
    assert status == 201, inv
    return str(inv["id"])


async def start(api: Api, investor_id: str) -> dict[str, Any]:
    status, session = await api.call("POST", f"/api/v1/investors/{investor_id}/kyc", "frontend")
    assert status == 200, session
    return dict(session)


async def webhook(api: Api, fake: FakeSumsub, body: bytes, alg: str = "HMAC_SHA256_HEX") -> tuple[int, Any]:
    response = await api.client.post("/webhooks/sumsub", data=body, headers=fake.signed(body, alg))
    return response.status, await response.json(content_type=None)


async def investor(api: Api, investor_id: str) -> Any:
    async with api.svc.store.unit_of_work() as uow:
        return await uow.investors.get(investor_id)


async def test_starting_kyc_creates_one_applicant_and_hands_the_frontend_a_websdk_token(api, sumsub):
    investor_id = await register(api)
    first = await start(api, investor_id)
    again = await start(api, investor_id)  # the investor reloads the page: the same applicant (409 path)
    applicant = sumsub.applicant_of(investor_id)
    assert first["applicant_id"] == again["applicant_id"] == applicant["id"]
    assert applicant["levelName"] == "basic-kyc-level"
    assert first["access_token"].startswith("_act-") and first["url"].startswith("https://")
    assert len(sumsub.applicants) == 1 and sumsub.refused == 0
    # Sumsub's documented "Generate external WebSDK link": the level in the body, "-" in the path.
    assert sumsub.requests.count(("POST", "/resources/sdkIntegrations/levels/-/websdkLink")) == 2


async def test_the_fake_knows_only_the_documented_websdk_link_path(sumsub):
    import time

    import aiohttp

    from drexfy.adapters.kyc.sumsub import sign_request

    async def post(path: str, body: bytes) -> int:
        ts = str(int(time.time()))
        headers = {
            "X-App-Token": sumsub.app_token,
            "X-App-Access-Ts": ts,
            "X-App-Access-Sig": sign_request(sumsub.secret_key, ts, "POST", path, body),
            "Content-Type": "application/json",
        }
        async with aiohttp.ClientSession() as session, session.post(sumsub.url + path, data=body, headers=headers) as r:
            return r.status

    old = "/resources/sdkIntegrations/levels/basic-kyc-level/websdkLink?ttlInSecs=600&externalUserId=inv_1"
    assert await post(old, b"") == 404
    body = b'{"levelName":"basic-kyc-level","userId":"inv_1","ttlInSecs":600}'
    assert await post("/resources/sdkIntegrations/levels/-/websdkLink", body) == 200
    assert await post("/resources/sdkIntegrations/levels/-/websdkLink", b"{}") == 400


@pytest.mark.parametrize("alg", ["HMAC_SHA1_HEX", "HMAC_SHA256_HEX", "HMAC_SHA512_HEX"])
async def test_green_reads_the_verified_alpha3_country_and_questionnaire_from_the_api(api, sumsub, alg):
    investor_id = await register(api, country="FR")  # declared; Sumsub verified Germany
    session = await start(api, investor_id)
    sumsub.verify(session["applicant_id"], country="DEU", accredited=True)
    body = sumsub.review(session["applicant_id"], "GREEN")
    assert (await webhook(api, sumsub, body, alg))[0] == 202
    assert (await webhook(api, sumsub, body, alg))[1]["status"] == "duplicate"
    await api.drain()
    active = await investor(api, investor_id)
    assert active.kyc_status is KycStatus.ACTIVE
    assert active.classification.name == "EU_ACCREDITED"
    assert ("GET", f"/resources/applicants/{session['applicant_id']}/one") in sumsub.requests


async def test_a_retry_rejection_lets_the_investor_submit_again_and_a_later_green_activates(api, sumsub):
    investor_id = await register(api)
    session = await start(api, investor_id)
    status, _ = await webhook(
        api,
        sumsub,
        sumsub.review(session["applicant_id"], "RED", labels=("BAD_PROOF_OF_IDENTITY",), reject_type="RETRY"),
    )
    assert status == 202
    await api.drain()
    waiting = await investor(api, investor_id)
    assert (waiting.kyc_status, waiting.kyc_progress, waiting.kyc_reasons) == (
        KycStatus.PENDING_KYC,
        "RETRY",
        ("BAD_PROOF_OF_IDENTITY",),
    )
    again = await start(api, investor_id)  # a new WebSDK token for the same applicant
    assert again["applicant_id"] == session["applicant_id"]
    sumsub.verify(session["applicant_id"], country="DEU")
    await webhook(api, sumsub, sumsub.review(session["applicant_id"], "GREEN"))
    await api.drain()
    active = await investor(api, investor_id)
    assert (active.kyc_status, active.classification.name) == (KycStatus.ACTIVE, "EU_NON_ACCREDITED")


async def test_a_final_rejection_rejects_and_a_pending_review_is_tracked(api, sumsub):
    investor_id = await register(api)
    session = await start(api, investor_id)
    await webhook(api, sumsub, sumsub.pending(session["applicant_id"]))
    await api.drain()
    assert (await investor(api, investor_id)).kyc_progress == "PENDING"
    await webhook(api, sumsub, sumsub.review(session["applicant_id"], "RED", labels=("FORGERY",), reject_type="FINAL"))
    await api.drain()
    rejected = await investor(api, investor_id)
    assert (rejected.kyc_status, rejected.kyc_reasons) == (KycStatus.REJECTED, ("FORGERY",))


@pytest.mark.parametrize(
    ("kind", "progress"),
    [("applicantPending", "PENDING"), ("applicantOnHold", "ON_HOLD"), ("applicantReset", "RESET")],
)
async def test_each_review_progress_is_tracked_and_changes_nothing_else(api, sumsub, kind, progress):
    investor_id = await register(api)
    session = await start(api, investor_id)
    status, _ = await webhook(api, sumsub, sumsub.progress(session["applicant_id"], kind))
    assert status == 202
    await api.drain()
    seen = await investor(api, investor_id)
    assert (seen.kyc_status, seen.kyc_progress, seen.wallet) == (KycStatus.PENDING_KYC, progress, None)


async def test_a_recheck_with_a_sanctions_label_becomes_an_aml_alert_that_blocks_an_active_investor(api, sumsub):
    investor_id = await register(api)
    session = await start(api, investor_id)
    sumsub.verify(session["applicant_id"], country="DEU")
    await webhook(api, sumsub, sumsub.review(session["applicant_id"], "GREEN"))
    await api.drain()
    await webhook(
        api, sumsub, sumsub.review(session["applicant_id"], "RED", labels=("SANCTIONS",), reject_type="FINAL")
    )
    await api.drain()
    blocked = await investor(api, investor_id)
    assert blocked.is_blocked and "SANCTIONS" in (blocked.blocked_reason or "")
    # An alert under review freezes neutrally; SANCTIONED on chain waits for an officer's confirmation.
    assert blocked.classification.name != "SANCTIONED"


async def test_a_webhook_with_a_bad_digest_or_an_unknown_algorithm_is_refused(api, sumsub):
    investor_id = await register(api)
    session = await start(api, investor_id)
    body = sumsub.review(session["applicant_id"], "GREEN")
    headers = sumsub.signed(body)
    headers["X-Payload-Digest"] = "0" * 64
    assert (await api.client.post("/webhooks/sumsub", data=body, headers=headers)).status == 401
    headers = sumsub.signed(body) | {"X-Payload-Digest-Alg": "HMAC_MD5_HEX"}
    assert (await api.client.post("/webhooks/sumsub", data=body, headers=headers)).status == 401
    assert await api.svc.store.inbox.list() == []


async def test_requests_signed_with_the_wrong_secret_are_refused_by_sumsub_and_write_nothing(
    tmp_path, sumsub, aiohttp_client
):
    async for api in _api(tmp_path, sumsub, aiohttp_client, "not-the-secret-key"):
        investor_id = await register(api)
        status, problem = await api.call("POST", f"/api/v1/investors/{investor_id}/kyc", "frontend")
        assert status == 502 and "not-the-secret-key" not in str(problem)
        assert sumsub.refused == 1 and sumsub.applicants == {}
        assert (await investor(api, investor_id)).applicant_id is None
