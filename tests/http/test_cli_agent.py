"""`drexfy agent force-transfer|recover-wallet` on anvil.

Four-eyes from the shell (the default): the command signs an operator in (password and TOTP code on
stdin) and only records a pending request; a second operator's `drexfy approvals approve` moves the
units, once, and the record names both. The requester cannot approve their own request, nobody can
ask without signing in, and a wrong code is refused. With the kind left out of `approvals.required`
the command acts at once, records the reason and the actor, and can be run again with its operation
id without acting twice."""

from __future__ import annotations

import asyncio
import io
import sys
from datetime import UTC, datetime, timedelta

import pytest

from drexfy.entrypoints import cli_common
from drexfy.entrypoints.config import load_settings
from tests.http.test_cli import anvil_ledger  # noqa: F401 - fixture
from tests.support.anvil import anvil_node  # noqa: F401 - fixture

PASSWORD = "correct horse battery"


def _seed() -> tuple[str, str, str]:
    from tests.support.scenarios import buy, instrument, onboard

    async def seed() -> tuple[str, str, str]:
        async with cli_common.open_services(load_settings()) as svc:
            ana, bo = await onboard(svc, "ana"), await onboard(svc, "bo")
            pool = await instrument(svc)
            await buy(svc, ana, pool, 5)
            return ana, bo, pool

    return asyncio.run(seed())


def _books(pool: str, *investors: str) -> list[tuple[int, int]]:
    async def books() -> list[tuple[int, int]]:
        async with cli_common.open_services(load_settings()) as svc, svc.store.unit_of_work() as uow:
            ref = (await uow.instruments.get(pool)).ledger_ref
            rows = []
            for i in investors:
                wallet = (await uow.investors.get(i)).wallet
                rows.append((await uow.positions.units(i, pool), await svc.ledger.units_of(ref, wallet.address)))
            return rows

    return asyncio.run(books())


def _enrol(*names: str, role: str = "admin") -> dict[str, tuple[str, str]]:
    """Operators enrolled as `drexfy operators add` does: name -> (operator id, TOTP secret)."""
    from drexfy.entrypoints.identity.operators import OperatorDirectory

    async def enrol() -> dict[str, tuple[str, str]]:
        async with cli_common.open_services(load_settings()) as svc:
            directory = OperatorDirectory(svc.store.access, svc.clock, svc.ids, svc.vault)
            added = {n: await directory.add(n, [role], PASSWORD) for n in names}
            return {n: (o.id, o.totp_secret) for n, o in added.items()}

    return asyncio.run(enrol())


def _signs_in(monkeypatch: pytest.MonkeyPatch, secret: str, step: int = 0, password: str = PASSWORD) -> None:
    """The password and the code of the current TOTP step (+ `step`: a code is accepted once) on stdin."""
    from drexfy.entrypoints.identity.operators import totp_code

    code = totp_code(secret, datetime.now(UTC) + timedelta(seconds=30 * step))
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{password}\n{code}\n"))


def _approval_id(out: str) -> str:
    first = out.splitlines()[0].split()
    assert first[0] == "approval" and first[2] == "PENDING", out
    return first[1]


def _recorded(aggregate_id: str, name: str) -> list[dict[str, object]]:
    async def events() -> list[dict[str, object]]:
        async with cli_common.open_services(load_settings()) as svc, svc.store.unit_of_work() as uow:
            return [e.payload for e in await uow.events.list(aggregate_id=aggregate_id, limit=500) if e.name == name]

    return asyncio.run(events())


def test_forced_transfer_and_wallet_recovery_wait_for_a_second_signed_in_admin(
    anvil_ledger,  # noqa: F811
    capsys,
    monkeypatch,
):
    from drexfy.entrypoints.cli import main

    ana, bo, pool = _seed()
    people = _enrol("carol", "dave", "erin")
    (carol, carol_totp), (dave, dave_totp), (_, erin_totp) = people["carol"], people["dave"], people["erin"]
    argv = ["agent", "force-transfer", "--instrument", pool, "--from", ana, "--to", bo, "--units", "2"]

    # Nobody asks without signing in; a wrong code is refused; nothing is recorded or moved.
    assert main([*argv, "--reason", "court order 9/2026"]) == 2
    assert "needs a second person's approval (admin role)" in capsys.readouterr().err
    _signs_in(monkeypatch, carol_totp, password="not the password")
    assert main([*argv, "--reason", "court order 9/2026", "--operator", "carol"]) == 2
    assert "the name, password or code is wrong" in capsys.readouterr().err

    # Carol asks: a pending request, nothing moves.
    _signs_in(monkeypatch, carol_totp)
    assert main([*argv, "--reason", "court order 9/2026", "--operator", "carol"]) == 0
    approval = _approval_id(capsys.readouterr().out)
    assert _books(pool, ana, bo) == [(5, 5), (0, 0)]
    assert main(["approvals", "list"]) == 0
    assert approval in capsys.readouterr().out

    # Carol cannot approve her own request.
    _signs_in(monkeypatch, carol_totp, step=1)
    assert main(["approvals", "approve", approval, "--reason", "ok", "--operator", "carol"]) == 2
    assert "cannot decide their own request" in capsys.readouterr().err
    assert _books(pool, ana, bo) == [(5, 5), (0, 0)]

    # Dave approves: the units move, once; the record names both people.
    _signs_in(monkeypatch, dave_totp)
    assert main(["approvals", "approve", approval, "--reason", "checked the order", "--operator", "dave"]) == 0
    assert f"approval {approval} DONE" in capsys.readouterr().out
    assert _books(pool, ana, bo) == [(3, 3), (2, 2)]
    [moved] = _recorded(pool, "UnitsForceTransferred")
    assert moved["actor"] == f"{carol}, approved by {dave}"
    assert moved["reason"] == "court order 9/2026"
    _signs_in(monkeypatch, erin_totp)
    assert main(["approvals", "approve", approval, "--reason", "again", "--operator", "erin"]) == 2
    assert "DONE" in capsys.readouterr().err
    assert _books(pool, ana, bo) == [(3, 3), (2, 2)]

    # A wallet recovery the same way: asked by Dave, approved by Erin (an unknown investor is refused first).
    _signs_in(monkeypatch, dave_totp, step=1)
    assert main(["agent", "recover-wallet", "inv_missing", "--reason", "lost", "--operator", "dave"]) == 2
    _signs_in(monkeypatch, dave_totp, step=1)
    assert main(["agent", "recover-wallet", ana, "--reason", "lost phone", "--operator", "dave"]) == 0
    recovery = _approval_id(capsys.readouterr().out)
    _signs_in(monkeypatch, erin_totp, step=1)
    assert main(["approvals", "approve", recovery, "--reason", "identity checked", "--operator", "erin"]) == 0
    assert "wallet_address: 0x" in capsys.readouterr().out
    assert _books(pool, ana) == [(3, 3)]


def test_without_four_eyes_the_command_acts_at_once_and_resumes_by_operation_id(
    anvil_ledger,  # noqa: F811
    capsys,
    monkeypatch,
):
    from drexfy.entrypoints.cli import main

    monkeypatch.setenv("DREXFY_APPROVALS__REQUIRED", "unblock")
    ana, bo, pool = _seed()
    argv = ["agent", "force-transfer", "--instrument", pool, "--from", ana, "--to", bo, "--units", "2"]
    assert main([*argv, "--reason", "court order 9/2026", "--actor", "ops:carol"]) == 0
    out = capsys.readouterr().out
    operation = out.splitlines()[0].split()[1]
    assert f"2 unit(s) moved from {ana} to {bo}: 0x" in out
    assert _books(pool, ana, bo) == [(3, 3), (2, 2)]
    # Run again with its operation id: nothing moves twice.
    assert main([*argv, "--reason", "court order 9/2026", "--actor", "ops:carol", "--operation-id", operation]) == 0
    capsys.readouterr()
    assert _books(pool, ana, bo) == [(3, 3), (2, 2)]
    # More than the sender holds: refused, named, nothing written.
    assert main([*argv[:-1], "9", "--reason", "court order"]) == 2
    assert "holds 3 units" in capsys.readouterr().err

    assert main(["agent", "recover-wallet", ana, "--reason", "lost phone"]) == 0
    out = capsys.readouterr().out
    assert f"investor {ana} now holds wallet 0x" in out
    assert _books(pool, ana) == [(3, 3)]
    assert main(["agent", "recover-wallet", "inv_missing", "--reason", "lost"]) == 2
