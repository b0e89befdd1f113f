"""Fixtures for the XRPL double and adapter tests: a fresh double per test, the lead's SQLite
journal and the local vault, platform accounts set up through `setup_platform`."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from drexfy.adapters.local_vault import LocalVault
from drexfy.adapters.sqlite.store import SqliteStore, open_sqlite_store
from drexfy.adapters.xrpl import XrplConfig, XrplLedger, setup_platform
from drexfy.domain.classification import Classification as C
from drexfy.domain.model import Wallet
from drexfy.domain.money import Money
from drexfy.domain.ports import InstrumentSpec
from tests.support.xrpl_double import GENESIS_SEED, DoubleConfig, LedgerDouble

pytestmark = pytest.mark.xrpl


@pytest.fixture
async def double() -> AsyncIterator[LedgerDouble]:
    async with LedgerDouble(DoubleConfig(auto_close=True, close_interval=0.05)) as running:
        yield running


@pytest.fixture
async def store() -> AsyncIterator[SqliteStore]:
    opened = await open_sqlite_store(":memory:", synchronous="NORMAL")
    yield opened
    await opened.close()


@pytest.fixture
def vault(tmp_path: Path) -> LocalVault:
    return LocalVault(tmp_path / "keys", os.urandom(32))


def make_config(url: str, **overrides: object) -> XrplConfig:
    values: dict[str, object] = {"rpc_url": url, "poll_interval": 0.02, "submit_timeout": 10.0, "ledger_offset": 8}
    values.update(overrides)
    return XrplConfig(**values)  # type: ignore[arg-type]


@pytest.fixture
async def ledger(double: LedgerDouble, vault: LocalVault, store: SqliteStore) -> AsyncIterator[XrplLedger]:
    """The adapter on the double, platform accounts set up (funded from the stand-alone genesis)."""
    adapter = XrplLedger(make_config(double.url), vault, store.journal)
    await setup_platform(adapter, fund_from_seed=GENESIS_SEED, funding_drops=1_000_000_000, platform_drops=50_000_000)
    yield adapter
    await adapter.close()


async def new_wallet(vault: LocalVault, ledger: XrplLedger, name: str) -> Wallet:
    public = await vault.create_key(f"wallet-{name}")
    return Wallet(f"wallet-{name}", ledger.address_for(public), public.hex())


def eur(minor: int) -> Money:
    return Money(minor, "EUR")


def spec(
    symbol: str = "SME1", eligible: frozenset[C] = frozenset({C.EU_ACCREDITED, C.EU_NON_ACCREDITED})
) -> InstrumentSpec:
    return InstrumentSpec(f"ins-{symbol}", symbol, f"{symbol} pool", 1_000, eligible, eur(10_000))


async def onboard(ledger: XrplLedger, vault: LocalVault, name: str, cls: C = C.EU_ACCREDITED) -> Wallet:
    """A new investor wallet, activated and classified."""
    wallet = await new_wallet(vault, ledger, name)
    await ledger.activate_wallet(f"activate:{name}", wallet)
    await ledger.record_classification(f"classify:{name}:1", wallet, cls)
    return wallet
