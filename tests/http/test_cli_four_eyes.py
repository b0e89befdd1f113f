"""Four-eyes from the shell for the other sensitive commands, on anvil: `drexfy compliance dismiss`
(lifts a block), `drexfy bank assign` (mints money to an investor) and `drexfy repayments trigger`
above `approvals.repayment_threshold_minor` each record a pending request of a signed-in operator,
are refused without one, and take effect only when a second operator approves it."""

from __future__ import annotations

import asyncio

from drexfy.domain import processes as p
from drexfy.domain.deposit import DepositStatus
from drexfy.entrypoints import cli_common
from drexfy.entrypoints.config import load_settings
from tests.http.test_cli import anvil_ledger  # noqa: F401 - fixture
from tests.http.test_cli_agent import _approval_id, _enrol, _signs_in
from tests.support.anvil import anvil_node  # noqa: F401 - fixture
from tests.support.bank_files import Line, camt054


def test_dismissal_assignment_and_large_repayment_wait_for_a_second_person(
    anvil_ledger,  # noqa: F811
    capsys,
    monkeypatch,
):
    from drexfy.entrypoints.cli import main
    from tests.support.scenarios import buy, instrument, onboard

    monkeypatch.setenv("DREXFY_BANK__NAME", "Drexfy Platform GmbH")
    monkeypatch.setenv("DREXFY_BANK__IBAN", "DE02120300000000202051")
    monkeypatch.setenv("DREXFY_APPROVALS__REPAYMENT_THRESHOLD_MINOR", "1000")  # 10.00 EUR

    async def seed() -> tuple[str, str, str]:
        async with cli_common.open_services(load_settings()) as svc:
            ana = await onboard(svc, "ana")
            pool = await instrument(svc)
            await buy(svc, ana, pool, 5)
            await p.block_investor(svc, ana, "name match", "officer:compliance")
            report = await p.import_statement(svc, camt054([Line("B7", "42.00", credit=True, remittance="for me")]))
            [deposit] = report.deposits
            return ana, pool, deposit.id

    async def state(ana: str, pool: str, deposit: str) -> tuple[bool, bool, str, int]:
        async with cli_common.open_services(load_settings()) as svc, svc.store.unit_of_work() as uow:
            investor = await uow.investors.get(ana)
            assert investor.wallet is not None
            frozen = await svc.ledger.is_frozen(investor.wallet.address)
            repayments = await uow.repayments.by_instrument(pool)
            return investor.is_blocked, frozen, (await uow.deposits.get(deposit)).status.value, len(repayments)

    ana, pool, deposit = asyncio.run(seed())
    people = {**_enrol("carol", "dave", "erin"), **_enrol("olga", "pedro", role="compliance")}
    totp = {n: secret for n, (_, secret) in people.items()}
    assert asyncio.run(state(ana, pool, deposit)) == (True, True, DepositStatus.UNMATCHED.value, 0)

    # Dismissing the alert lifts the block: asked by Olga, approved by Pedro.
    assert main(["compliance", "dismiss", ana, "--reason", "false positive"]) != 0
    assert "needs a second person's approval (compliance role)" in capsys.readouterr().err
    _signs_in(monkeypatch, totp["olga"])
    assert main(["compliance", "dismiss", ana, "--reason", "false positive", "--operator", "olga"]) == 0
    dismissal = _approval_id(capsys.readouterr().out)
    assert asyncio.run(state(ana, pool, deposit))[:2] == (True, True)
    _signs_in(monkeypatch, totp["pedro"])
    assert main(["approvals", "approve", dismissal, "--reason", "checked", "--operator", "pedro"]) == 0
    capsys.readouterr()
    assert asyncio.run(state(ana, pool, deposit))[:2] == (False, False)

    # An unmatched credit given to Ana: asked by Carol, minted only when Erin approves.
    assert main(["bank", "assign", deposit, ana]) == 2
    assert "needs a second person's approval (admin role)" in capsys.readouterr().err
    _signs_in(monkeypatch, totp["carol"])
    assert main(["bank", "assign", deposit, ana, "--operator", "carol"]) == 0
    assignment = _approval_id(capsys.readouterr().out)
    assert asyncio.run(state(ana, pool, deposit))[2] == "UNMATCHED"
    _signs_in(monkeypatch, totp["erin"])
    assert main(["approvals", "approve", assignment, "--reason", "her wire", "--operator", "erin"]) == 0
    capsys.readouterr()
    assert asyncio.run(state(ana, pool, deposit))[2] == "MINTED"

    # A repayment above the threshold: recorded only when Erin approves Dave's request.
    argv = ["repayments", "trigger", "--instrument", pool, "--period", "2026-11", "--interest", "50.00"]
    assert main(argv) != 0
    assert "needs a second person's approval (admin role)" in capsys.readouterr().err
    _signs_in(monkeypatch, totp["dave"])
    assert main([*argv, "--operator", "dave"]) == 0
    repayment = _approval_id(capsys.readouterr().out)
    assert asyncio.run(state(ana, pool, deposit))[3] == 0
    _signs_in(monkeypatch, totp["erin"], step=1)
    assert main(["approvals", "approve", repayment, "--reason", "board minutes 12", "--operator", "erin"]) == 0
    assert "repayment_id: " in capsys.readouterr().out
    assert asyncio.run(state(ana, pool, deposit))[3] == 1
