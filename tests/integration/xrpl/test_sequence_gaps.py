"""A sequence claimed and never sent (a process died between `allocate_sequence` and journalling)
holds every later transaction of its account (`terPRE_SEQ`). The keeper spends it on a no-op after
its grace; the operation that held it claims a new number if it ever runs, and a slow preparer
beaten by the keeper re-signs rather than staying stuck (adapters/xrpl/gaps.py)."""

from __future__ import annotations

import asyncio

import pytest
from xrpl.models.amounts import IssuedCurrencyAmount
from xrpl.models.transactions import Payment

from drexfy.adapters.local_vault import LocalVault
from drexfy.adapters.sqlite.store import SqliteStore
from drexfy.adapters.xrpl import XrplLedger
from drexfy.adapters.xrpl.gaps import gap_id
from drexfy.adapters.xrpl.signing import fingerprint_of, signer_fields
from drexfy.domain.ports import JournalStatus, Payout
from tests.integration.xrpl.conftest import eur, onboard
from tests.support.xrpl_double import LedgerDouble

pytestmark = pytest.mark.xrpl


def account_sets(double: LedgerDouble, account: str) -> list[int]:
    """Sequences of the no-op AccountSets `account` has in validated ledgers."""
    return [
        int(t.tx_json["Sequence"])
        for t in double.engine.txs.values()
        if t.tx_json.get("TransactionType") == "AccountSet" and t.tx_json.get("Account") == account
    ]


async def claim_and_die(ledger: XrplLedger, account: str, op_id: str) -> int:
    """What a process that died right after claiming its sequence leaves behind: the claim only."""
    return await ledger.journal.allocate_sequence(account, await ledger.submitter.chain_sequence(account), op_id)


async def wait_for_held(double: LedgerDouble, seen: int) -> None:
    while len(double.engine.submissions) == seen:  # noqa: ASYNC110 - polling the double's record
        await asyncio.sleep(0.01)


async def test_an_unsent_claim_is_filled_after_its_grace_and_the_account_moves_again(
    ledger: XrplLedger, vault: LocalVault, double: LedgerDouble, store: SqliteStore
) -> None:
    alice = await onboard(ledger, vault, "alice")
    issuer = await ledger.platform("issuer")
    hole = await claim_and_die(ledger, issuer.address, f"repay:2/{alice.address}/pay")
    seen = len(double.engine.submissions)
    waiting = asyncio.create_task(ledger.distribute("repay:1", "00" * 24, [Payout(alice, eur(100))]))
    await wait_for_held(double, seen)
    await asyncio.sleep(0.3)
    assert not waiting.done()  # held behind the hole
    assert (await ledger.health()).unsigned_claims == 1

    await ledger.maintain()  # first sight: within its grace, left alone (a live preparer may be slow)
    assert hole not in account_sets(double, issuer.address)
    ledger._holes.grace_s = 0.0
    await ledger.maintain()  # past the grace: the no-op takes the number
    await asyncio.wait_for(waiting, 5)
    assert hole in account_sets(double, issuer.address)
    assert await ledger.stablecoin_balance(alice.address) == eur(100)
    assert (await ledger.health()).unsigned_claims == 0

    # The operation that held the claim runs after all: its number is gone, so it takes a new one.
    await asyncio.wait_for(ledger.distribute("repay:2", "00" * 24, [Payout(alice, eur(50))]), 5)
    paid = await store.journal.get(f"repay:2/{alice.address}/pay")
    assert paid is not None and paid.status is JournalStatus.CONFIRMED and paid.sequence != hole
    assert await ledger.stablecoin_balance(alice.address) == eur(150)


async def test_a_slow_preparer_beaten_by_the_keeper_re_signs_and_acts_once(
    ledger: XrplLedger, vault: LocalVault, double: LedgerDouble, store: SqliteStore
) -> None:
    """The claim was not dead, only slow: it journals its transaction with the number after the
    keeper's no-op used it. Only one transaction can have a sequence, so the operation re-signs
    with a new number instead of stopping as if the node had lost history."""
    alice = await onboard(ledger, vault, "alice")
    issuer = await ledger.platform("issuer")
    hole = await claim_and_die(ledger, issuer.address, "raw:slow")
    seen = len(double.engine.submissions)
    waiting = asyncio.create_task(ledger.distribute("repay:1", "00" * 24, [Payout(alice, eur(100))]))
    await wait_for_held(double, seen)
    ledger._holes.grace_s = 0.0
    await ledger.maintain()
    await asyncio.wait_for(waiting, 5)
    assert (await store.journal.get(gap_id(issuer.address, hole))) is not None

    # The slow preparer now journals what it signed with the number the no-op used.
    payment = Payment(
        account=issuer.address,
        destination=alice.address,
        amount=IssuedCurrencyAmount(currency="EUR", issuer=issuer.address, value="0.25"),
    )
    tx = payment.to_xrpl()
    submitter = ledger.submitter
    blob, digest, lls = await submitter._sign(issuer, tx, hole)
    await submitter._claim(
        "raw:slow",
        fingerprint_of(tx),
        issuer.address,
        hole,
        digest,
        blob,
        {"last_ledger_sequence": lls, **signer_fields(issuer)},
        "transaction",
    )
    outcome = await asyncio.wait_for(submitter.run("raw:slow", issuer, payment, "pay"), 8)
    entry = await store.journal.get("raw:slow")
    assert entry is not None and entry.status is JournalStatus.CONFIRMED
    assert entry.sequence != hole and outcome.tx_id == entry.tx_id
    assert await ledger.stablecoin_balance(alice.address) == eur(125)  # paid once
