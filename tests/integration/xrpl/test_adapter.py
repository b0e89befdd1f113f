"""The XRPL adapter against the ledger double: the lifecycle, each rejection path, at-most-once
effects per operation id, and recovery after a crash (same blob, same hash, one effect)."""

from __future__ import annotations

import asyncio

import pytest
from xrpl.models.amounts import IssuedCurrencyAmount, MPTAmount
from xrpl.models.transactions import Payment, TrustSet

from drexfy.adapters.local_vault import LocalVault
from drexfy.adapters.sqlite.store import SqliteStore
from drexfy.adapters.xrpl import XrplLedger, setup_platform
from drexfy.adapters.xrpl.ledger import CLASS_URI_PREFIX
from drexfy.domain.classification import Classification as C
from drexfy.domain.errors import (
    ComplianceRejected,
    InsufficientFunds,
    LedgerPending,
    LedgerRejected,
    LedgerUnavailable,
    OperationConflict,
)
from drexfy.domain.ports import LEDGER_WAIT, JournalStatus, Payout, Purchase
from tests.integration.xrpl.conftest import eur, make_config, new_wallet, onboard, spec
from tests.support.vaults import SigningGate
from tests.support.xrpl_double import GENESIS_SEED, DoubleConfig, Fees, LedgerDouble

pytestmark = pytest.mark.xrpl


async def test_the_lifecycle_moves_money_and_units(ledger: XrplLedger, vault: LocalVault, double: LedgerDouble) -> None:
    alice = await onboard(ledger, vault, "alice")
    assert await ledger.classification_of(alice.address) is C.EU_ACCREDITED
    ref = (await ledger.issue_instrument("issue:SME1", spec())).ledger_ref
    result = await ledger.settle_purchase("settle:o1", Purchase("o1", alice, ref, 5, eur(50_000)))
    assert len(result.tx_ids) == 5  # opt-in, authorisation, issue, payment, delivery (no top-up needed)
    assert await ledger.units_of(ref, alice.address) == 5
    assert await ledger.stablecoin_balance(alice.address) == eur(0)
    company = await ledger.platform("instrument_issuer")
    assert await ledger.stablecoin_balance(company.address) == eur(50_000)
    assert await ledger.holders(ref) == {alice.address: 5}
    await ledger.distribute("repay:1", ref, [Payout(alice, eur(1_234), units_to_retire=2)])
    assert await ledger.units_of(ref, alice.address) == 3
    assert double.engine.validated.issuances[ref].outstanding == 3  # returned units are burned
    assert await ledger.stablecoin_balance(alice.address) == eur(1_234)
    await ledger.burn_stablecoin("withdraw:1", alice, eur(1_000))
    assert await ledger.stablecoin_balance(alice.address) == eur(234)


async def test_the_classification_nft_is_soulbound_and_replaced_on_reclassification(
    ledger: XrplLedger, vault: LocalVault, double: LedgerDouble
) -> None:
    alice = await onboard(ledger, vault, "alice", C.US_ACCREDITED)
    first = [n for n in double.engine.validated.nfts.values() if n.owner == alice.address]
    assert len(first) == 1
    assert first[0].flags & 0x08 == 0 and first[0].flags & 0x01  # not transferable, burnable
    assert bytes.fromhex(first[0].uri or "").decode() == CLASS_URI_PREFIX + "US_ACCREDITED"
    await ledger.record_classification("classify:alice:2", alice, C.SANCTIONED)
    now = [n for n in double.engine.validated.nfts.values() if n.owner == alice.address]
    assert len(now) == 1 and now[0].id != first[0].id
    assert await ledger.classification_of(alice.address) is C.SANCTIONED


async def test_activation_funds_the_reserve_the_network_publishes(vault: LocalVault, store: SqliteStore) -> None:
    fees = Fees(reserve_base=10_000_000, reserve_inc=2_000_000)  # the old 10 / 2 XRP reserves
    async with LedgerDouble(DoubleConfig(close_interval=0.05, fees=fees)) as double:
        ledger = XrplLedger(make_config(double.url), vault, store.journal)
        await setup_platform(
            ledger, fund_from_seed=GENESIS_SEED, funding_drops=1_000_000_000, platform_drops=50_000_000
        )
        alice = await onboard(ledger, vault, "alice")
        root = double.engine.validated.accounts[alice.address]
        # Three objects: the trust line, the classification NFT page, and room for one MPToken.
        assert root.owner_count == 2
        assert root.balance >= fees.reserve(3)
        ref = (await ledger.issue_instrument("issue:SME1", spec())).ledger_ref
        await ledger.settle_purchase("settle:o1", Purchase("o1", alice, ref, 1, eur(10_000)))
        assert await ledger.units_of(ref, alice.address) == 1
        await ledger.close()


async def test_an_operation_id_acts_once(ledger: XrplLedger, vault: LocalVault, double: LedgerDouble) -> None:
    alice = await new_wallet(vault, ledger, "alice")
    first = await ledger.activate_wallet("activate:alice", alice)
    count = len(double.engine.txs)
    again = await ledger.activate_wallet("activate:alice", alice)
    assert again == first
    assert len(double.engine.txs) == count


async def test_reusing_an_operation_id_for_another_intent_is_a_conflict(ledger: XrplLedger, vault: LocalVault) -> None:
    alice = await onboard(ledger, vault, "alice")
    ref = (await ledger.issue_instrument("issue:SME1", spec())).ledger_ref
    await ledger.settle_purchase("settle:o1", Purchase("o1", alice, ref, 5, eur(50_000)))
    await ledger.distribute("repay:1", ref, [Payout(alice, eur(500))])
    await ledger.burn_stablecoin("withdraw:1", alice, eur(100))
    with pytest.raises(OperationConflict):
        await ledger.burn_stablecoin("withdraw:1", alice, eur(200))


# --- rejections ----------------------------------------------------------------------------------------


async def test_an_ineligible_class_is_never_authorised_and_nothing_is_issued(
    ledger: XrplLedger, vault: LocalVault
) -> None:
    bob = await onboard(ledger, vault, "bob", C.US_NON_ACCREDITED)
    ref = (await ledger.issue_instrument("issue:SME1", spec())).ledger_ref
    with pytest.raises(ComplianceRejected, match="US_NON_ACCREDITED") as refused:
        await ledger.settle_purchase("settle:o1", Purchase("o1", bob, ref, 1, eur(10_000)))
    assert refused.value.reason == "not-eligible"
    assert await ledger.stablecoin_balance(bob.address) == eur(0)
    assert await ledger.units_of(ref, bob.address) == 0


async def test_a_frozen_buyer_is_refused_before_anything_moves(ledger: XrplLedger, vault: LocalVault) -> None:
    alice = await onboard(ledger, vault, "alice")
    ref = (await ledger.issue_instrument("issue:SME1", spec())).ledger_ref
    await ledger.set_frozen("freeze:alice:1", alice, True, [ref])
    assert await ledger.is_frozen(alice.address)
    with pytest.raises(ComplianceRejected):
        await ledger.settle_purchase("settle:o1", Purchase("o1", alice, ref, 1, eur(10_000)))
    assert await ledger.stablecoin_balance(alice.address) == eur(0)
    await ledger.set_frozen("unfreeze:alice:1", alice, False, [ref])
    assert not await ledger.is_frozen(alice.address)
    await ledger.settle_purchase("settle:o2", Purchase("o2", alice, ref, 1, eur(10_000)))
    assert await ledger.units_of(ref, alice.address) == 1


async def test_a_frozen_holder_cannot_retire_units(ledger: XrplLedger, vault: LocalVault) -> None:
    """The adapter refuses the return before sending (naming the holder), and the ledger would
    refuse it too: the freeze revoked the holder's MPT authorisation (a lock alone would not stop a
    payment back to the issuer in rippled)."""
    alice = await onboard(ledger, vault, "alice")
    ref = (await ledger.issue_instrument("issue:SME1", spec())).ledger_ref
    await ledger.settle_purchase("settle:o1", Purchase("o1", alice, ref, 5, eur(50_000)))
    await ledger.set_frozen("freeze:alice:1", alice, True, [ref])
    with pytest.raises(ComplianceRejected) as refused:
        await ledger.distribute("repay:1", ref, [Payout(alice, eur(0), units_to_retire=1)])
    assert refused.value.reason == "tecLOCKED" and refused.value.party == alice.address
    company = await ledger.platform("instrument_issuer")
    back = Payment(account=alice.address, destination=company.address, amount=MPTAmount(mpt_issuance_id=ref, value="1"))
    with pytest.raises(ComplianceRejected) as on_ledger:
        await ledger.submitter.run("bypass:retire", ledger._investor(alice), back, "retire bypassing the adapter")
    assert on_ledger.value.reason == "tecNO_AUTH" and on_ledger.value.tx_id
    assert await ledger.units_of(ref, alice.address) == 5


async def test_withdrawals_need_an_unfrozen_wallet_and_the_balance(ledger: XrplLedger, vault: LocalVault) -> None:
    alice = await onboard(ledger, vault, "alice")
    ref = (await ledger.issue_instrument("issue:SME1", spec())).ledger_ref
    await ledger.settle_purchase("settle:o1", Purchase("o1", alice, ref, 1, eur(10_000)))
    await ledger.distribute("repay:1", ref, [Payout(alice, eur(700))])
    with pytest.raises(InsufficientFunds):
        await ledger.burn_stablecoin("withdraw:1", alice, eur(701))
    await ledger.set_frozen("freeze:alice:1", alice, True, [ref])
    with pytest.raises(ComplianceRejected):
        await ledger.burn_stablecoin("withdraw:2", alice, eur(100))
    assert await ledger.stablecoin_balance(alice.address) == eur(700)


async def test_ledger_refusals_map_to_domain_errors_with_their_meaning(ledger: XrplLedger, vault: LocalVault) -> None:
    alice = await onboard(ledger, vault, "alice")
    stranger = await new_wallet(vault, ledger, "stranger")
    issuer = await ledger.platform("issuer")
    company = await ledger.platform("instrument_issuer")
    ref = (await ledger.issue_instrument("issue:SME1", spec())).ledger_ref
    # MPT to a holder that never opted in: tecNO_AUTH, a compliance refusal.
    units = Payment(
        account=company.address, destination=alice.address, amount=MPTAmount(mpt_issuance_id=ref, value="1")
    )
    with pytest.raises(ComplianceRejected, match="tecNO_AUTH") as no_auth:
        await ledger.submitter.run("raw:1", company, units, "delivery")
    assert no_auth.value.reason == "tecNO_AUTH"
    # Stablecoin to an account with no trust line: tecNO_DST (not activated), a plain rejection.
    coins = Payment(
        account=issuer.address,
        destination=stranger.address,
        amount=IssuedCurrencyAmount(currency="EUR", issuer=issuer.address, value="1"),
    )
    with pytest.raises(LedgerRejected, match="tecNO_DST") as no_dst:
        await ledger.submitter.run("raw:2", issuer, coins, "issue")
    assert not isinstance(no_dst.value, ComplianceRejected)
    # A refusal is final and remembered: the same op id raises the same error without a new transaction.
    with pytest.raises(LedgerRejected, match="tecNO_DST"):
        await ledger.submitter.run("raw:2", issuer, coins, "issue")


async def test_a_malformed_transaction_fails_and_leaves_no_sequence_gap(
    ledger: XrplLedger, vault: LocalVault, store: SqliteStore
) -> None:
    alice = await onboard(ledger, vault, "alice")
    issuer = await ledger.platform("issuer")
    to_self = TrustSet(
        account=issuer.address, limit_amount=IssuedCurrencyAmount(currency="EUR", issuer=issuer.address, value="1")
    )
    with pytest.raises(LedgerRejected, match="temDST_IS_SRC"):
        await ledger.submitter.run("raw:self", issuer, to_self, "trust line to self")
    failed = await store.journal.get("raw:self")
    assert failed is not None and failed.status is JournalStatus.FAILED
    # The issuer's next transaction is not stuck behind the unused sequence number.
    await ledger.distribute("repay:1", "00" * 24, [Payout(alice, eur(100))])
    assert await ledger.stablecoin_balance(alice.address) == eur(100)


async def test_an_unreachable_node_is_transient(vault: LocalVault, store: SqliteStore) -> None:
    ledger = XrplLedger(make_config("http://127.0.0.1:9/"), vault, store.journal)
    with pytest.raises(LedgerUnavailable):
        await ledger.ping()
    with pytest.raises(LedgerUnavailable):
        await ledger.stablecoin_balance("rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh")
    await ledger.close()


# --- reliable submission ---------------------------------------------------------------------------------


async def test_after_a_crash_the_same_blob_is_resubmitted_and_acts_once(vault: LocalVault, store: SqliteStore) -> None:
    async with LedgerDouble(DoubleConfig(auto_close=True, close_interval=0.05)) as double:
        ledger = XrplLedger(make_config(double.url, submit_timeout=30.0), vault, store.journal)
        await setup_platform(
            ledger, fund_from_seed=GENESIS_SEED, funding_drops=1_000_000_000, platform_drops=50_000_000
        )
        alice = await onboard(ledger, vault, "alice")
        ref = (await ledger.issue_instrument("issue:SME1", spec())).ledger_ref
        await ledger.settle_purchase("settle:o1", Purchase("o1", alice, ref, 1, eur(10_000)))
        await ledger.distribute("repay:1", ref, [Payout(alice, eur(900))])
        # The node stops closing ledgers; the platform broadcasts the withdrawal and dies.
        double.config.auto_close = False
        closer = double._closer
        assert closer is not None
        closer.cancel()
        seen = len(double.engine.submissions)
        task = asyncio.create_task(ledger.burn_stablecoin("withdraw:1", alice, eur(400)))
        while len(double.engine.submissions) == seen:  # noqa: ASYNC110 - polling the double's record
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await ledger.close()
        entry = await store.journal.get("withdraw:1/burn")
        # Died after the node got the blob: the journal holds it, unfinished (PREPARED or SUBMITTED).
        assert entry is not None and entry.status in (JournalStatus.PREPARED, JournalStatus.SUBMITTED)
        assert entry in await store.journal.unfinished("xrpl")
        blob, tx_id = entry.payload, entry.tx_id
        # A new process with the same store and vault takes over; ledgers close again.
        restarted = XrplLedger(make_config(double.url), vault, store.journal)
        double.config.auto_close = True
        double.engine.close()
        result = await restarted.burn_stablecoin("withdraw:1", alice, eur(400))
        assert result.tx_ids[-1] == tx_id
        assert double.engine.submissions.count(blob) == 2  # the same blob, broadcast again
        assert await restarted.stablecoin_balance(alice.address) == eur(500)  # burned once
        assert (await store.journal.get("withdraw:1/burn")).status is JournalStatus.CONFIRMED  # type: ignore[union-attr]
        await restarted.close()


async def test_a_lost_broadcast_expires_and_its_replacement_reuses_the_sequence(
    ledger: XrplLedger, vault: LocalVault, double: LedgerDouble, store: SqliteStore
) -> None:
    alice = await onboard(ledger, vault, "alice")
    double.engine.drop_next_submissions = 1
    await ledger.distribute("repay:1", "00" * 24, [Payout(alice, eur(250))])
    entry = await store.journal.get(f"repay:1/{alice.address}/pay")
    assert entry is not None and entry.status is JournalStatus.CONFIRMED
    superseded = entry.result["superseded"]
    assert len(superseded) == 1 and superseded[0] != entry.tx_id
    assert superseded[0] not in double.engine.txs  # the lost one never reached a ledger
    assert double.engine.txs[entry.tx_id].tx_json["Sequence"] == entry.sequence
    assert await ledger.stablecoin_balance(alice.address) == eur(250)


async def test_a_fee_spike_is_transient_and_a_retry_resumes(
    ledger: XrplLedger, vault: LocalVault, double: LedgerDouble, store: SqliteStore
) -> None:
    alice = await onboard(ledger, vault, "alice")
    double.engine.fees.open_ledger_fee = 100_000  # above the adapter's fee cap
    short = XrplLedger(make_config(double.url, submit_timeout=0.5), vault, store.journal)
    with pytest.raises(LedgerUnavailable):
        await short.distribute("repay:1", "00" * 24, [Payout(alice, eur(300))])
    assert await ledger.stablecoin_balance(alice.address) == eur(0)
    double.engine.fees.open_ledger_fee = 10
    await ledger.distribute("repay:1", "00" * 24, [Payout(alice, eur(300))])
    assert await ledger.stablecoin_balance(alice.address) == eur(300)
    await short.close()


async def test_investors_sign_only_what_the_ledger_requires_and_the_platform_pays(
    ledger: XrplLedger, vault: LocalVault, double: LedgerDouble
) -> None:
    alice = await onboard(ledger, vault, "alice")
    first = (await ledger.issue_instrument("issue:SME1", spec("SME1"))).ledger_ref
    second = (await ledger.issue_instrument("issue:SME2", spec("SME2"))).ledger_ref
    await ledger.settle_purchase("settle:o1", Purchase("o1", alice, first, 2, eur(20_000)))
    await ledger.settle_purchase("settle:o2", Purchase("o2", alice, second, 1, eur(10_000)))  # a 4th object
    await ledger.distribute("repay:1", first, [Payout(alice, eur(500), units_to_retire=1)])
    await ledger.burn_stablecoin("withdraw:1", alice, eur(100))
    signed = {r.tx_json["TransactionType"] for r in double.engine.txs.values() if r.tx_json["Account"] == alice.address}
    assert signed == {"TrustSet", "MPTokenAuthorize", "NFTokenAcceptOffer", "Payment"}
    funding = await ledger.platform("funding")
    received = [
        r.tx_json
        for r in double.engine.txs.values()
        if r.tx_json["TransactionType"] == "Payment"
        and r.tx_json.get("Destination") == alice.address
        and isinstance(r.tx_json.get("Amount"), str)  # XRP
    ]
    assert received and {tx["Account"] for tx in received} == {funding.address}
    root = double.engine.validated.accounts[alice.address]
    assert root.owner_count == 4  # trust line, NFT page, two MPTokens
    assert root.balance >= double.engine.fees.reserve(root.owner_count)


async def test_a_classification_nft_cannot_be_passed_on(ledger: XrplLedger, vault: LocalVault) -> None:
    from xrpl.models.transactions import NFTokenCreateOffer, NFTokenCreateOfferFlag

    alice = await onboard(ledger, vault, "alice")
    bob = await onboard(ledger, vault, "bob")
    nft = (await ledger._class_nfts(alice.address))[0]["NFTokenID"]
    offer = NFTokenCreateOffer(
        account=alice.address,
        nftoken_id=nft,
        amount="0",
        destination=bob.address,
        flags=NFTokenCreateOfferFlag.TF_SELL_NFTOKEN,
    )
    with pytest.raises(ComplianceRejected) as refused:
        await ledger.submitter.run("raw:pass-on", ledger._investor(alice), offer, "passing the NFT on")
    assert refused.value.reason == "tefNFTOKEN_IS_NOT_TRANSFERABLE"
    assert await ledger.classification_of(bob.address) is C.EU_ACCREDITED
    assert len(await ledger._class_nfts(bob.address)) == 1


async def test_a_restart_finishes_unfinished_transactions_from_the_journal(
    ledger: XrplLedger, vault: LocalVault, double: LedgerDouble, store: SqliteStore
) -> None:
    alice = await onboard(ledger, vault, "alice")
    await ledger.distribute("repay:1", "00" * 24, [Payout(alice, eur(800))])
    # The platform signs and journals the withdrawal, then dies before broadcasting it.
    double.engine.drop_next_submissions = 1
    short = XrplLedger(make_config(double.url, submit_timeout=0.01), vault, store.journal)
    with pytest.raises(LedgerUnavailable):
        await short.burn_stablecoin("withdraw:1", alice, eur(300))
    await short.close()
    entry = await store.journal.get("withdraw:1/burn")
    assert entry is not None and entry in await store.journal.unfinished("xrpl")
    restarted = XrplLedger(make_config(double.url), vault, store.journal)
    finished = await restarted.resume_unfinished()
    final = await store.journal.get("withdraw:1/burn")
    assert final is not None and final.status is JournalStatus.CONFIRMED and final.tx_id in finished
    assert await store.journal.unfinished("xrpl") == []
    submitted = len(double.engine.submissions)
    again = await restarted.burn_stablecoin("withdraw:1", alice, eur(300))
    assert again.tx_ids[-1] == final.tx_id and len(double.engine.submissions) == submitted
    assert await restarted.stablecoin_balance(alice.address) == eur(500)
    await restarted.close()


async def test_a_used_sequence_without_a_visible_transaction_is_never_re_signed(
    ledger: XrplLedger, vault: LocalVault, double: LedgerDouble, store: SqliteStore
) -> None:
    alice = await onboard(ledger, vault, "alice")
    await ledger.distribute("repay:1", "00" * 24, [Payout(alice, eur(100))])
    # The node lost that part of its history, and the journal never learnt the outcome.
    entry = await store.journal.get(f"repay:1/{alice.address}/pay")
    assert entry is not None and entry.tx_id is not None
    del double.engine.txs[entry.tx_id]
    entry.status = JournalStatus.SUBMITTED
    await store.journal.update(entry)
    applied = len(double.engine.txs)
    with pytest.raises(LedgerUnavailable, match="full-history"):
        await ledger.distribute("repay:1", "00" * 24, [Payout(alice, eur(100))])
    assert len(double.engine.txs) == applied  # nothing new applied
    assert await ledger.stablecoin_balance(alice.address) == eur(100)  # paid once


async def test_retrying_finished_multi_step_operations_changes_nothing(
    ledger: XrplLedger, vault: LocalVault, double: LedgerDouble
) -> None:
    alice = await onboard(ledger, vault, "alice")
    ref = (await ledger.issue_instrument("issue:SME1", spec())).ledger_ref
    settled = await ledger.settle_purchase("settle:o1", Purchase("o1", alice, ref, 2, eur(20_000)))
    reclassified = await ledger.record_classification("classify:alice:2", alice, C.EU_NON_ACCREDITED)
    applied = len(double.engine.txs)
    # The decisions made on the first run (top-ups, burns) are journaled: a retry replays them.
    assert await ledger.settle_purchase("settle:o1", Purchase("o1", alice, ref, 2, eur(20_000))) == settled
    assert await ledger.record_classification("classify:alice:2", alice, C.EU_NON_ACCREDITED) == reclassified
    assert len(double.engine.txs) == applied


async def test_two_processes_preparing_one_operation_apply_it_once_without_a_gap(
    ledger: XrplLedger, vault: LocalVault, store: SqliteStore, double: LedgerDouble
) -> None:
    """Two workers (two adapters over one journal) prepare the same operation at once: both sign
    with the same sequence, only the first blob journalled is submitted, and the funding account's
    next transaction is not held back by a skipped sequence."""
    alice, bob = await new_wallet(vault, ledger, "alice"), await new_wallet(vault, ledger, "bob")
    gate = SigningGate(vault, expected=2)
    first = XrplLedger(make_config(double.url), gate, store.journal)  # type: ignore[arg-type]
    second = XrplLedger(make_config(double.url), gate, store.journal)  # type: ignore[arg-type]
    try:
        count = len(double.engine.txs)
        results = await asyncio.gather(
            first.activate_wallet("activate:alice", alice), second.activate_wallet("activate:alice", alice)
        )
        assert gate.arrived == 2  # both really signed
        assert results[0] == results[1]
        raced = len(double.engine.txs) - count
        count = len(double.engine.txs)
        await first.activate_wallet("activate:bob", bob)  # validated promptly: no sequence gap
        assert raced == len(double.engine.txs) - count  # as many transactions as one activation
    finally:
        await first.close()
        await second.close()


async def test_a_repayment_sends_every_payment_before_the_first_ledger_closes(
    ledger: XrplLedger, vault: LocalVault, double: LedgerDouble, store: SqliteStore
) -> None:
    """The issuer's payments are pipelined: all are in the open ledger before any closes, so a
    repayment takes about one ledger close (3-5 s on mainnet), not one per holder."""
    holders = [await onboard(ledger, vault, f"pipe{n}") for n in range(5)]
    double.config.auto_close = False  # ledgers close only when the test says so
    closer = double._closer
    assert closer is not None
    closer.cancel()
    seen = len(double.engine.submissions)
    task = asyncio.create_task(
        ledger.distribute("repay:pipe", "00" * 24, [Payout(w, eur(100 * (n + 1))) for n, w in enumerate(holders)])
    )
    for _ in range(500):  # wait until every payment was submitted, with no ledger closed meanwhile
        if len(double.engine.submissions) - seen >= len(holders):
            break
        await asyncio.sleep(0.01)
    assert len(double.engine.submissions) - seen == len(holders) and not task.done()
    sequences = [(await store.journal.get(f"repay:pipe/{w.address}/pay")).sequence for w in holders]  # type: ignore[union-attr]
    assert sequences == list(range(sequences[0], sequences[0] + len(holders)))  # consecutive, in order
    double.engine.close()  # one close validates them all
    double.engine.close()
    result = await asyncio.wait_for(task, 10)
    assert len(result.tx_ids) == len(holders)
    for n, wallet in enumerate(holders):
        assert await ledger.stablecoin_balance(wallet.address) == eur(100 * (n + 1))


async def test_a_retirement_refused_for_a_locked_balance_names_the_holder_and_is_resent_without_it(
    ledger: XrplLedger, vault: LocalVault
) -> None:
    """Principal goes back holder by holder after every payment: a holder whose MPT balance was
    locked meanwhile refuses its own retirement. The refusal names it (the repayment process holds
    exactly that holder back), and the resend pays and retires everyone else once."""
    from xrpl.models.transactions import MPTokenIssuanceSet, MPTokenIssuanceSetFlag

    ref = (await ledger.issue_instrument("issue:RET1", spec("RET1"))).ledger_ref
    alice, bob = await onboard(ledger, vault, "ret-alice"), await onboard(ledger, vault, "ret-bob")
    for name, wallet in (("a", alice), ("b", bob)):
        await ledger.settle_purchase(f"settle:ret{name}", Purchase(f"ret{name}", wallet, ref, 5, eur(50_000)))
    company = await ledger.platform("instrument_issuer")
    lock = MPTokenIssuanceSet(
        account=company.address, mptoken_issuance_id=ref, holder=bob.address, flags=MPTokenIssuanceSetFlag.TF_MPT_LOCK
    )
    await ledger.submitter.run("lock:ret-bob", company, lock, "MPT lock")
    payouts = [Payout(alice, eur(100), 1), Payout(bob, eur(200), 2)]
    with pytest.raises(ComplianceRejected) as refusal:
        await ledger.distribute("repay:ret:0", ref, payouts)
    assert refusal.value.party == bob.address
    await ledger.distribute("repay:ret:0", ref, payouts[:1])
    assert await ledger.stablecoin_balance(alice.address) == eur(100)
    assert await ledger.units_of(ref, alice.address) == 4
    assert await ledger.units_of(ref, bob.address) == 5  # nothing retired from the locked holder
    # Bob's payment went through before his retirement was refused. The platform never locks units
    # without freezing the trust line first, and a frozen line refuses the payment before anything.
    assert await ledger.stablecoin_balance(bob.address) == eur(200)


async def test_a_compliance_refusal_of_an_issuer_payment_names_its_payee(ledger: XrplLedger, vault: LocalVault) -> None:
    """Whatever code the node gives (tecNO_AUTH, tecFROZEN, ...), a refused payment from the issuer
    is about its payee: the repayment process then holds back exactly that holder."""
    alice = await onboard(ledger, vault, "named")
    issuer = await ledger.platform("issuer")
    pay = Payment(account=issuer.address, destination=alice.address, amount=ledger._iou(issuer.address, eur(1)))
    named = await ledger._explain_dry_path(ComplianceRejected("refused", reason="tecNO_AUTH"), pay)
    assert isinstance(named, ComplianceRejected) and named.party == alice.address and named.reason == "tecNO_AUTH"
    other = await ledger._explain_dry_path(LedgerRejected("no funds", reason="tecUNFUNDED_PAYMENT"), pay)
    assert not isinstance(other, ComplianceRejected)  # not a compliance refusal: left as it is


async def test_principal_retirements_of_different_holders_go_out_side_by_side(
    ledger: XrplLedger, vault: LocalVault, double: LedgerDouble
) -> None:
    """Each holder returns its retired units in its own transaction: different accounts, so all are
    in the open ledger before the first close instead of one close each."""
    ref = (await ledger.issue_instrument("issue:SBS1", spec("SBS1"))).ledger_ref
    holders = [await onboard(ledger, vault, f"sbs{n}") for n in range(4)]
    for n, wallet in enumerate(holders):
        await ledger.settle_purchase(f"settle:sbs{n}", Purchase(f"sbs{n}", wallet, ref, 5, eur(50_000)))
    double.config.auto_close = False
    closer = double._closer
    assert closer is not None
    closer.cancel()
    seen = len(double.engine.submissions)
    task = asyncio.create_task(ledger.distribute("repay:sbs", ref, [Payout(w, eur(0), 2) for w in holders]))
    for _ in range(500):
        if len(double.engine.submissions) - seen >= len(holders):
            break
        await asyncio.sleep(0.01)
    assert len(double.engine.submissions) - seen == len(holders) and not task.done()
    double.engine.close()
    double.engine.close()
    result = await asyncio.wait_for(task, 10)
    assert len(result.tx_ids) == len(holders)
    assert [await ledger.units_of(ref, w.address) for w in holders] == [3] * len(holders)


async def test_health_shows_a_transaction_the_ledger_has_not_validated(
    ledger: XrplLedger, vault: LocalVault, store: SqliteStore, double: LedgerDouble
) -> None:
    """What `/ready` and the metrics read: the validated ledger's age, and the issuer's payment
    journalled but held back by a fee spike until the fee comes down."""
    alice = await onboard(ledger, vault, "alice")
    calm = await ledger.health()
    assert (calm.head_age_s, calm.unconfirmed, calm.sequence_gap) == (0.0, 0, 0)
    double.engine.fees.open_ledger_fee = 100_000  # above the adapter's fee cap
    short = XrplLedger(make_config(double.url, submit_timeout=0.5), vault, store.journal)
    try:
        with pytest.raises(LedgerUnavailable):
            await short.distribute("repay:1", "00" * 24, [Payout(alice, eur(300))])
        waiting = await ledger.health()
        assert waiting.unconfirmed == 1 and waiting.sequence_gap == 1
        assert waiting.oldest_unconfirmed_s is not None and waiting.oldest_unconfirmed_s >= 0
    finally:
        await short.close()
    double.engine.fees.open_ledger_fee = 10
    await ledger.distribute("repay:1", "00" * 24, [Payout(alice, eur(300))])
    done = await ledger.health()
    assert (done.unconfirmed, done.sequence_gap) == (0, 0)


async def test_a_worker_job_hands_its_slot_back_while_the_ledger_has_not_closed(
    vault: LocalVault, double: LedgerDouble, store: SqliteStore, ledger: XrplLedger
) -> None:
    """The worker's jobs wait only `LEDGER_WAIT` for a validated result: a transaction submitted
    but not validated yet gives the slot back (`LedgerPending`, come again after a ledger close)
    instead of holding it for `submit_timeout` (what stalled the XRPL soak for minutes). The job's
    next attempt finds it validated: one payment, paid once."""
    alice = await onboard(ledger, vault, "handback")
    patient = XrplLedger(make_config(double.url, submit_timeout=30.0, close_time_s=3.5), vault, store.journal)
    double.config.auto_close = False
    await double.restart_closer(None)  # no ledger closes until the test says so
    payout = [Payout(alice, eur(700))]
    waiting = LEDGER_WAIT.set(0.2)
    try:
        started = asyncio.get_running_loop().time()
        with pytest.raises(LedgerPending) as pending:
            await patient.distribute("repay:handback", "00" * 24, payout)
        assert asyncio.get_running_loop().time() - started < 5.0  # not the 30 s submit_timeout
        assert pending.value.retry_after_s == 3.5
        entry = await store.journal.get(f"repay:handback/{alice.address}/pay")
        assert entry is not None and entry.status is JournalStatus.SUBMITTED
        double.engine.close()
        double.engine.close()
        await patient.distribute("repay:handback", "00" * 24, payout)  # the job's next attempt
    finally:
        LEDGER_WAIT.reset(waiting)
        await patient.close()
    assert await ledger.stablecoin_balance(alice.address) == eur(700)
    paid = [
        r
        for r in double.engine.txs.values()
        if r.tx_json["TransactionType"] == "Payment"
        and r.tx_json.get("Destination") == alice.address
        and isinstance(r.tx_json.get("Amount"), dict)  # the stablecoin, not the XRP of activation
    ]
    assert len(paid) == 1


async def test_without_a_worker_wait_an_unvalidated_transaction_is_still_waited_for_then_unavailable(
    vault: LocalVault, double: LedgerDouble, store: SqliteStore, ledger: XrplLedger
) -> None:
    """An API call or a command (no `LEDGER_WAIT`) waits up to `submit_timeout` and then reports
    the ledger unavailable (transient), not `LedgerPending`: nobody comes back for it by itself."""
    alice = await onboard(ledger, vault, "nowait")
    short = XrplLedger(make_config(double.url, submit_timeout=0.6), vault, store.journal)
    double.config.auto_close = False
    await double.restart_closer(None)
    try:
        with pytest.raises(LedgerUnavailable) as unavailable:
            await short.distribute("repay:nowait", "00" * 24, [Payout(alice, eur(5))])
        assert not isinstance(unavailable.value, LedgerPending)
    finally:
        await short.close()
