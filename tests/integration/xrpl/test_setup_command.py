"""`drexfy xrpl setup` configures the platform accounts on the ledger, in the order XRPL requires,
and is safe to run again."""

from __future__ import annotations

from pathlib import Path

import pytest

from drexfy.entrypoints.config import load_settings
from drexfy.entrypoints.xrpl_setup import setup_from_settings
from tests.support.xrpl_double import LedgerDouble
from tests.support.xrpl_double.engine import LSF_ALLOW_TRUSTLINE_CLAWBACK, LSF_DEFAULT_RIPPLE, LSF_REQUIRE_AUTH

pytestmark = pytest.mark.xrpl


async def test_setup_sets_the_issuer_flags_and_is_idempotent(double: LedgerDouble, tmp_path: Path) -> None:
    settings = load_settings(
        env={}, overrides={"data_dir": str(tmp_path), "ledger.kind": "xrpl", "ledger.xrpl.rpc_url": double.url}
    )
    done = await setup_from_settings(settings, fund_from_genesis=True)
    issuer_address = next(line.split()[1] for line in done if line.startswith("issuer:"))
    issuer = double.engine.validated.accounts[issuer_address]
    for flag in (LSF_ALLOW_TRUSTLINE_CLAWBACK, LSF_REQUIRE_AUTH, LSF_DEFAULT_RIPPLE):
        assert issuer.flags & flag
    company_address = next(line.split()[1] for line in done if line.startswith("instrument_issuer:"))
    line = double.engine.validated.line(company_address, issuer_address, "EUR")
    assert line is not None and line.flag(issuer_address, 0x00040000, 0x00080000)  # authorised by the issuer
    applied = len(double.engine.txs)
    again = await setup_from_settings(settings, fund_from_genesis=True)
    assert len(double.engine.txs) == applied
    assert all(line.split()[0].rstrip(":") in ("funding", "issuer", "instrument_issuer", "registrar") for line in again)
