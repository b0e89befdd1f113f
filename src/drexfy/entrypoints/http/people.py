"""Operators, tokens and four-eyes approvals in the API: handlers and their endpoint declarations.

- `POST /api/v1/operators/sign-in`: name, password and TOTP code -> a short-lived operator token
  whose `sub` is the operator's stable id. No bearer token; limited per address and locked per name.
- `GET /api/v1/operators`, `POST /api/v1/operators/{id}/roles` (a grant waits for a second admin).
- `GET /api/v1/tokens`, `POST /api/v1/tokens/{id}/revoke`: API tokens in the record.
- `POST /api/v1/investors/{id}/tokens`: the frontend mints a short-lived token for one investor.
- `GET /api/v1/approvals[/{id}]`, `POST /api/v1/approvals/{id}/approve|reject`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

import attrs
from aiohttp import web

from drexfy.domain.audit import Actor, acting_as
from drexfy.domain.processes import approvals as ap
from drexfy.domain.processes.approvals import ApprovalStatus
from drexfy.domain.processes.audit import record_action
from drexfy.entrypoints.approval_actions import ACTIONS
from drexfy.entrypoints.http.api import Call, Reply, _enum_query, _limit
from drexfy.entrypoints.http.auth import Role, issue_token, new_token_id
from drexfy.entrypoints.http.bodies import ReasonBody, Text
from drexfy.entrypoints.http.four_eyes import actor_of, approval_view, needs_approval
from drexfy.entrypoints.http.openapi import PAGING, Endpoint, Query
from drexfy.entrypoints.http.problems import Problem
from drexfy.entrypoints.http.state import STATE, AppState
from drexfy.entrypoints.http.validation import Bounds, parse_json, structure
from drexfy.entrypoints.identity import tokens
from drexfy.entrypoints.identity.operators import OperatorDirectory, SignInFailed, SignInLocked, operator_directory
from drexfy.entrypoints.identity.tokens import TokenRecord

OperatorRole = Annotated[str, Bounds(enum=("admin", "compliance", "auditor"))]


@attrs.frozen
class SignInBody:
    """An operator's name, password and the current code of their authenticator app (TOTP);
    `role` chooses which of their roles the token acts in (default: their first)."""

    name: Annotated[str, Bounds(min_length=1, max_length=64)]
    password: Annotated[str, Bounds(min_length=1, max_length=1024)]
    code: Annotated[str, Bounds(pattern=r"^[0-9]{6}$", means="must be 6 digits")]
    role: OperatorRole | None = None


@attrs.frozen
class GrantRoleBody:
    role: OperatorRole
    reason: Text


def directory(state: AppState) -> OperatorDirectory:
    return operator_directory(state.services, state.settings.access)


# ------------------------------------------------------------------------------------------------
# Sign-in and operators
# ------------------------------------------------------------------------------------------------


async def sign_in(request: web.Request) -> web.Response:
    state = request.app[STATE]
    await state.access.limit_sign_in(request)
    body = structure(parse_json(await request.read(), request.content_type), SignInBody)
    try:
        operator, role = await directory(state).sign_in(body.name, body.password, body.code, body.role)
    except SignInLocked as locked:
        raise Problem(429, locked.code, locked.message, retry_after=locked.retry_after) from None
    except SignInFailed as failed:
        raise Problem(401, failed.code, failed.message) from None
    s, svc = state.settings, state.services
    ttl = s.access.operator_token_ttl_s
    token_id = new_token_id()
    now = svc.clock.now()
    token = issue_token(
        s.jwt_secret,
        role,
        subject=operator.id,
        ttl_seconds=ttl,
        issuer=s.jwt_issuer,
        audience=s.jwt_audience,
        token_id=token_id,
    )
    await tokens.record(
        svc.store.access,
        TokenRecord(token_id, role, operator.id, now, now + timedelta(seconds=ttl), issued_by="sign-in"),
    )
    with acting_as(Actor(operator.id, role)):
        await record_action(svc, "OperatorSignedIn", operator.id, "", {"token_id": token_id, "role": role})
    return web.json_response(
        {
            "token": token,
            "token_type": "Bearer",
            "expires_in": ttl,
            "token_id": token_id,
            "operator_id": operator.id,
            "role": role,
        }
    )


async def list_operators(call: Call) -> Reply:
    return 200, {"items": [o.public() for o in await directory(call.state).list()]}


async def grant_operator_role(call: Call) -> Reply:
    b: GrantRoleBody = call.body
    operator = await directory(call.state).get(call.param("operator_id"))
    if b.role in operator.roles:
        return 200, operator.public()
    pending = await needs_approval(call, "grant_role", operator.id, {"role": b.role}, b.reason)
    if pending is not None:
        return pending
    if call.principal.subject == operator.id:
        raise ap.ApprovalRefused("nobody grants a role to themselves")
    granted = await directory(call.state).grant(operator.id, b.role)
    await record_action(call.svc, "OperatorRoleGranted", operator.id, b.reason, {"role": b.role})
    return 200, granted.public()


# ------------------------------------------------------------------------------------------------
# API tokens
# ------------------------------------------------------------------------------------------------


def token_view(t: TokenRecord) -> dict[str, Any]:
    return t.data()  # the record: id, role, subject, lifetime, revocation; never the token


async def list_api_tokens(call: Call) -> Reply:
    limit = _limit(call.request)
    items = await tokens.list_tokens(call.svc.store.access, after=call.request.query.get("after"), limit=limit)
    return 200, {"items": [token_view(t) for t in items], "next": items[-1].id if len(items) == limit else None}


async def revoke_api_token(call: Call) -> Reply:
    token_id = call.param("token_id")
    revoked = await tokens.revoke(call.svc.store.access, token_id, call.principal.subject, call.svc.clock.now())
    if revoked is None:
        raise Problem(404, "token-not-found", "No such token.")
    await record_action(call.svc, "TokenRevoked", token_id, "", {"role": revoked.role, "subject": revoked.subject})
    return 200, token_view(revoked)


async def mint_investor_token(call: Call) -> Reply:
    """The frontend's token mints a short-lived token for one investor (who must exist)."""
    investor_id = call.param("investor_id")
    async with call.svc.store.unit_of_work() as uow:
        await uow.investors.get(investor_id)  # InvestorNotFound: 404
    s = call.state.settings
    ttl = s.access.investor_token_ttl_s
    token_id = new_token_id()
    now = call.svc.clock.now()
    token = issue_token(
        s.jwt_secret,
        Role.INVESTOR,
        investor_id=investor_id,
        ttl_seconds=ttl,
        issuer=s.jwt_issuer,
        audience=s.jwt_audience,
        token_id=token_id,
    )
    await tokens.record(
        call.svc.store.access,
        TokenRecord(
            token_id,
            Role.INVESTOR.value,
            investor_id,
            now,
            now + timedelta(seconds=ttl),
            investor_id=investor_id,
            issued_by=call.principal.subject,
        ),
    )
    await record_action(call.svc, "TokenIssued", token_id, "", {"role": Role.INVESTOR.value, "subject": investor_id})
    return 201, {"token": token, "token_type": "Bearer", "expires_in": ttl, "token_id": token_id}


# ------------------------------------------------------------------------------------------------
# Approvals
# ------------------------------------------------------------------------------------------------


async def list_approval_requests(call: Call) -> Reply:
    status = _enum_query(call.request, "status", ApprovalStatus)
    items, after = await ap.list_approvals(
        call.svc, status, after=call.request.query.get("after"), limit=_limit(call.request)
    )
    now = call.svc.clock.now()
    return 200, {"items": [approval_view(a, now) for a in items], "next": after}


async def get_approval_request(call: Call) -> Reply:
    return 200, approval_view(await ap.get_approval(call.svc, call.param("approval_id")), call.svc.clock.now())


async def approve_request(call: Call) -> Reply:
    approval = await ap.approve(
        call.svc, ACTIONS, call.param("approval_id"), actor_of(call.principal), call.body.reason
    )
    return 200, approval_view(approval, call.svc.clock.now())


async def reject_request(call: Call) -> Reply:
    approval = await ap.reject(call.svc, ACTIONS, call.param("approval_id"), actor_of(call.principal), call.body.reason)
    return 200, approval_view(approval, call.svc.clock.now())


# ------------------------------------------------------------------------------------------------
# Routes
# ------------------------------------------------------------------------------------------------

F, A, C, AU = Role.FRONTEND, Role.ADMIN, Role.COMPLIANCE, Role.AUDITOR
V1 = "/api/v1"


def _endpoints() -> list[Endpoint]:
    return [
        Endpoint(
            method="POST",
            path=f"{V1}/operators/sign-in",
            handler=sign_in,
            summary="An operator signs in with name, password and TOTP code; returns a short-lived token",
            tag="operators",
            roles=None,
            security="none",
            body=SignInBody,
            response="SignedIn",
            errors=(401, 429),
        ),
        Endpoint(
            method="GET",
            path=f"{V1}/operators",
            handler=list_operators,
            summary="Operators (people): ids, names, roles, disabled",
            tag="operators",
            roles=frozenset({A, AU}),
            response="OperatorList",
        ),
        Endpoint(
            method="POST",
            path=f"{V1}/operators/{{operator_id}}/roles",
            handler=grant_operator_role,
            summary="Grant an operator a role (202: waits for a second admin's approval)",
            tag="operators",
            roles=frozenset({A}),
            body=GrantRoleBody,
            status=202,
            response="OperatorOrApproval",
            errors=(200, 403, 404),
        ),
        Endpoint(
            method="GET",
            path=f"{V1}/tokens",
            handler=list_api_tokens,
            summary="API tokens in the record (ids, roles, subjects, lifetimes, revocations; never the tokens)",
            tag="operators",
            roles=frozenset({A, AU}),
            response="TokenPage",
            query=PAGING,
        ),
        Endpoint(
            method="POST",
            path=f"{V1}/tokens/{{token_id}}/revoke",
            handler=revoke_api_token,
            summary="Revoke an API token: refused (401) from the next request on",
            tag="operators",
            roles=frozenset({A}),
            response="TokenRecord",
            errors=(404,),
        ),
        Endpoint(
            method="POST",
            path=f"{V1}/investors/{{investor_id}}/tokens",
            handler=mint_investor_token,
            summary="Mint a short-lived token scoped to one investor (for the frontend's pages)",
            tag="investors",
            roles=frozenset({F}),
            status=201,
            response="MintedToken",
            errors=(404,),
        ),
        Endpoint(
            method="GET",
            path=f"{V1}/approvals",
            handler=list_approval_requests,
            summary="Four-eyes requests, in the order they were made; filter by status",
            tag="approvals",
            roles=frozenset({A, C, AU}),
            response="ApprovalPage",
            errors=(400,),
            query=(Query("status", "Only requests in this state.", tuple(s.value for s in ApprovalStatus)), *PAGING),
        ),
        Endpoint(
            method="GET",
            path=f"{V1}/approvals/{{approval_id}}",
            handler=get_approval_request,
            summary="One four-eyes request",
            tag="approvals",
            roles=frozenset({A, C, AU}),
            response="Approval",
            errors=(404,),
        ),
        Endpoint(
            method="POST",
            path=f"{V1}/approvals/{{approval_id}}/approve",
            handler=approve_request,
            summary="Approve (a second person of an allowed role): the action takes effect once",
            tag="approvals",
            roles=frozenset({A, C}),
            body=ReasonBody,
            response="Approval",
            errors=(403, 404, 409, 502, 503),
        ),
        Endpoint(
            method="POST",
            path=f"{V1}/approvals/{{approval_id}}/reject",
            handler=reject_request,
            summary="Reject with a reason: the action never takes effect",
            tag="approvals",
            roles=frozenset({A, C}),
            body=ReasonBody,
            response="Approval",
            errors=(403, 404, 409),
        ),
    ]


ENDPOINTS = _endpoints()

__all__ = ["ENDPOINTS"]
