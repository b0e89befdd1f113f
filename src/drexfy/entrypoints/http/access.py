"""Who is calling and how often: bearer tokens (ours, HS256, or the OpenID Connect provider's),
revocation, and rate limits. One `AccessControl` per app (in `AppState.access`).

Rate limits (token buckets per process, or fixed windows shared through the store with
`rate_limits.kind = "store"`; see ratelimit.py): every `/api/v1` request counts against its client
address (behind a load balancer: the address it appended to X-Forwarded-For, for the proxies in
`rate_limits.trusted_proxies`) and, once authenticated, against its token id; provider webhooks count against their
address in a separate, generous bucket; sign-in attempts against a small one per address. A
refusal is `429 rate-limited` (problem+json) with `Retry-After`, counted in
`drexfy_http_requests_total{status="429"}` and, for webhooks, `drexfy_webhooks_rejected_total{reason="rate-limited"}`.
"""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network, ip_address

import jwt
from aiohttp import web

from drexfy.domain.ports import AccessRecords
from drexfy.entrypoints.http.auth import Principal, authenticate
from drexfy.entrypoints.http.oidc import ASYMMETRIC, OidcVerifier
from drexfy.entrypoints.http.problems import Problem
from drexfy.entrypoints.http.ratelimit import Limiter, SharedWindows, TokenBuckets, retry_after_seconds
from drexfy.entrypoints.identity.tokens import RevocationCheck
from drexfy.entrypoints.runtime.access import Bucket, RateLimits
from drexfy.entrypoints.runtime.metrics import Metrics
from drexfy.entrypoints.runtime.settings import HttpSettings


class AccessControl:
    def __init__(self, settings: HttpSettings, access: AccessRecords, metrics: Metrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.oidc = OidcVerifier(settings.access.oidc) if settings.access.oidc else None
        self.revoked = RevocationCheck(access)
        limits = settings.access.rate_limits
        self.limits_on = limits.enabled
        self.by_token = _limiter(limits, "token", access)
        self.by_address = _limiter(limits, "address", access)
        self.webhooks = _limiter(limits, "webhook", access)
        self.sign_ins = _limiter(limits, "sign_in", access)
        self.proxies = limits.trusted_proxies

    def client(self, request: web.Request) -> str:
        """The client's address: the peer's, or, when the peer is a trusted proxy, the last address
        in X-Forwarded-For that is not one of ours (what a client writes there itself comes before
        what the proxies appended, so it can only name a hop, never pick its own bucket)."""
        peer = request.remote or "-"
        if not self.proxies or not _trusted(peer, self.proxies):
            return peer
        hops = [h.strip() for v in request.headers.getall("X-Forwarded-For", []) for h in v.split(",") if h.strip()]
        for hop in reversed(hops):
            if not _trusted(hop, self.proxies):
                return hop[:64]
        return peer

    async def authenticate(self, request: web.Request) -> Principal:
        """The caller of an API request, or Problem 401 (a revoked token: `token-revoked`)."""
        header = request.headers.get("Authorization")
        s = self.settings
        if self.oidc is not None and header:
            scheme, _, token = header.partition(" ")
            if scheme.lower() == "bearer" and _algorithm(token.strip()) in ASYMMETRIC:
                principal = await self.oidc.verify(token.strip(), request.headers.get("X-Drexfy-Role"))
                return await self._not_revoked(principal)
        principal = authenticate(header, s.jwt_secrets, issuer=s.jwt_issuer, audience=s.jwt_audience)
        return await self._not_revoked(principal)

    async def _not_revoked(self, principal: Principal) -> Principal:
        if principal.token_id and await self.revoked(principal.token_id):
            raise Problem(401, "token-revoked", "the bearer token has been revoked", www_authenticate=True)
        return principal

    # -- rate limits ----------------------------------------------------------------------------

    async def limit_request(self, request: web.Request) -> None:
        """Before anything else: the client address's bucket for its kind of route."""
        if not self.limits_on:
            return
        path = request.path
        if path.startswith("/webhooks/"):
            wait = await self.webhooks.acquire(self.client(request))
            if wait:
                self.metrics.webhooks_rejected.inc(source=path.rsplit("/", 1)[-1], reason="rate-limited")
                raise _too_many(wait, "webhooks from this address")
        elif path.startswith("/api/v1/"):
            wait = await self.by_address.acquire(self.client(request))
            if wait:
                raise _too_many(wait, "requests from this address")

    async def limit_token(self, principal: Principal) -> None:
        if not self.limits_on:
            return
        wait = await self.by_token.acquire(principal.token_id or f"sub:{principal.role.value}:{principal.subject}")
        if wait:
            raise _too_many(wait, "requests with this token")

    async def limit_sign_in(self, request: web.Request) -> None:
        if not self.limits_on:
            return
        wait = await self.sign_ins.acquire(self.client(request))
        if wait:
            raise _too_many(wait, "sign-in attempts from this address")


def _trusted(address: str, proxies: tuple[IPv4Network | IPv6Network, ...]) -> bool:
    try:
        ip = ip_address(address)
    except ValueError:
        return False  # not an address (a unix socket, a garbled header): never a proxy of ours
    return any(ip in network for network in proxies)


def _limiter(limits: RateLimits, name: str, access: AccessRecords) -> Limiter:
    bucket: Bucket = getattr(limits, name)
    if limits.kind == "store":
        return SharedWindows(bucket, name, access)
    return TokenBuckets(bucket)


def _algorithm(token: str) -> str | None:
    try:
        alg = jwt.get_unverified_header(token).get("alg")
    except jwt.PyJWTError:
        return None
    return alg if isinstance(alg, str) else None


def _too_many(wait: float, what: str) -> Problem:
    seconds = retry_after_seconds(wait)
    return Problem(429, "rate-limited", f"too many {what}; retry in {seconds} s", retry_after=seconds)
