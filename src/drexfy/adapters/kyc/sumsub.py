"""KycProvider over Sumsub's REST API (aiohttp), signed as Sumsub documents it.

Every request carries `X-App-Token` (the app token), `X-App-Access-Ts` (unix seconds) and
`X-App-Access-Sig`: the hex HMAC-SHA256, with the secret key, of ts + METHOD + path with query +
body. Sumsub's API is small and has no kept async Python client, so the few calls are written here.

- `start_verification`: creates the applicant (`POST /resources/applicants?levelName=`, external
  user id = the investor id; a 409 means it exists: it is read back by external user id), then a
  WebSDK access token (`POST /resources/accessTokens/sdk`) and a WebSDK link for the frontend.
- `verified_result`: `GET /resources/applicants/{id}/one`: the country Sumsub extracted from the
  identity document (`info.country`, alpha-3 -> alpha-2), the date of birth (`info.dob`), the
  accreditation questionnaire answer, and the screening labels of Sumsub's own review.
- Errors: unreachable or 5xx/429 -> ProviderError (transient; the worker retries); another 4xx ->
  ProviderError too, with Sumsub's description and never our keys or the applicant's data.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from datetime import date
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
import attrs
import yarl

from drexfy.adapters.webhooks.payloads import alpha2
from drexfy.domain.errors import ConfigurationError, InvalidWebhook, ProviderError
from drexfy.domain.model import Investor
from drexfy.domain.ports import KycSession
from drexfy.domain.provider_events import KycResult, KycReview

DEFAULT_API = "https://api.sumsub.com"
_TRUE = frozenset({"yes", "true", "1", "accredited"})


@attrs.frozen
class SumsubConfig:
    """`kyc.sumsub.*`."""

    app_token: str = attrs.field(repr=False)
    secret_key: str = attrs.field(repr=False)
    level_name: str
    api_base: str = DEFAULT_API
    #: `questionnaire.section.item` of the answer that says the investor is accredited.
    accreditation_item: str = "accreditation.status.accredited"
    token_ttl_s: int = 1800
    timeout_s: float = 30.0

    def __attrs_post_init__(self) -> None:
        for name in ("app_token", "secret_key", "level_name"):
            if not getattr(self, name):
                raise ConfigurationError(f"kyc.sumsub.{name}: required when kyc.kind = sumsub")
        if len(self.accreditation_item.split(".")) != 3:
            raise ConfigurationError("kyc.sumsub.accreditation_item: expected questionnaire.section.item")
        if not 60 <= self.token_ttl_s <= 86400:
            raise ConfigurationError("kyc.sumsub.token_ttl_s: expected 60 to 86400 seconds")


def sign_request(secret: str, ts: str, method: str, path_with_query: str, body: bytes) -> str:
    """Sumsub's X-App-Access-Sig."""
    message = ts.encode() + method.upper().encode() + path_with_query.encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


class SumsubKyc:
    """KycProvider for `kyc.kind = "sumsub"`."""

    kind = "sumsub"

    def __init__(self, config: SumsubConfig, *, wall_clock: Callable[[], float] = time.time) -> None:
        self._config = config
        self._now = wall_clock
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def start_verification(self, investor: Investor) -> KycSession:
        level = self._config.level_name
        created = await self._request(
            "POST",
            f"/resources/applicants?{urlencode({'levelName': level})}",
            {"externalUserId": investor.id},
            conflict_ok=True,
        )
        if created is None:  # 409: the applicant exists (a retry, or KYC started again)
            created = await self._request("GET", f"/resources/applicants/-;externalUserId={quote(investor.id)}/one")
        applicant_id = _field(created, "id")
        token = await self._request(
            "POST",
            "/resources/accessTokens/sdk",
            {"userId": investor.id, "levelName": level, "ttlInSecs": self._config.token_ttl_s},
        )
        # "Generate external WebSDK link" (docs.sumsub.com/reference/generate-websdk-external-link):
        # the level goes in the body, the path names none ("-").
        link = await self._request(
            "POST",
            "/resources/sdkIntegrations/levels/-/websdkLink",
            {"levelName": level, "userId": investor.id, "ttlInSecs": self._config.token_ttl_s},
        )
        return KycSession(applicant_id, _field(link, "url"), access_token=_field(token, "token"))

    async def verified_result(self, review: KycReview) -> KycResult:
        applicant = await self._request("GET", f"/resources/applicants/{quote(review.applicant_id)}/one")
        info = applicant.get("info") if isinstance(applicant.get("info"), dict) else {}
        verdict = (applicant.get("review") or {}).get("reviewResult") or {}
        labels = tuple(str(x) for x in verdict.get("rejectLabels") or () if isinstance(x, str))
        try:
            country = alpha2(info.get("country"), "applicant info.country")
        except InvalidWebhook as bad:
            raise ProviderError(f"sumsub: {bad.message}") from None
        return KycResult(
            applicant_id=review.applicant_id,
            approved=verdict.get("reviewAnswer") == "GREEN",
            verified_country=country,
            accreditation_verified=self._accredited(applicant),
            sanctions_hit="SANCTIONS" in labels,
            pep="PEP" in labels,
            reject_labels=labels,
            date_of_birth=_date(info.get("dob")),
        )

    def _accredited(self, applicant: dict[str, Any]) -> bool:
        questionnaire, section, item = self._config.accreditation_item.split(".")
        for entry in applicant.get("questionnaires") or ():
            if isinstance(entry, dict) and entry.get("id") == questionnaire:
                answer = (((entry.get("sections") or {}).get(section) or {}).get("items") or {}).get(item) or {}
                value = answer.get("value") if isinstance(answer, dict) else None
                return isinstance(value, str) and value.strip().lower() in _TRUE
        return False

    async def _request(
        self, method: str, path: str, payload: dict[str, Any] | None = None, *, conflict_ok: bool = False
    ) -> Any:
        body = b"" if payload is None else json.dumps(payload, separators=(",", ":")).encode()
        ts = str(int(self._now()))
        headers = {
            "Accept": "application/json",
            "X-App-Token": self._config.app_token,
            "X-App-Access-Ts": ts,
            "X-App-Access-Sig": sign_request(self._config.secret_key, ts, method, path, body),
        }
        if payload is not None:
            headers["Content-Type"] = "application/json"
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._config.timeout_s))
        url = yarl.URL(self._config.api_base.rstrip("/") + path, encoded=True)  # sign what is sent
        try:
            async with self._session.request(method, url, data=body or None, headers=headers) as response:
                text = await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ProviderError(f"sumsub unreachable: {type(exc).__name__}") from None
        if status == 409 and conflict_ok:
            return None
        if status >= 400:
            raise ProviderError(f"sumsub answered {status} to {method} {path.split('?')[0]}: {_description(text)}")
        try:
            data = json.loads(text)
        except ValueError:
            raise ProviderError("sumsub answered something that is not JSON") from None
        if not isinstance(data, dict):
            raise ProviderError("sumsub answered something that is not a JSON object")
        return data


def _field(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise ProviderError(f"sumsub answer lacks {name!r}")
    return value


def _date(value: object) -> date | None:
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _description(text: bytes) -> str:
    try:
        data = json.loads(text)
    except ValueError:
        return "no description"
    description = data.get("description") if isinstance(data, dict) else None
    return str(description)[:200] if description else "no description"
