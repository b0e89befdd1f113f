"""A local fake of Sumsub's REST API and webhooks, following Sumsub's public API reference. The
Sumsub adapter talks to it over HTTP; started by the tests, not shipped.

- Every request must be signed: `X-App-Token` (the app token), `X-App-Access-Ts` (unix seconds,
  within a minute of now), `X-App-Access-Sig` = hex HMAC-SHA256(secret key, ts + METHOD + path with
  query + body). Anything else is a 401 `{"description", "code", "correlationId"}`.
- `POST /resources/applicants?levelName=` (`externalUserId` unique: 409 when it exists),
  `GET /resources/applicants/{id}/one`, `GET /resources/applicants/-;externalUserId={id}/one`,
  `POST /resources/accessTokens/sdk`, `POST /resources/sdkIntegrations/levels/-/websdkLink` (the
  level and the user in the JSON body, as "Generate external WebSDK link" documents it; any other
  path is a 404).
- Test hooks: `verify` (what Sumsub extracted from the document and the questionnaire), `review`
  (Sumsub's decision, returning the webhook body Sumsub would send), `pending`, `reset`, and
  `signed(body, alg)` for the X-Payload-Digest headers.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from typing import Any

import attrs
from aiohttp import web
from aiohttp.test_utils import TestServer

_ALGS = {"HMAC_SHA1_HEX": hashlib.sha1, "HMAC_SHA256_HEX": hashlib.sha256, "HMAC_SHA512_HEX": hashlib.sha512}


def _error(status: int, description: str) -> web.Response:
    body = {"description": description, "code": status, "correlationId": "req-" + secrets.token_hex(8)}
    return web.json_response(body, status=status)


@attrs.define
class FakeSumsub:
    app_token: str = "sbx:fake-app-token"
    secret_key: str = "fake-secret-key"
    webhook_secret: str = "fake-webhook-secret"
    applicants: dict[str, dict[str, Any]] = attrs.field(factory=dict)
    requests: list[tuple[str, str]] = attrs.field(factory=list)
    refused: int = 0
    server: TestServer | None = None

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/resources/{path:.*}", self._handle)
        self.server = TestServer(app, host="127.0.0.1")
        await self.server.start_server()
        return self.url

    @property
    def url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("")).rstrip("/")

    async def close(self) -> None:
        if self.server is not None:
            await self.server.close()

    # -- HTTP -------------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        path_qs = request.raw_path
        self.requests.append((request.method, path_qs))
        ts = request.headers.get("X-App-Access-Ts", "")
        expected = hmac.new(
            self.secret_key.encode(), ts.encode() + request.method.encode() + path_qs.encode() + body, hashlib.sha256
        ).hexdigest()
        if (
            request.headers.get("X-App-Token") != self.app_token
            or not ts.isdigit()
            or abs(int(ts) - time.time()) > 60
            or not hmac.compare_digest(request.headers.get("X-App-Access-Sig", ""), expected)
        ):
            self.refused += 1
            return _error(401, "Request signature mismatch")
        parts = request.match_info["path"].split("/")
        payload: dict[str, Any] = json.loads(body) if body else {}
        if request.method == "POST" and parts == ["applicants"]:
            return self._create(payload, request.query.get("levelName"))
        if request.method == "GET" and len(parts) == 3 and parts[0] == "applicants" and parts[2] == "one":
            return self._get(parts[1])
        if request.method == "POST" and parts == ["accessTokens", "sdk"]:
            if not payload.get("userId") or not payload.get("levelName"):
                return _error(400, "userId and levelName are required")
            return web.json_response({"token": "_act-sbx-" + secrets.token_hex(16), "userId": payload["userId"]})
        if request.method == "POST" and parts == ["sdkIntegrations", "levels", "-", "websdkLink"]:
            if not payload.get("levelName") or not payload.get("userId"):
                return _error(400, "levelName and userId are required")
            return web.json_response({"url": f"https://in.sumsub.test/websdk/p/sbx_{secrets.token_hex(8)}"})
        return _error(404, "Not found")

    def _create(self, payload: dict[str, Any], level: str | None) -> web.Response:
        external = payload.get("externalUserId")
        if not level or not external:
            return _error(400, "levelName and externalUserId are required")
        for applicant in self.applicants.values():
            if applicant["externalUserId"] == external:
                return _error(409, f"Applicant with external user id '{external}' already exists: {applicant['id']}")
        ident = secrets.token_hex(12)
        self.applicants[ident] = {
            "id": ident,
            "createdAt": time.strftime("%Y-%m-%d %H:%M:%S"),
            "externalUserId": external,
            "levelName": level,
            "info": {},
            "review": {"reviewStatus": "init"},
            "questionnaires": [],
        }
        return web.json_response(self.applicants[ident])

    def _get(self, ref: str) -> web.Response:
        if ref.startswith("-;externalUserId="):
            external = ref.split("=", 1)[1]
            found = [a for a in self.applicants.values() if a["externalUserId"] == external]
            return web.json_response(found[0]) if found else _error(404, "Applicant not found")
        if ref not in self.applicants:
            return _error(404, "Applicant not found")
        return web.json_response(self.applicants[ref])

    # -- test hooks: what the applicant and Sumsub do --------------------------------------------------

    def applicant_of(self, investor_id: str) -> dict[str, Any]:
        return next(a for a in self.applicants.values() if a["externalUserId"] == investor_id)

    def verify(
        self, applicant_id: str, *, country: str = "DEU", dob: str = "1984-04-02", accredited: bool = False
    ) -> None:
        applicant = self.applicants[applicant_id]
        applicant["info"] = {"firstName": "Ana", "lastName": "Test", "dob": dob, "country": country}
        applicant["questionnaires"] = [
            {
                "id": "accreditation",
                "sections": {"status": {"items": {"accredited": {"value": "yes" if accredited else "no"}}}},
            }
        ]

    def review(
        self, applicant_id: str, answer: str, *, labels: tuple[str, ...] = (), reject_type: str | None = None
    ) -> bytes:
        result: dict[str, Any] = {"reviewAnswer": answer, "rejectLabels": list(labels)}
        if answer == "RED":
            result["reviewRejectType"] = reject_type or "FINAL"
            result["moderationComment"] = "Please upload a readable document."
        applicant = self.applicants[applicant_id]
        applicant["review"] = {"reviewStatus": "completed", "reviewResult": result}
        return self._webhook("applicantReviewed", applicant, reviewResult=result, reviewStatus="completed")

    def pending(self, applicant_id: str) -> bytes:
        return self._webhook("applicantPending", self.applicants[applicant_id], reviewStatus="pending")

    def progress(self, applicant_id: str, kind: str) -> bytes:
        """applicantPending, applicantOnHold or applicantReset (Sumsub's review statuses for them)."""
        status = {"applicantPending": "pending", "applicantOnHold": "onHold", "applicantReset": "init"}[kind]
        return self._webhook(kind, self.applicants[applicant_id], reviewStatus=status)

    def _webhook(self, kind: str, applicant: dict[str, Any], **extra: Any) -> bytes:
        body = {
            "applicantId": applicant["id"],
            "inspectionId": secrets.token_hex(12),
            "correlationId": "req-" + secrets.token_hex(12),
            "externalUserId": applicant["externalUserId"],
            "levelName": applicant["levelName"],
            "type": kind,
            "sandboxMode": True,
            "createdAtMs": time.strftime("%Y-%m-%d %H:%M:%S.000"),
            **extra,
        }
        return json.dumps(body).encode()

    def signed(self, body: bytes, alg: str = "HMAC_SHA256_HEX") -> dict[str, str]:
        digest = hmac.new(self.webhook_secret.encode(), body, _ALGS[alg]).hexdigest()
        return {"Content-Type": "application/json", "X-Payload-Digest": digest, "X-Payload-Digest-Alg": alg}
