"""The Ledger port's audit anchors on every ledger (memory, EVM on anvil, XRPL double): a head is
published once per operation id, read back from its transaction, and never moved backwards."""

from __future__ import annotations

import hashlib
import time

import pytest

from drexfy.domain.errors import LedgerRejected
from tests.contract.test_ledger_contract import Bench, bench  # noqa: F401 - the parametrised fixture


def _head(n: int) -> str:
    return hashlib.sha256(f"head {n}".encode()).hexdigest()


def test_a_head_is_anchored_once_and_read_back(bench: Bench) -> None:  # noqa: F811
    # The EVM and XRPL stacks share one chain per test process: sequence numbers from the clock.
    seq = time.time_ns() // 1000
    first = bench.run(bench.ledger.anchor_audit_head(f"audit-anchor:{seq}", seq, _head(seq)))
    assert len(first.tx_ids) == 1
    again = bench.run(bench.ledger.anchor_audit_head(f"audit-anchor:{seq}", seq, _head(seq)))
    assert again.tx_ids == first.tx_ids  # at most once per operation id
    anchor = bench.run(bench.ledger.audit_anchor(first.tx_ids[0]))
    assert anchor is not None
    assert (anchor.seq, anchor.head_hash, anchor.tx_id) == (seq, _head(seq), first.tx_ids[0])
    # listed from the ledger alone, once, with the same transaction id as the port returned
    listed = [a for a in bench.run(bench.ledger.published_audit_anchors()) if a.seq == seq]
    assert listed == [anchor]


def test_a_transaction_that_anchored_nothing_reads_as_none(bench: Bench) -> None:  # noqa: F811
    wallet = bench.wallet()
    other = bench.run(bench.ledger.set_frozen(f"freeze:{wallet.id}", wallet, True, []))
    assert bench.run(bench.ledger.audit_anchor(other.tx_ids[0])) is None
    assert other.tx_ids[0] not in {a.tx_id for a in bench.run(bench.ledger.published_audit_anchors())}


def test_heads_only_move_forward(bench: Bench) -> None:  # noqa: F811
    if bench.ledger.kind == "xrpl":
        pytest.skip("the XRP Ledger keeps no anchoring state; the process only anchors newer heads")
    seq = time.time_ns() // 1000
    bench.run(bench.ledger.anchor_audit_head(f"audit-anchor:{seq}", seq, _head(seq)))
    with pytest.raises(LedgerRejected, match="anchored up to"):
        bench.run(bench.ledger.anchor_audit_head(f"audit-anchor:{seq - 1}", seq - 1, _head(seq - 1)))
