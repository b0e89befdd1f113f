"""`drexfy agent force-transfer|recover-wallet` on anvil: the operator's command reaches the chain
with the agent key, records the reason and the actor, and can be run again with its operation id
without acting twice."""

from __future__ import annotations

import asyncio

from drexfy.entrypoints import cli_common
from drexfy.entrypoints.config import load_settings
from tests.http.test_cli import anvil_ledger  # noqa: F401 - fixture
from tests.support.anvil import anvil_node  # noqa: F401 - fixture


def test_force_transfer_and_recover_wallet_from_the_command_line(anvil_ledger, capsys):  # noqa: F811
    from drexfy.entrypoints.cli import main
    from tests.support.scenarios import buy, instrument, onboard

    async def seed() -> tuple[str, str, str]:
        async with cli_common.open_services(load_settings()) as svc:
            ana, bo = await onboard(svc, "ana"), await onboard(svc, "bo")
            pool = await instrument(svc)
            await buy(svc, ana, pool, 5)
            return ana, bo, pool

    async def books(pool: str, *investors: str) -> list[tuple[int, int]]:
        async with cli_common.open_services(load_settings()) as svc, svc.store.unit_of_work() as uow:
            ref = (await uow.instruments.get(pool)).ledger_ref
            rows = []
            for i in investors:
                wallet = (await uow.investors.get(i)).wallet
                rows.append((await uow.positions.units(i, pool), await svc.ledger.units_of(ref, wallet.address)))
            return rows

    ana, bo, pool = asyncio.run(seed())
    argv = ["agent", "force-transfer", "--instrument", pool, "--from", ana, "--to", bo, "--units", "2"]
    assert main([*argv, "--reason", "court order 9/2026", "--actor", "ops:carol"]) == 0
    out = capsys.readouterr().out
    operation = out.splitlines()[0].split()[1]
    assert f"2 unit(s) moved from {ana} to {bo}: 0x" in out
    assert asyncio.run(books(pool, ana, bo)) == [(3, 3), (2, 2)]
    # Run again with its operation id: nothing moves twice.
    assert main([*argv, "--reason", "court order 9/2026", "--actor", "ops:carol", "--operation-id", operation]) == 0
    capsys.readouterr()
    assert asyncio.run(books(pool, ana, bo)) == [(3, 3), (2, 2)]
    # More than the sender holds: refused, named, nothing written.
    assert main([*argv[:-1], "9", "--reason", "court order"]) == 2
    assert "holds 3 units" in capsys.readouterr().err

    assert main(["agent", "recover-wallet", ana, "--reason", "lost phone"]) == 0
    out = capsys.readouterr().out
    assert f"investor {ana} now holds wallet 0x" in out
    assert asyncio.run(books(pool, ana)) == [(3, 3)]
    assert main(["agent", "recover-wallet", "inv_missing", "--reason", "lost"]) == 2
