"""Bearer JWTs with roles.

Roles: `frontend` (the Bubble backend, acts for any investor), `admin` (instruments, repayments,
jobs), `compliance` (block/unblock, reads investors), `auditor` (internal audit and regulators:
reads, writes nothing) and `investor` (a token scoped to one investor id in the `inv` claim, which
sees only that investor). Every token carries an id (`jti`), so it can be listed and revoked;
operators' tokens (local sign-in or OpenID Connect) carry the person's stable id as `sub`. 401: no or invalid token. 403: a valid token
whose role may not call the endpoint. An investor token asking about another investor gets the same
404 as an unknown id, so existence never leaks.
"""

from __future__ import annotations

import enum
import secrets
import time
from collections.abc import Sequence
from typing import Any

import attrs
import jwt

from drexfy.entrypoints.http.problems import Problem


class Role(enum.Enum):
    FRONTEND = "frontend"
    ADMIN = "admin"
    COMPLIANCE = "compliance"
    INVESTOR = "investor"
    AUDITOR = "auditor"


ALL_ROLES = frozenset(Role)
#: The roles of people (operators); machine clients are `frontend`, investors `investor`.
OPERATOR_ROLES = frozenset({Role.ADMIN, Role.COMPLIANCE, Role.AUDITOR})

#: The longest a token of each role may live (`exp - iat`): a token signed for longer (`exp` in the
#: year 9999, say) is refused even though it is validly signed. The frontend's server-to-server
#: token is rotated by hand, so it may live longest; people's tokens live a working day or so.
MAX_LIFETIME_S: dict[Role, int] = {
    Role.FRONTEND: 90 * 24 * 3600,
    Role.ADMIN: 12 * 3600,
    Role.COMPLIANCE: 12 * 3600,
    Role.INVESTOR: 24 * 3600,
    Role.AUDITOR: 12 * 3600,
}
#: Clock skew allowed for a token's `iat` in the future.
_SKEW_S = 60


@attrs.frozen
class Principal:
    subject: str
    role: Role
    investor_id: str | None = None
    #: The token's id (`jti`): what `drexfy token list|revoke` name; None for tokens without one.
    token_id: str | None = None

    def may_act_for(self, investor_id: str) -> bool:
        """Whether this caller may see or act for `investor_id` (within what its role allows)."""
        if self.role is Role.INVESTOR:
            return self.investor_id == investor_id
        return True


def issue_token(
    secret: str,
    role: Role | str,
    *,
    subject: str | None = None,
    investor_id: str | None = None,
    ttl_seconds: int = 3600,
    issuer: str = "drexfy",
    audience: str = "drexfy-api",
    now: float | None = None,
    token_id: str | None = None,
) -> str:
    """Sign a token for `role`. Investor tokens must name their investor. The token's id (`jti`) is
    `token_id`, or a new random one."""
    role = Role(role)
    if role is Role.INVESTOR and not investor_id:
        raise ValueError("an investor token needs the investor id")
    if not secret:
        raise ValueError("a JWT secret is required")
    if not 0 < ttl_seconds <= MAX_LIFETIME_S[role]:
        raise ValueError(f"a {role.value} token lives at most {MAX_LIFETIME_S[role]} seconds")
    issued = int(time.time() if now is None else now)
    claims: dict[str, object] = {
        "sub": subject or (investor_id if role is Role.INVESTOR else role.value),
        "role": role.value,
        "iss": issuer,
        "aud": audience,
        "iat": issued,
        "exp": issued + ttl_seconds,
        "jti": token_id or new_token_id(),
    }
    if investor_id:
        claims["inv"] = investor_id
    return jwt.encode(claims, secret, algorithm="HS256")


def authenticate(header: str | None, secret: str | Sequence[str], *, issuer: str, audience: str) -> Principal:
    """Principal of an `Authorization: Bearer ...` header, or Problem 401. `secret` may list the
    current key and earlier ones still accepted during a rotation."""
    if not header:
        raise Problem(401, "unauthenticated", "a bearer token is required", www_authenticate=True)
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Problem(
            401, "unauthenticated", "the Authorization header must be 'Bearer <token>'", www_authenticate=True
        )
    try:
        claims = _decode(token.strip(), (secret,) if isinstance(secret, str) else tuple(secret), issuer, audience)
    except jwt.ExpiredSignatureError:
        raise Problem(401, "token-expired", "the bearer token has expired", www_authenticate=True) from None
    except jwt.PyJWTError:
        raise Problem(401, "invalid-token", "the bearer token is not valid", www_authenticate=True) from None
    try:
        role = Role(claims["role"])
    except ValueError:
        raise Problem(401, "invalid-token", "the bearer token names an unknown role", www_authenticate=True) from None
    issued, expires = claims.get("iat"), claims.get("exp")
    if not isinstance(issued, int) or not isinstance(expires, int):
        raise Problem(401, "invalid-token", "the bearer token's iat and exp must be numbers", www_authenticate=True)
    if expires - issued > MAX_LIFETIME_S[role] or issued > time.time() + _SKEW_S:
        raise Problem(401, "invalid-token", "the bearer token lives longer than its role allows", www_authenticate=True)
    investor_id = claims.get("inv")
    if role is Role.INVESTOR and not isinstance(investor_id, str):
        raise Problem(401, "invalid-token", "an investor token must name its investor", www_authenticate=True)
    token_id = claims.get("jti")
    return Principal(
        str(claims["sub"]),
        role,
        investor_id if isinstance(investor_id, str) else None,
        token_id if isinstance(token_id, str) else None,
    )


def new_token_id() -> str:
    return "tok_" + secrets.token_hex(12)


def _decode(token: str, secrets: tuple[str, ...], issuer: str, audience: str) -> dict[str, Any]:
    """The claims of a token signed with one of `secrets` (the signature is checked before any
    claim, so a wrong key is the only reason to try the next one)."""
    for index, secret in enumerate(secrets):
        try:
            return dict(
                jwt.decode(
                    token,
                    secret,
                    algorithms=["HS256"],
                    issuer=issuer,
                    audience=audience,
                    options={"require": ["exp", "iat", "sub", "role"]},
                )
            )
        except jwt.InvalidSignatureError:
            if index == len(secrets) - 1:
                raise
    raise jwt.InvalidSignatureError("no secret configured")


def authorize(principal: Principal, roles: frozenset[Role]) -> None:
    if principal.role not in roles:
        raise Problem(403, "forbidden", f"the {principal.role.value} role may not call this endpoint")
