"""Endpoint declarations and the OpenAPI 3.1 document generated from them.

Each route is declared once as an `Endpoint` (method, path, roles, body model, summary); the app
registers the handlers from that list and /api/openapi.json is built from the same list, so the
document cannot drift from the routes. Body schemas come from the attrs models the bodies are
validated against.
"""

from __future__ import annotations

import enum
import re
import types
import typing
from collections.abc import Awaitable, Callable
from typing import Any

import attrs

from drexfy.entrypoints.http.auth import Role
from drexfy.entrypoints.http.schemas import COMPONENTS
from drexfy.entrypoints.http.validation import bounds_of

Handler = Callable[..., Awaitable[Any]]


@attrs.frozen
class Query:
    """A query-string parameter, documented in the OpenAPI operation."""

    name: str
    description: str
    enum: tuple[str, ...] = ()
    type: str = "string"
    minimum: int | None = None
    maximum: int | None = None

    def openapi(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": self.type}
        if self.enum:
            schema["enum"] = list(self.enum)
        if self.minimum is not None:
            schema["minimum"] = self.minimum
        if self.maximum is not None:
            schema["maximum"] = self.maximum
        return {"name": self.name, "in": "query", "required": False, "description": self.description, "schema": schema}


#: The paging parameters of every list endpoint.
PAGING = (
    Query("limit", "Items per page (default 100).", type="integer", minimum=1, maximum=500),
    Query("after", "The `next` of the previous page."),
)


@attrs.frozen
class Endpoint:
    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    #: Roles allowed; None means no bearer token (public or webhook-signed).
    roles: frozenset[Role] | None
    body: type | None = None
    status: int = 200
    #: Creates something: honours the Idempotency-Key header.
    creates: bool = False
    #: "bearer", "none", "kycDigest" or "stripeSignature".
    security: str = "bearer"
    description: str = ""
    #: Statuses this endpoint may answer besides its success status (documented as problems).
    errors: tuple[int, ...] = ()
    content_type: str = "application/json"
    #: Query-string parameters the handler reads.
    query: tuple[Query, ...] = ()
    #: The success answer's schema: a component of `schemas.COMPONENTS` (None: no JSON schema).
    response: str | None = None
    #: The success answer's content type (several: comma-separated).
    response_type: str = "application/json"
    #: A raw request body of this content type (a file, e.g. "application/xml"), read by the handler.
    raw_body: str | None = None
    #: The success answer's Location header: the path where the created resource is read, from the
    #: answer's body (None: no header).
    location: Callable[[Any], str | None] | None = None


def _schema_of(tp: Any, components: dict[str, Any]) -> dict[str, Any]:
    base, bounds = bounds_of(tp)
    if bounds is not None:
        return {**_schema_of(base, components), **bounds.schema()}
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        non_none = [a for a in args if a is not type(None)]
        inner = (
            _schema_of(non_none[0], components)
            if len(non_none) == 1
            else {"anyOf": [_schema_of(a, components) for a in non_none]}
        )
        if type(None) in args:
            return {"anyOf": [inner, {"type": "null"}]}
        return inner
    if origin in (list, tuple, frozenset, set):
        return {"type": "array", "items": _schema_of(args[0], components) if args else {}}
    if origin is dict:
        schema = {"type": "object", "additionalProperties": _schema_of(args[1], components) if args else {}}
        key = _schema_of(args[0], components) if args else {}
        if "enum" in key:
            schema["propertyNames"] = {"enum": key["enum"]}
        return schema
    if tp is str:
        return {"type": "string"}
    if tp is bool:
        return {"type": "boolean"}
    if tp is int:
        return {"type": "integer"}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return {"type": "string", "enum": [m.name for m in tp]}
    if isinstance(tp, type) and attrs.has(tp):
        name = tp.__name__
        if name not in components:
            components[name] = {}  # placeholder against recursion
            components[name] = model_schema(tp, components)
        return {"$ref": f"#/components/schemas/{name}"}
    return {}


def model_schema(model: type, components: dict[str, Any]) -> dict[str, Any]:
    """JSON schema of an attrs body model: required fields are those without defaults."""
    attrs.resolve_types(model)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for field in attrs.fields(model):
        schema = _schema_of(field.type, components)
        doc = (field.metadata or {}).get("doc")
        if doc:
            schema = {**schema, "description": doc}
        properties[field.name] = schema
        if field.default is attrs.NOTHING:
            required.append(field.name)
    out: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        out["required"] = required
    if model.__doc__:
        out["description"] = model.__doc__.strip()
    return out


_PARAM = re.compile(r"{(\w+)}")


def build_document(endpoints: list[Endpoint], *, version: str = "0.1.0") -> dict[str, Any]:
    components: dict[str, Any] = {
        **COMPONENTS,
        "Problem": {
            "type": "object",
            "description": "RFC 9457 problem details",
            "properties": {
                "type": {"type": "string", "format": "uri"},
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "detail": {"type": "string"},
                "instance": {"type": "string"},
                "request_id": {"type": "string"},
                "errors": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                    },
                },
                "reasons": {"type": "array", "items": {"type": "string"}},
                "investor_id": {"type": "string", "description": "409 duplicate: the investor that exists"},
            },
            "required": ["type", "title", "status"],
            "examples": [
                {
                    "type": "https://drexfy.dev/problems/validation-failed",
                    "title": "Bad Request",
                    "status": 400,
                    "detail": "invalid body: $.units: must be at least 1",
                    "instance": "/api/v1/orders",
                    "request_id": "6f0c2b1e9a8d4c3b",
                    "errors": [{"field": "$.units", "message": "must be at least 1"}],
                }
            ],
        },
    }
    paths: dict[str, Any] = {}
    for ep in endpoints:
        op: dict[str, Any] = {
            "summary": ep.summary,
            "tags": [ep.tag],
            "operationId": ep.handler.__name__,
        }
        if ep.description:
            op["description"] = ep.description
        if ep.roles is not None:
            op["x-roles"] = sorted(r.value for r in ep.roles)
        params: list[dict[str, Any]] = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in _PARAM.findall(ep.path)
        ]
        params += [q.openapi() for q in ep.query]
        if ep.creates:
            params.append(
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": False,
                    "description": "Repeat a create safely: the first successful answer is replayed (422 if the"
                    " key came with another body, 409 while a first attempt is still running).",
                    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
                }
            )
        if params:
            op["parameters"] = params
        if ep.body is not None:
            op["requestBody"] = {
                "required": True,
                "content": {ep.content_type: {"schema": _schema_of(ep.body, components)}},
            }
        elif ep.raw_body is not None:
            op["requestBody"] = {"required": True, "content": {ep.raw_body: {"schema": {"type": "string"}}}}
        schemes: dict[str, list[dict[str, list[str]]]] = {
            "bearer": [{"bearer": []}],
            "kycDigest": [{"kycDigest": []}],
            "stripeSignature": [{"stripeSignature": []}],
            "none": [],
        }
        op["security"] = schemes[ep.security]
        success: dict[str, Any] = {"description": "Success"}
        if ep.response is not None:
            # The first type carries the schema; further ones (an export as text/csv) are text.
            first, *others = (t.strip() for t in ep.response_type.split(","))
            success["content"] = {first: {"schema": {"$ref": f"#/components/schemas/{ep.response}"}}}
            success["content"].update({t: {"schema": {"type": "string"}} for t in others})
        elif ep.response_type != "application/json":
            success["content"] = {t.strip(): {"schema": {"type": "string"}} for t in ep.response_type.split(",")}
        if ep.location is not None:
            success["headers"] = {
                "Location": {"description": "Where the answer can be read again", "schema": {"type": "string"}}
            }
        responses: dict[str, Any] = {str(ep.status): success}
        statuses = set(ep.errors)
        if ep.body is not None or ep.raw_body is not None:
            statuses |= {400, 413, 415}  # invalid body, too large, not JSON
        if ep.query or ep.creates:
            statuses.add(400)  # a query parameter or the Idempotency-Key out of its bounds
        if ep.security != "none":
            statuses.add(401)
        if ep.roles is not None and ep.roles != frozenset(Role):
            statuses.add(403)
        if ep.creates:
            statuses |= {409, 422}
        if ep.path.startswith(("/api/v1/", "/webhooks/")):
            statuses.add(429)  # rate limits (docs/http.md)
        for status in sorted(statuses):
            if status < 400:  # another success (a webhook's duplicate or ignored answer)
                responses[str(status)] = {"description": "No Content"} if status == 204 else success
                continue
            responses[str(status)] = {
                "description": "Problem",
                "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
            }
        op["responses"] = responses
        paths.setdefault(ep.path, {})[ep.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Drexfy API",
            "version": version,
            "description": "Platform API, provider webhooks and operations endpoints. See docs/http.md.",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "kycDigest": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-Payload-Digest",
                    "description": "HMAC of the raw body; algorithm in X-Payload-Digest-Alg",
                },
                "stripeSignature": {"type": "apiKey", "in": "header", "name": "Stripe-Signature"},
            },
        },
    }
