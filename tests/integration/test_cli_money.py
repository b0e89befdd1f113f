"""`drexfy refunds` and `drexfy bank` as an operator runs them (in process, over the embedded store)."""

from __future__ import annotations

import argparse
import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from drexfy.adapters.sqlite import open_sqlite_store
from drexfy.domain.model import OrderStatus
from drexfy.entrypoints import cli_bank, cli_refunds
from tests.contract import builders as b
from tests.support.bank_files import Line, camt054


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("DREXFY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DREXFY_LEDGER__KIND", "memory")
    monkeypatch.setenv("DREXFY_BANK__NAME", "Drexfy Platform GmbH")
    monkeypatch.setenv("DREXFY_BANK__IBAN", "DE02120300000000202051")
    parser = argparse.ArgumentParser(prog="drexfy")
    commands = parser.add_subparsers(dest="command", required=True)
    for module in (cli_bank, cli_refunds):
        module.register(commands)

    def run(*argv: str) -> int:
        args = parser.parse_args(argv)
        return int(args.func(args))

    return run


async def _seed_refund_due(path: Path) -> None:
    store = await open_sqlite_store(path)
    order = b.order("ord_owed", status=OrderStatus.REFUND_DUE, reason="payment arrived after the order was cancelled")
    order.refund_failed("refund failed: expired_or_canceled_card", b.T0, b.T0 + timedelta(minutes=5))
    async with store.unit_of_work() as uow:
        await uow.orders.add(order)
        await uow.commit()
    await store.close()


def test_refunds_list_shows_operators_the_failed_refund_and_why_money_is_owed(cli, capsys, tmp_path):
    assert cli("refunds", "list") == 0
    assert "no money owed back" in capsys.readouterr().out
    asyncio.run(_seed_refund_due(tmp_path / "drexfy.sqlite"))
    assert cli("refunds", "list") == 0
    out = capsys.readouterr().out
    assert "ord_owed" in out and "attempts=1" in out and "expired_or_canceled_card" in out
    assert "payment arrived after the order was cancelled" in out


def test_bank_import_names_the_bad_element_and_lists_credits(cli, capsys, tmp_path):
    bad = tmp_path / "bad.xml"
    bad.write_bytes(camt054([Line("B1", "1.00")]).replace(b"<CdtDbtInd>DBIT", b"<CdtDbtInd>XX"))
    assert cli("bank", "import", str(bad)) == 2
    assert "Ntfctn[1]/Ntry[1]/CdtDbtInd" in capsys.readouterr().err
    good = tmp_path / "good.xml"
    good.write_bytes(camt054([Line("B2", "250.00", credit=True, remittance="DREXFY inv_1")]))
    assert cli("bank", "import", str(good)) == 0
    out = capsys.readouterr().out
    assert "credit B2: 250.00 EUR UNMATCHED (the remittance text names no investor we know)" in out
    assert cli("bank", "payouts", "--out", str(tmp_path / "p.xml")) == 0
    assert "nothing to pay out" in capsys.readouterr().out


def test_bank_deposits_lists_unmatched_credits_and_assign_names_what_is_wrong(cli, capsys, tmp_path):
    assert cli("bank", "deposits") == 0
    assert "no unmatched deposits" in capsys.readouterr().out
    statement = tmp_path / "in.xml"
    statement.write_bytes(camt054([Line("B9", "42.00", credit=True, remittance="for my account")]))
    assert cli("bank", "import", str(statement)) == 0
    capsys.readouterr()
    assert cli("bank", "deposits") == 0
    listed = capsys.readouterr().out
    assert "B9: 42.00 EUR UNMATCHED (the remittance text names no investor we know) [dep_" in listed
    deposit_id = listed.rsplit("[", 1)[1].split("]", 1)[0]
    assert cli("bank", "assign", deposit_id, "inv_nobody", "--operator", "ops@drexfy") == 2
    assert "inv_nobody" in capsys.readouterr().err
    assert cli("bank", "deposits", "--status", "MINTED", "--retry") == 0
    assert "minted 0 waiting deposit(s)" in capsys.readouterr().out
