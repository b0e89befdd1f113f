"""Vault wrappers for tests that need two signers to meet at a precise point."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any


class SigningGate:
    """A key vault whose first `expected` signatures (of the wallets `only` accepts) wait for each
    other: two adapters preparing at once are then certainly both past their journal checks (or
    both holding the same permit nonce) before either sends anything."""

    def __init__(self, inner: Any, expected: int, only: Callable[[str], bool] = lambda wallet_id: True) -> None:
        self.inner, self.expected, self.only = inner, expected, only
        self.arrived = 0
        self.all_here = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def sign_digest(self, wallet_id: str, digest: bytes) -> Any:
        if self.only(wallet_id) and not self.all_here.is_set():
            self.arrived += 1
            if self.arrived >= self.expected:
                self.all_here.set()
            await asyncio.wait_for(self.all_here.wait(), 10)
        return await self.inner.sign_digest(wallet_id, digest)
