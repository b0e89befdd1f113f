"""`drexfy audit verify` over the configured store, and `jobs retry` recorded as the operator's."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from drexfy.domain import events as ev
from drexfy.domain.processes.audit import all_entries
from drexfy.entrypoints.cli import main
from drexfy.entrypoints.cli_common import load, open_services
from tests.contract.builders import T0


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("DREXFY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DREXFY_LEDGER__KIND", "memory")
    return tmp_path


async def _record_three() -> tuple[str, list[str]]:
    import argparse

    async with open_services(load(argparse.Namespace())) as services:
        for n in range(3):
            async with services.store.unit_of_work() as uow:
                uow.record(ev.InstrumentMatured(aggregate_id=f"ins_{n}", occurred_at=T0))
                await uow.commit()
        entries = [e async for e in all_entries(services.store)]
        return services.store.path, [e.actor for e in entries]


def test_verify_says_intact_then_names_the_edited_entry(data_dir, capsys):
    path, actors = asyncio.run(_record_three())
    assert all(actor.startswith("cli:") for actor in actors)  # made through an operator command
    assert main(["audit", "verify"]) == 0
    assert "intact: 3 entries" in capsys.readouterr().out

    with sqlite3.connect(path) as conn:
        conn.execute("DROP TRIGGER audit_log_no_update")
        conn.execute("UPDATE audit_log SET subject = 'ins_9' WHERE seq = 2")
    assert main(["audit", "verify"]) == 1
    assert "edited at entry 2" in capsys.readouterr().err
