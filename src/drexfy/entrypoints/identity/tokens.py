"""API tokens in the record: each issued token's id (`jti`), role, subject and lifetime, so that
`drexfy token list` shows them and `drexfy token revoke` stops one at once (the API looks the id up
on every request: one primary-key read; a revocation, which is final, is also cached in-process)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs

from drexfy.domain.ports import AccessRecords

KIND = "api-token"


@attrs.frozen
class TokenRecord:
    id: str
    role: str
    subject: str
    issued_at: datetime
    expires_at: datetime
    investor_id: str | None = None
    #: Who had it issued (the CLI, an operator's sign-in, the frontend minting an investor token).
    issued_by: str = "cli"
    revoked_at: datetime | None = None
    revoked_by: str | None = None

    def data(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "role": self.role,
            "subject": self.subject,
            "issued_at": self.issued_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "investor_id": self.investor_id,
            "issued_by": self.issued_by,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "revoked_by": self.revoked_by,
        }

    @classmethod
    def of(cls, data: dict[str, Any]) -> TokenRecord:
        return cls(
            id=data["id"],
            role=data["role"],
            subject=data["subject"],
            issued_at=datetime.fromisoformat(data["issued_at"]),
            expires_at=datetime.fromisoformat(data["expires_at"]),
            investor_id=data.get("investor_id"),
            issued_by=data.get("issued_by", "cli"),
            revoked_at=datetime.fromisoformat(data["revoked_at"]) if data.get("revoked_at") else None,
            revoked_by=data.get("revoked_by"),
        )


async def record(access: AccessRecords, token: TokenRecord) -> None:
    await access.create(KIND, token.id, token.data())


async def list_tokens(access: AccessRecords, after: str | None = None, limit: int = 100) -> list[TokenRecord]:
    return [TokenRecord.of(r.data) for r in await access.list(KIND, after=after, limit=limit)]


async def revoke(access: AccessRecords, token_id: str, by: str, now: datetime) -> TokenRecord | None:
    """Revoke the recorded token `token_id` (final; revoking it again answers the same). None, and
    nothing written, if no token with that id was recorded."""
    for _ in range(5):
        stored = await access.get(KIND, token_id)
        if stored is None:
            return None
        current = TokenRecord.of(stored.data)
        if current.revoked_at is not None:
            return current
        revoked = attrs.evolve(current, revoked_at=now, revoked_by=by)
        if await access.replace(KIND, token_id, revoked.data(), stored.version):
            return revoked
    raise RuntimeError("the token record kept changing")


class RevocationCheck:
    """`await check(token_id)`: True if revoked. A revocation is final, so a revoked id is
    remembered here; a live one is read from the store every time (a revocation on another replica
    counts at once)."""

    def __init__(self, access: AccessRecords) -> None:
        self._access = access
        self._revoked: set[str] = set()

    async def __call__(self, token_id: str) -> bool:
        if token_id in self._revoked:
            return True
        stored = await self._access.get(KIND, token_id)
        if stored is not None and stored.data.get("revoked_at"):
            if len(self._revoked) < 100_000:
                self._revoked.add(token_id)
            return True
        return False
