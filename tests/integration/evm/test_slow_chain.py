"""Settlement on a slow chain and after crashes, against anvil with mining stopped.

The two defects that refunded paid customers or stalled all settlement:
- two orders of one investor signed permits while the chain was not mining; the second one reverted
  once mined and was refunded, with a reason replayed from placeholder arguments;
- a nonce claimed by an operation that died before signing held every later transaction back.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator

import attrs
import pytest

from drexfy.adapters.evm import build_evm_ledger
from drexfy.domain.errors import LedgerRejected, LedgerUnavailable
from drexfy.domain.ports import LEDGER_WAIT, JournalStatus
from tests.integration.evm.test_ledger import (
    EU_ACC,
    Crash,
    Env,
    FailingVault,
    _close_every_adapter,  # noqa: F401 - autouse fixture
    env,  # noqa: F401 - fixture
    purchase,
)
from tests.support.anvil import AnvilNode, anvil_node  # noqa: F401 - fixture

pytestmark = pytest.mark.anvil


@contextlib.contextmanager
def not_mining(node: AnvilNode) -> Iterator[None]:
    """The node accepts transactions but mines nothing until the test mines a block."""
    node.rpc("evm_setAutomine", False)
    try:
        yield
    finally:
        node.rpc("evm_setAutomine", True)


@contextlib.contextmanager
def as_a_job(seconds: float) -> Iterator[None]:
    """Calls made inside wait `seconds` for inclusion, as the worker's jobs do (`LEDGER_WAIT`)."""
    token = LEDGER_WAIT.set(seconds)
    try:
        yield
    finally:
        LEDGER_WAIT.reset(token)


@pytest.fixture
async def quick(env: Env) -> AsyncIterator[Env]:  # noqa: F811
    """The env with receipts that time out after half a second (the job is retried later)."""
    config = attrs.evolve(env.config, receipt_timeout_s=0.5)
    ledger = await build_evm_ledger(config, env.vault, env.store.journal)
    try:
        yield attrs.evolve(env, ledger=ledger, config=config)
    finally:
        await ledger.close()


async def _block_of(of: Env, op_id: str) -> int:
    entry = await of.store.journal.get(op_id)
    assert entry is not None and entry.status is JournalStatus.CONFIRMED, entry
    return int(entry.result["block"])


async def test_two_orders_of_one_investor_on_a_stopped_chain_both_settle_in_one_block(
    quick: Env,
    anvil_node: AnvilNode,  # noqa: F811
) -> None:
    """The second order's permit chains on the first one's (next permit nonce, simulated on the
    pending state): both go out before any block, and one block settles both."""
    buyer = await quick.wallet("ada", EU_ACC)
    orders = [purchase("o1", buyer, quick.instrument, 1), purchase("o2", buyer, quick.instrument, 2)]
    with not_mining(anvil_node):
        for order in orders:
            with pytest.raises(LedgerUnavailable):  # not mined within the receipt timeout
                await quick.ledger.settle_purchase(f"settle:{order.order_id}", order)
        anvil_node.rpc("evm_mine")
    for order in orders:  # the jobs' retries find their transactions mined
        await quick.ledger.settle_purchase(f"settle:{order.order_id}", order)
    assert await quick.ledger.units_of(quick.instrument, buyer.address) == 3
    assert await _block_of(quick, "settle:o1") == await _block_of(quick, "settle:o2")


async def test_a_permit_overtaken_while_the_chain_stood_still_is_retried_not_refused(
    quick: Env,
    anvil_node: AnvilNode,  # noqa: F811
) -> None:
    """Two worker processes (no shared memory) settle two orders of one investor while the chain is
    not mining, and the node forgot the first transaction (a restart), so the second process cannot
    see it pending: both sign the same permit nonce, and once mined the second reverts. Its retry
    must read the real revert (from the journalled transaction, not from placeholder arguments),
    see a stale permit, and settle with a fresh one: a paid, eligible order is never refunded."""
    buyer = await quick.wallet("bea", EU_ACC)
    other = await build_evm_ledger(quick.config, quick.vault, quick.store.journal)
    o1, o2 = purchase("o3", buyer, quick.instrument, 1), purchase("o4", buyer, quick.instrument, 2)
    try:
        with not_mining(anvil_node):
            with pytest.raises(LedgerUnavailable):
                await quick.ledger.settle_purchase("settle:o3", o1)
            forgotten = await quick.store.journal.get("settle:o3")
            assert forgotten is not None
            anvil_node.rpc("anvil_dropAllTransactions")
            # The second process signs the same permit nonce; the first order's transaction comes
            # back and is mined just before the second's goes out, so they land in different blocks.
            other.relayer.before_broadcast = lambda entry: (
                anvil_node.rpc("eth_sendRawTransaction", forgotten.payload),
                anvil_node.rpc("evm_mine"),
            )
            with pytest.raises(LedgerUnavailable):
                await other.settle_purchase("settle:o4", o2)
            other.relayer.before_broadcast = None
            first = await quick.store.journal.get("settle:o3")
            second = await quick.store.journal.get("settle:o4")
            assert first and second and first.result["permit_nonce"] == second.result["permit_nonce"]
            anvil_node.rpc("evm_mine")
        await quick.ledger.settle_purchase("settle:o3", o1)
        with pytest.raises(LedgerUnavailable, match="overtaken"):
            await other.settle_purchase("settle:o4", o2)
        reopened = await quick.store.journal.get("settle:o4")
        assert reopened is not None and reopened.status is JournalStatus.PREPARED and reopened.payload is None
        assert reopened.result["reopened"] == [second.tx_id]
        # The reason replayed from the journalled input, not ERC2612ExpiredSignature(deadline=0).
        assert reopened.result["reverted_reason"] == "ERC2612InvalidSigner"
        await other.settle_purchase("settle:o4", o2)
        assert await quick.ledger.units_of(quick.instrument, buyer.address) == 3
    finally:
        await other.close()


async def test_two_processes_chain_one_investors_permits_through_the_pending_state(
    quick: Env,
    anvil_node: AnvilNode,  # noqa: F811
) -> None:
    """Two worker processes (no shared memory) settle two orders of one investor on a stopped
    chain: the second sees the first's permit pending at the node and takes the next permit nonce,
    so both settle in the same block and nothing reverts."""
    buyer = await quick.wallet("cai", EU_ACC)
    other = await build_evm_ledger(quick.config, quick.vault, quick.store.journal)
    o1, o2 = purchase("o5", buyer, quick.instrument, 1), purchase("o6", buyer, quick.instrument, 2)
    try:
        with not_mining(anvil_node):
            with pytest.raises(LedgerUnavailable):
                await quick.ledger.settle_purchase("settle:o5", o1)
            with pytest.raises(LedgerUnavailable):
                await other.settle_purchase("settle:o6", o2)
            first = await quick.store.journal.get("settle:o5")
            second = await quick.store.journal.get("settle:o6")
            assert first and second and second.result["permit_nonce"] == first.result["permit_nonce"] + 1
            anvil_node.rpc("evm_mine")
        await quick.ledger.settle_purchase("settle:o5", o1)
        await other.settle_purchase("settle:o6", o2)
        assert await quick.ledger.units_of(quick.instrument, buyer.address) == 3
        assert await _block_of(quick, "settle:o5") == await _block_of(quick, "settle:o6")
    finally:
        await other.close()


async def test_a_nonce_claimed_by_an_operation_that_died_is_spent_by_the_keeper(env: Env) -> None:  # noqa: F811
    """An operation takes a nonce and dies before signing (its job comes back much later, or
    never): every later transaction of the relayer waits behind the hole. The keeper spends the
    nonce on a no-op once the claim has stood unsigned for its grace period; later settlements are
    mined, and the operation that died settles on its own retry with a new nonce."""
    config = attrs.evolve(env.config, receipt_timeout_s=1.0, keeper_grace_s=0.3)
    flaky = await build_evm_ledger(config, FailingVault(env.vault), env.store.journal)  # type: ignore[arg-type]
    keeper = await build_evm_ledger(config, env.vault, env.store.journal)
    try:
        buyer, other = await env.wallet("dan", EU_ACC), await env.wallet("eve", EU_ACC)
        before = await env.relayer_nonce()
        with pytest.raises(Crash):  # nonce `before` claimed, never signed
            await flaky.settle_purchase("settle:o7", purchase("o7", buyer, env.instrument, 1))
        with pytest.raises(LedgerUnavailable):  # nonce before + 1: stuck behind the hole
            await keeper.settle_purchase("settle:o8", purchase("o8", other, env.instrument, 1))
        assert await env.relayer_nonce() == before

        await keeper.maintain()  # first sight of the unsigned claim: within its grace, left alone
        assert await env.relayer_nonce() == before
        await asyncio.sleep(0.4)
        await keeper.maintain()  # past the grace: the hole is filled, the queue behind it mined
        for _ in range(50):
            if await env.relayer_nonce() == before + 2:
                break
            await asyncio.sleep(0.1)
        assert await env.relayer_nonce() == before + 2
        await keeper.settle_purchase("settle:o8", purchase("o8", other, env.instrument, 1))
        assert await keeper.units_of(env.instrument, other.address) == 1

        await keeper.maintain()  # the filler is mined: its operation is handed back, unsigned
        entry = await env.store.journal.get("settle:o7")
        assert entry is not None and entry.status is JournalStatus.PREPARED and entry.payload is None
        assert entry.result["nonce_filled"]["nonce"] == before and entry.result["attempt"] == 1
        await keeper.settle_purchase("settle:o7", purchase("o7", buyer, env.instrument, 1))
        assert await keeper.units_of(env.instrument, buyer.address) == 1
    finally:
        await flaky.close()
        await keeper.close()


async def test_an_operation_whose_nonce_was_filled_meanwhile_is_retried_not_refused(env: Env) -> None:  # noqa: F811
    """The dead operation's own retry comes back after the keeper journalled the filler but before
    it was finalised: it sends the filler, and ends as a transient error, never as a refusal."""
    config = attrs.evolve(env.config, keeper_grace_s=0.1)
    flaky = await build_evm_ledger(config, FailingVault(env.vault), env.store.journal)  # type: ignore[arg-type]
    try:
        buyer = await env.wallet("fay", EU_ACC)
        with pytest.raises(Crash):
            await flaky.settle_purchase("settle:o9", purchase("o9", buyer, env.instrument, 1))
        await flaky.maintain()
        await asyncio.sleep(0.2)
        await flaky.maintain()  # journals and sends the filler; nobody finalises it yet
        entry = await env.store.journal.get("settle:o9")
        assert entry is not None and entry.result.get("gap") and entry.payload
        try:
            await flaky.settle_purchase("settle:o9", purchase("o9", buyer, env.instrument, 1))
        except LedgerRejected as refused:  # pragma: no cover - the defect
            pytest.fail(f"a filled nonce refused the operation: {refused}")
        except LedgerUnavailable:
            pass  # the filler was mined: the operation prepares afresh next time
        await flaky.settle_purchase("settle:o9", purchase("o9", buyer, env.instrument, 1))
        assert await flaky.units_of(env.instrument, buyer.address) == 1
    finally:
        await flaky.close()


async def test_health_shows_unconfirmed_transactions_and_unsigned_claims_on_a_stopped_chain(
    quick: Env,
    anvil_node: AnvilNode,  # noqa: F811
) -> None:
    """What `/ready` and the metrics read: on a chain that stopped mining, the relayer's journalled
    transaction is unconfirmed and the chain has not seen its nonce used; a claim whose operation
    died before signing counts too. All of it clears once blocks come and the keeper ran."""
    buyer = await quick.wallet("gus", EU_ACC)
    healthy = await quick.ledger.health()
    assert (healthy.unconfirmed, healthy.sequence_gap, healthy.unsigned_claims) == (0, 0, 0)
    assert healthy.head_age_s is not None and healthy.head_age_s >= 0
    with not_mining(anvil_node):
        with pytest.raises(LedgerUnavailable):
            await quick.ledger.settle_purchase("settle:o20", purchase("o20", buyer, quick.instrument, 1))
        flaky = await build_evm_ledger(quick.config, FailingVault(quick.vault), quick.store.journal)  # type: ignore[arg-type]
        try:
            with pytest.raises(Crash):
                await flaky.settle_purchase("settle:o21", purchase("o21", buyer, quick.instrument, 1))
        finally:
            await flaky.close()
        stuck = await quick.ledger.health()
        assert (stuck.unconfirmed, stuck.sequence_gap, stuck.unsigned_claims) == (1, 2, 1)
        assert stuck.oldest_unconfirmed_s is not None and stuck.oldest_unconfirmed_s >= 0
        anvil_node.rpc("evm_mine")
    await quick.ledger.settle_purchase("settle:o20", purchase("o20", buyer, quick.instrument, 1))
    await quick.ledger.settle_purchase("settle:o21", purchase("o21", buyer, quick.instrument, 1))
    done = await quick.ledger.health()
    assert (done.unconfirmed, done.sequence_gap, done.unsigned_claims) == (0, 0, 0)


async def test_a_job_hands_back_after_its_short_wait_and_an_operator_call_waits_longer(
    env: Env,  # noqa: F811
    anvil_node: AnvilNode,  # noqa: F811
) -> None:
    """The worker's jobs wait `LEDGER_WAIT` for inclusion and hand back `LedgerPending` with the
    block time; an API call or a command (no LEDGER_WAIT) waits the adapter's receipt timeout."""
    import time

    from drexfy.domain.errors import LedgerPending

    config = attrs.evolve(env.config, receipt_timeout_s=2.0, block_time_s=6.0)
    ledger = await build_evm_ledger(config, env.vault, env.store.journal)
    buyer = await env.wallet("hal", EU_ACC)
    try:
        with not_mining(anvil_node):
            started = time.monotonic()
            with as_a_job(0.2), pytest.raises(LedgerPending) as pending:
                await ledger.settle_purchase("settle:o30", purchase("o30", buyer, env.instrument, 1))
            assert time.monotonic() - started < 1.5 and pending.value.retry_after_s == 6.0
            started = time.monotonic()
            with pytest.raises(LedgerPending):  # no job context: the receipt timeout
                await ledger.settle_purchase("settle:o30", purchase("o30", buyer, env.instrument, 1))
            assert time.monotonic() - started >= 2.0
            anvil_node.rpc("evm_mine")
        await ledger.settle_purchase("settle:o30", purchase("o30", buyer, env.instrument, 1))
        assert await ledger.units_of(env.instrument, buyer.address) == 1
    finally:
        await ledger.close()


async def test_the_keeper_sends_again_what_a_node_forgot(env: Env, anvil_node: AnvilNode) -> None:  # noqa: F811
    """A node restarted and lost its pool: the journalled transaction waits forever unless someone
    broadcasts it again. The keeper does, for the oldest nonce of the account (the one the others
    wait for), once it has waited past the grace period."""
    config = attrs.evolve(env.config, keeper_grace_s=0.1)
    ledger = await build_evm_ledger(config, env.vault, env.store.journal)
    buyer = await env.wallet("ida", EU_ACC)
    try:
        with not_mining(anvil_node):
            with as_a_job(0.2), pytest.raises(LedgerUnavailable):
                await ledger.settle_purchase("settle:o40", purchase("o40", buyer, env.instrument, 1))
            anvil_node.rpc("anvil_dropAllTransactions")  # the node forgot its queue
            anvil_node.rpc("evm_mine")
            assert await ledger.units_of(env.instrument, buyer.address) == 0
            await asyncio.sleep(0.2)
            await ledger.maintain()  # past the grace: broadcast again
            anvil_node.rpc("evm_mine")
        assert await ledger.units_of(env.instrument, buyer.address) == 1
        await ledger.settle_purchase("settle:o40", purchase("o40", buyer, env.instrument, 1))
        entry = await env.store.journal.get("settle:o40")
        assert entry is not None and entry.status is JournalStatus.CONFIRMED
    finally:
        await ledger.close()


@contextlib.contextmanager
def mining_every(node: AnvilNode, seconds: int) -> Iterator[None]:
    """The node makes a block every `seconds` (as Moonbeam does every 6 s), not one per transaction."""
    node.rpc("evm_setIntervalMining", seconds)
    try:
        yield
    finally:
        node.rpc("evm_setIntervalMining", 0)
        node.rpc("evm_setAutomine", True)


async def test_on_a_chain_with_block_times_a_job_hands_back_at_once_and_comes_back_after_the_next_block(
    env: Env,  # noqa: F811
    anvil_node: AnvilNode,  # noqa: F811
) -> None:
    """A job's transaction cannot be included before the next block. When the chain is seen to make
    a block every `block_time_s` and none is due within the job's short wait, the job hands back
    after one look at the chain instead of holding its worker slot for the whole wait, and is told
    to come back just after the next block is due; it then finds its receipt."""
    import time

    from drexfy.domain.errors import LedgerPending

    block_time = 2
    config = attrs.evolve(env.config, block_time_s=float(block_time))
    ledger = await build_evm_ledger(config, env.vault, env.store.journal)
    buyer = await env.wallet("ivo", EU_ACC)
    confirmer = ledger.relayer.confirmer  # type: ignore[attr-defined]
    try:
        with mining_every(anvil_node, block_time):
            # Watch two blocks go by (the worker's confirmer does while anything waits), then start
            # right after a new head: the next block is a whole block time away.
            await confirmer.receipt(("0x" + "00" * 32,), blocks=2, seconds=10)
            head = confirmer.head
            while (await confirmer.receipt(("0x" + "00" * 32,), blocks=None, seconds=0.05, rounds=1)) is None:
                if confirmer.head != head:
                    break
            started = time.monotonic()
            with as_a_job(1.0), pytest.raises(LedgerPending) as pending:
                await ledger.settle_purchase("settle:o50", purchase("o50", buyer, env.instrument, 1))
            # Not the whole 1 s wait (the old behaviour held the job that long for nothing).
            assert time.monotonic() - started < 0.8
            retry_after = pending.value.retry_after_s
            assert 0.5 < retry_after <= block_time + 1.0
            await asyncio.sleep(retry_after)
            with as_a_job(1.0):
                await ledger.settle_purchase("settle:o50", purchase("o50", buyer, env.instrument, 1))
        assert await ledger.units_of(env.instrument, buyer.address) == 1
    finally:
        await ledger.close()
