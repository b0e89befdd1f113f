"""Notifier over HTTP: POST a JSON body to a configured URL, authenticated one of two ways.

- `hmac`: the receiver checks `X-Drexfy-Signature: t=<unix>,v1=<hex>` where the hex is
  HMAC_SHA256(secret, f"{t}.{raw body}") — the Stripe scheme.
- `bearer`: `Authorization: Bearer <API token>`, which a Bubble backend (API) workflow checks
  natively (Bubble cannot compute an HMAC without a plugin); the body is the same.
 `X-Drexfy-Event-Id` lets the receiver drop duplicates: the outbox delivers at least once.
Anything but a 2xx raises ProviderError (transient), so the outbox relay retries with backoff.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

import aiohttp
import attrs

from drexfy.domain.errors import ProviderError

SIGNATURE_HEADER = "X-Drexfy-Signature"
EVENT_ID_HEADER = "X-Drexfy-Event-Id"


def sign_notification(body: bytes, secret: str, timestamp: int | None = None) -> str:
    ts = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"


def verify_notification(body: bytes, header: str, secret: str, tolerance: int = 300) -> bool:
    """What a receiver does (used by our tests and documented for the Bubble side)."""
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    try:
        ts = int(parts.get("t", ""))
    except ValueError:
        return False
    if abs(time.time() - ts) > tolerance:
        return False
    expected = sign_notification(body, secret, ts).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


class HttpNotifier:
    """Implements the Notifier port against one URL. Owns an aiohttp session: call `close()`."""

    def __init__(self, url: str, secret: str, *, timeout: float = 10.0, bearer_token: str | None = None) -> None:
        """HMAC-signed with `secret`, or with `bearer_token` sent as `Authorization: Bearer` instead."""
        if not secret and not bearer_token:
            raise ValueError("a notification signing secret or a bearer token is required")
        self._url = url
        self._secret = secret
        self._bearer = bearer_token
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def notify(self, event_id: str, name: str, aggregate_id: str, payload: Mapping[str, Any]) -> None:
        body = json.dumps(
            {"event_id": event_id, "event": name, "aggregate_id": aggregate_id, "data": dict(payload)},
            separators=(",", ":"),
            sort_keys=True,
            default=str,
        ).encode()
        headers = {"Content-Type": "application/json", EVENT_ID_HEADER: event_id}
        if self._bearer:
            headers["Authorization"] = f"Bearer {self._bearer}"
        else:
            headers[SIGNATURE_HEADER] = sign_notification(body, self._secret)
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        try:
            async with self._session.post(self._url, data=body, headers=headers) as response:
                if not 200 <= response.status < 300:
                    raise ProviderError(f"notification endpoint answered {response.status}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ProviderError(f"notification endpoint unreachable: {exc.__class__.__name__}") from None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


@attrs.define
class RecordingNotifier:
    """Keeps notifications in memory: the embedded default when no URL is configured, and tests."""

    sent: list[dict[str, Any]] = attrs.field(factory=list)

    async def notify(self, event_id: str, name: str, aggregate_id: str, payload: Mapping[str, Any]) -> None:
        self.sent.append({"event_id": event_id, "event": name, "aggregate_id": aggregate_id, "data": dict(payload)})

    async def close(self) -> None:
        return None
