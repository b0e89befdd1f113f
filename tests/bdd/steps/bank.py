"""Bank transfer steps (features/bank_transfers.feature): statements the operators import, paying
from the balance, the payout file."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from pytest_bdd import given, parsers, then, when

from drexfy.domain.model import Withdrawal, WithdrawalStatus
from tests.bdd.world import World, eur
from tests.support.bank_files import Line, camt053, camt054


def _withdrawal(world: World, name: str) -> Withdrawal:
    async def get() -> list[Any]:
        async with world.svc.store.unit_of_work() as uow:
            return await uow.withdrawals.by_investor(world.investors[name])

    *_, last = world.run(get())
    return last  # type: ignore[no-any-return]


def _import(world: World, statement: bytes) -> None:
    world.bank["statement"] = statement
    world.driver.import_statement(statement)


@given(parsers.parse('the bank statement shows a transfer of {amount} EUR naming "{name}"'))
@when(parsers.parse('the bank statement shows a transfer of {amount} EUR naming "{name}"'))
def transfer_in(world: World, amount: str, name: str) -> None:
    # Unique as a bank's entry references are (the EVM and XRPL stacks share one chain per process).
    ref = f"BANK-IN-{len(world.bank) + 1}-{world.investors[name]}"
    reference = f"DREXFY {world.investors[name].upper()}"  # as a bank may print it
    _import(world, camt054([Line(ref, amount, credit=True, remittance=reference)]))


@when("the operators import the same bank statement again")
def import_again(world: World) -> None:
    world.driver.import_statement(world.bank["statement"])


@given(parsers.parse('"{name}" has registered the payout account "{iban}"'))
def payout_account(world: World, name: str, iban: str) -> None:
    world.driver.register_payout_iban(name, iban)
    world.bank[f"iban:{name}"] = iban.replace(" ", "")


@when(parsers.parse('"{name}" pays the order from the balance'))
def pays_from_balance(world: World, name: str) -> None:
    world.driver.pay_from_balance(name)
    assert world.error is None, world.error


@when(parsers.parse('"{name}" tries to pay the order from the balance'))
def tries_to_pay_from_balance(world: World, name: str) -> None:
    world.driver.pay_from_balance(name)


@then(parsers.parse('the payment is refused because "{reason}"'))
def payment_refused(world: World, reason: str) -> None:
    assert world.error is not None, "the payment was accepted"
    assert reason in str(world.error), str(world.error)


@when("the operators export the payout file")
def export_payouts(world: World) -> None:
    world.bank["payouts"] = world.driver.export_payouts()


@then(parsers.parse('the payout file pays {amount} EUR to the account of "{name}"'))
def payout_file_pays(world: World, amount: str, name: str) -> None:
    root = ET.fromstring(world.bank["payouts"])
    ns = {"p": root.tag[1 : root.tag.index("}")]}
    withdrawal = _withdrawal(world, name)
    [tx] = [
        t for t in root.iterfind(".//p:CdtTrfTxInf", ns) if t.findtext("p:PmtId/p:EndToEndId", "", ns) == withdrawal.id
    ]
    assert tx.findtext("p:Amt/p:InstdAmt", "", ns) == str(eur(amount).as_decimal())
    assert tx.findtext("p:CdtrAcct/p:Id/p:IBAN", "", ns) == world.bank[f"iban:{name}"]


@when(parsers.parse('the bank statement shows the payout to "{name}" debited'))
def payout_debited(world: World, name: str) -> None:
    withdrawal = _withdrawal(world, name)
    amount = str(withdrawal.amount.as_decimal())
    _import(world, camt053([Line(f"BANK-OUT-{withdrawal.id}", amount, end_to_end_id=withdrawal.id)], version="08"))


@when(parsers.parse('the bank statement shows the payout to "{name}" returned because "{code}"'))
def payout_returned(world: World, name: str, code: str) -> None:
    withdrawal = _withdrawal(world, name)
    amount = str(withdrawal.amount.as_decimal())
    line = Line(f"BANK-RTN-{withdrawal.id}", amount, credit=True, end_to_end_id=withdrawal.id, return_reason=code)
    _import(world, camt054([line]))


@then(parsers.parse('the withdrawal of "{name}" is "{status}"'))
def withdrawal_status(world: World, name: str, status: str) -> None:
    assert world.error is None, world.error
    assert _withdrawal(world, name).status is WithdrawalStatus[status]


@then(parsers.parse('"{name}" is told that the payout came back'))
def told_payout_returned(world: World, name: str) -> None:
    withdrawal = _withdrawal(world, name)
    queued = world.run(world.svc.store.outbox.list(limit=1000))
    returned = [m for m in queued if m.kind == "PayoutReturned" and withdrawal.id in str(m.payload)]
    assert len(returned) == 1, [m.kind for m in queued]
