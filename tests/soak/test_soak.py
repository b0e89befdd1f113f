"""The fault harness, small (the same run `make soak` does at size): every paid, eligible order
settles exactly once through worker kills timed on in-flight ledger operations and a chain that
stopped mining past the receipt timeout; nothing is refunded; the books reconcile. On anvil (SQLite
and DynamoDB) and on the XRPL double."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.soak.harness import SoakConfig, run_soak

pytestmark = pytest.mark.anvil


@pytest.mark.timeout(600)
@pytest.mark.parametrize(("store", "ledger"), [("sqlite", "evm"), ("dynamodb", "evm"), ("sqlite", "xrpl")])
def test_paid_orders_settle_once_through_worker_kills_a_halted_and_a_hung_chain(
    tmp_path: Path, store: str, ledger: str
) -> None:
    config = SoakConfig(investors=3, orders_per_investor=2, kills=3, store=store, ledger=ledger)
    report = run_soak(tmp_path, config)
    print("\n".join(report.lines()))
    assert report.kills >= 2, "the faults did not happen"
    assert report.refunded == {}, report.lines()
    assert (report.settled, report.unfinished, report.duplicates) == (report.paid, 0, 0), report.lines()
    assert report.reconcile_exit == 0, report.reconcile_output
    assert report.max_stall_s < 60, report.lines()
