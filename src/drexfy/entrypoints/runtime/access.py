"""Settings of who may act and how fast: operators' sign-in, OpenID Connect, four-eyes approvals and
rate limits (the `operators`, `approvals` and `rate_limits` sections of the configuration)."""

from __future__ import annotations

from collections.abc import Mapping
from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:  # the settings' schema imports runtime.settings, which imports this module
    from drexfy.entrypoints.config import Settings

#: The sensitive actions that need a second person's approval (`approvals.required`).
APPROVAL_KINDS = (
    "unblock",
    "dismiss_alert",
    "close_instrument",
    "large_repayment",
    "grant_role",
    "forced_transfer",
    "wallet_recovery",
    "assign_deposit",
)


@attrs.frozen
class OidcSettings:
    issuer: str
    audience: str
    jwks_url: str
    #: The claim holding role names (a string or a list).
    role_claim: str = "roles"
    #: The claim holding group names, and which group gives which role.
    group_claim: str = "groups"
    group_roles: Mapping[str, str] = attrs.field(factory=dict)
    algorithms: tuple[str, ...] = ("RS256",)
    #: How long fetched keys are trusted before the JWKS is read again.
    jwks_lifespan_s: int = 300


@attrs.frozen
class Bucket:
    """A token bucket: `burst` requests at once, refilled at `per_second`."""

    burst: int
    per_second: float


@attrs.frozen
class RateLimits:
    """Per process (each replica counts its own). Off unless configured: `drexfy serve` reads the
    `rate_limits` section, whose defaults are on; tests that build HttpSettings directly are not
    throttled unless they ask."""

    enabled: bool = False
    token: Bucket = Bucket(300, 50.0)
    address: Bucket = Bucket(600, 100.0)
    webhook: Bucket = Bucket(5000, 1000.0)
    #: Sign-in attempts per client address (on top of the per-name lockout).
    sign_in: Bucket = Bucket(10, 0.2)
    #: "process": token buckets in each process; "store": fixed windows shared through the store.
    kind: str = "process"
    #: Proxies whose X-Forwarded-For names the client (`rate_limits.trusted_proxies`).
    trusted_proxies: tuple[IPv4Network | IPv6Network, ...] = ()


@attrs.frozen
class AccessSettings:
    #: Lifetime of an operator's token after a local sign-in.
    operator_token_ttl_s: int = 3600
    #: Lifetime of an investor token minted by the frontend through the API.
    investor_token_ttl_s: int = 900
    signin_max_failures: int = 5
    signin_lockout_s: float = 60.0
    signin_max_lockout_s: float = 3600.0
    oidc: OidcSettings | None = None
    approvals_required: frozenset[str] = frozenset(APPROVAL_KINDS)
    approval_ttl_s: int = 24 * 3600
    #: A repayment whose interest + principal exceeds this (minor units) needs a second approval.
    repayment_threshold_minor: int = 100_000_000
    rate_limits: RateLimits = RateLimits()


def _bucket(raw: Mapping[str, Any], name: str) -> Bucket:
    return Bucket(int(raw[f"{name}_burst"]), float(raw[f"{name}_per_s"]))


def build_access_settings(settings: Settings) -> AccessSettings:
    ops = settings.get("operators")
    oidc_raw = ops["oidc"]
    oidc = None
    if oidc_raw["issuer"]:
        oidc = OidcSettings(
            issuer=oidc_raw["issuer"],
            audience=oidc_raw["audience"],
            jwks_url=oidc_raw["jwks_url"],
            role_claim=oidc_raw["role_claim"],
            group_claim=oidc_raw["group_claim"],
            group_roles=dict(oidc_raw["group_roles"]),
            algorithms=tuple(a.strip() for a in str(oidc_raw["algorithms"]).split(",") if a.strip()),
        )
    approvals = settings.get("approvals")
    required = approvals["required"]
    kinds = required.split(",") if isinstance(required, str) else list(required)
    limits = settings.get("rate_limits")
    return AccessSettings(
        operator_token_ttl_s=int(ops["token_ttl_s"]),
        investor_token_ttl_s=int(ops["investor_token_ttl_s"]),
        signin_max_failures=int(ops["signin_max_failures"]),
        signin_lockout_s=float(ops["signin_lockout_s"]),
        signin_max_lockout_s=float(ops["signin_max_lockout_s"]),
        oidc=oidc,
        approvals_required=frozenset(k.strip() for k in kinds if k.strip()),
        approval_ttl_s=int(approvals["ttl_s"]),
        repayment_threshold_minor=int(approvals["repayment_threshold_minor"]),
        rate_limits=RateLimits(
            enabled=bool(limits["enabled"]),
            token=_bucket(limits, "token"),
            address=_bucket(limits, "address"),
            webhook=_bucket(limits, "webhook"),
            sign_in=_bucket(limits, "sign_in"),
            kind=str(limits["kind"]),
            trusted_proxies=proxy_networks(str(limits["trusted_proxies"])),
        ),
    )


def proxy_networks(text: str) -> tuple[IPv4Network | IPv6Network, ...]:
    """`rate_limits.trusted_proxies`: comma-separated addresses or networks (ValueError if not)."""
    return tuple(ip_network(part.strip(), strict=False) for part in text.split(",") if part.strip())
