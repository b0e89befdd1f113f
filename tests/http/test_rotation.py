"""Secret rotation: while an operator moves the API's token key or a provider's webhook secret to a
new value, the previous one is still accepted (never used to sign); once it is removed from the
configuration it is refused like any wrong key."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from drexfy.adapters.notify import RecordingNotifier
from drexfy.adapters.webhooks import sandbox
from drexfy.adapters.webhooks.signatures import SignatureError, sign_digest, verify_digest, verify_stripe
from drexfy.entrypoints.config import load_settings
from drexfy.entrypoints.http import create_app
from drexfy.entrypoints.http.auth import Role, issue_token
from drexfy.entrypoints.runtime import settings as runtime_settings
from tests.http.conftest import JWT_SECRET, KYC_SECRET, STRIPE_SECRET, http_settings

OLD_JWT = "the-previous-token-key-of-32-bytes!"
OLD_KYC = "the-previous-kyc-secret"
OLD_STRIPE = "whsec_the_previous_endpoint_secret"


async def _client(services, aiohttp_client, **previous):
    return await aiohttp_client(create_app(services, http_settings(**previous), notifier=RecordingNotifier()))


async def test_a_token_signed_with_the_previous_key_is_accepted_only_during_the_rotation(services, aiohttp_client):
    old_token = issue_token(OLD_JWT, Role.ADMIN)
    rotating = await _client(services, aiohttp_client, jwt_previous_secrets=(OLD_JWT,))
    response = await rotating.get("/api/v1/instruments", headers={"Authorization": f"Bearer {old_token}"})
    assert response.status == 200
    new_token = issue_token(JWT_SECRET, Role.ADMIN)
    response = await rotating.get("/api/v1/instruments", headers={"Authorization": f"Bearer {new_token}"})
    assert response.status == 200

    rotated = await _client(services, aiohttp_client)  # the rotation is over: the old key is gone
    response = await rotated.get("/api/v1/instruments", headers={"Authorization": f"Bearer {old_token}"})
    assert response.status == 401 and (await response.json())["type"].endswith("/invalid-token")


async def test_webhooks_signed_with_the_previous_secret_are_accepted_only_during_the_rotation(services, aiohttp_client):
    kyc = sandbox.kyc_review("app_rot", country="DE")
    payment = sandbox.stripe_event("evt_rot", "payment_intent.succeeded", order_id="ord_x", amount_minor=100)
    rotating = await _client(
        services, aiohttp_client, kyc_previous_secrets=(OLD_KYC,), payments_previous_secrets=(OLD_STRIPE,)
    )
    response = await rotating.post("/webhooks/kyc", data=kyc, headers=sandbox.digest_headers(kyc, OLD_KYC))
    assert response.status == 202
    response = await rotating.post(
        "/webhooks/payments", data=payment, headers=sandbox.stripe_headers(payment, OLD_STRIPE)
    )
    assert response.status == 202
    # AML shares the KYC provider's secret (and its previous one) unless it has its own.
    aml = sandbox.aml_alert("aml_rot", applicant_id="app_rot", reason="flag")
    response = await rotating.post("/webhooks/aml", data=aml, headers=sandbox.digest_headers(aml, OLD_KYC))
    assert response.status == 202

    rotated = await _client(services, aiohttp_client)
    for path, body, headers in (
        ("/webhooks/kyc", kyc, sandbox.digest_headers(kyc, OLD_KYC)),
        ("/webhooks/payments", payment, sandbox.stripe_headers(payment, OLD_STRIPE)),
    ):
        response = await rotated.post(path, data=body, headers=headers)
        assert response.status == 401, path


def test_verifiers_accept_any_listed_secret_and_report_the_refusal_that_says_most():
    body = b'{"x": 1}'
    verify_digest(body, sign_digest(body, OLD_KYC), None, [KYC_SECRET, OLD_KYC])
    with pytest.raises(SignatureError, match="does not match"):
        verify_digest(body, sign_digest(body, "someone-else"), None, [KYC_SECRET, OLD_KYC])
    with pytest.raises(SignatureError, match="no webhook secret"):
        verify_digest(body, sign_digest(body, OLD_KYC), None, ["", OLD_KYC])  # no current secret: refused
    header = sandbox.stripe_headers(body, OLD_STRIPE)["Stripe-Signature"]
    verify_stripe(body, header, [STRIPE_SECRET, OLD_STRIPE])
    stale = sandbox.stripe_headers(body, OLD_STRIPE, timestamp=1_000_000)["Stripe-Signature"]
    with pytest.raises(SignatureError, match="Timestamp outside the tolerance zone"):
        verify_stripe(body, stale, [STRIPE_SECRET, OLD_STRIPE])  # a rotation never widens the window


def test_previous_secrets_come_from_the_configuration_and_are_never_printed(tmp_path):
    env = {
        "DREXFY_DATA_DIR": str(tmp_path),
        "DREXFY_HTTP__JWT_PREVIOUS_SECRETS": f" {OLD_JWT} , another-old-key ",
        "DREXFY_HTTP__STRIPE_WEBHOOK_PREVIOUS_SECRETS": OLD_STRIPE,
    }
    http = runtime_settings.build_http_settings(load_settings(env=env))
    assert http.jwt_previous_secrets == (OLD_JWT, "another-old-key")
    assert http.payments_secrets == (http.payments_webhook_secret, OLD_STRIPE)
    assert http.kyc_previous_secrets == ()
    shown = subprocess.run(
        [sys.executable, "-m", "drexfy.entrypoints.cli", "config"],
        env={**env, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    printed = json.loads(shown)["http"]
    assert printed["jwt_previous_secrets"] == printed["stripe_webhook_previous_secrets"] == "***"
    assert OLD_JWT not in shown and OLD_STRIPE not in shown
