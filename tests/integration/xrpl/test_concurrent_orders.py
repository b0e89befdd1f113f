"""Two orders of one investor settled at the same time on the XRP Ledger: both need the holder's
MPT opt-in, one of them gets there first, and the other's `tecDUPLICATE` must not refund a paid
order (found by the XRPL soak: 2 of 40 orders refunded with "MPT opt-in: tecDUPLICATE")."""

from __future__ import annotations

import asyncio

import pytest

from drexfy.adapters.local_vault import LocalVault
from drexfy.adapters.xrpl import XrplLedger
from drexfy.domain.ports import Purchase
from tests.integration.xrpl.conftest import eur, onboard, spec

pytestmark = pytest.mark.xrpl


async def test_two_orders_of_a_new_holder_at_once_both_settle(ledger: XrplLedger, vault: LocalVault) -> None:
    alice = await onboard(ledger, vault, "alice")
    ref = (await ledger.issue_instrument("issue:SME1", spec())).ledger_ref
    first, second = Purchase("o1", alice, ref, 1, eur(10_000)), Purchase("o2", alice, ref, 2, eur(20_000))
    await asyncio.gather(ledger.settle_purchase("settle:o1", first), ledger.settle_purchase("settle:o2", second))
    assert await ledger.units_of(ref, alice.address) == 3
    # A retry replays the journalled refusal of the second opt-in: still not a refusal.
    await ledger.settle_purchase("settle:o2", second)
    assert await ledger.units_of(ref, alice.address) == 3
