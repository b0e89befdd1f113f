"""Clock and id generator for production use."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime


class SystemClock:
    """The wall clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class UuidIds:
    """Random ids such as `inv_3f2a...`: unguessable, so an id reveals nothing about others."""

    def new(self, prefix: str) -> str:
        return f"{prefix}_{uuid.uuid4().hex}"
