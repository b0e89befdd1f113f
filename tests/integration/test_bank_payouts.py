"""Payouts by bank transfer end to end through the processes: a payout IBAN (schwifty), the
pain.001 file (sepaxml, validated against the ISO schema), and camt statements (053 and 054)
confirming the transfers; exactly once whatever is re-imported, and nothing written by a bad file."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import xmlschema

from drexfy.domain import processes as p
from drexfy.domain.errors import ConfigurationError, ValidationFailed
from drexfy.domain.model import WithdrawalStatus
from drexfy.domain.money import Money
from drexfy.entrypoints.config import load_settings
from drexfy.entrypoints.container import build_container
from tests.support.bank_files import Line, camt053, camt054
from tests.support.scenarios import onboard

IBAN = "DE89 3704 0044 0532 0130 00"


@pytest.fixture
async def svc(tmp_path: Any) -> AsyncIterator[p.Services]:
    settings = load_settings(
        env={},
        overrides={
            "data_dir": str(tmp_path),
            "ledger.kind": "memory",
            "bank.name": "Drexfy Platform GmbH",
            "bank.iban": "DE02120300000000202051",
            "bank.bic": "BYLADEM1001",
        },
    )
    container = build_container(settings)
    yield await container.services()
    await container.shutdown_resources()  # type: ignore[misc]


async def withdrawn(svc: p.Services, name: str, euros: str, iban: str | None = IBAN) -> tuple[str, str]:
    investor_id = await onboard(svc, name)
    async with svc.store.unit_of_work() as uow:
        investor = await uow.investors.get(investor_id)
    # Stablecoin the investor holds (a repayment paid it, in the business's terms).
    minor = Money.parse(euros, "EUR").minor
    svc.ledger.stablecoin[investor.wallet.address] += minor  # type: ignore[attr-defined]
    svc.ledger.stablecoin_supply += minor  # type: ignore[attr-defined]
    if iban is not None:
        await p.register_payout_iban(svc, investor_id, iban)
    withdrawal = await p.withdraw(svc, p.Withdraw(investor_id, Money.parse(euros, "EUR")))
    return investor_id, withdrawal.id


async def status_of(svc: p.Services, withdrawal_id: str) -> WithdrawalStatus:
    async with svc.store.unit_of_work() as uow:
        return (await uow.withdrawals.get(withdrawal_id)).status


async def test_an_invalid_iban_is_refused_naming_the_problem_and_nothing_is_written(svc):
    investor_id = await onboard(svc, "ivy")
    with pytest.raises(ValidationFailed, match="iban: not a valid IBAN"):
        await p.register_payout_iban(svc, investor_id, "DE89370400440532013001")  # checksum off by one
    async with svc.store.unit_of_work() as uow:
        assert (await uow.investors.get(investor_id)).payout_iban is None
    await p.register_payout_iban(svc, investor_id, IBAN)
    async with svc.store.unit_of_work() as uow:
        assert (await uow.investors.get(investor_id)).payout_iban == "DE89370400440532013000"


async def test_withdrawals_go_out_in_a_schema_valid_pain001_and_a_statement_marks_them_paid_out_once(svc):
    _, first = await withdrawn(svc, "ana", "150.00")
    _, second = await withdrawn(svc, "ben", "75.50")
    _, no_iban = await withdrawn(svc, "cai", "10.00", iban=None)

    made = await p.export_payouts(svc)
    assert made is not None
    assert set(made.withdrawal_ids) == {first, second}
    assert made.skipped == ((no_iban, "the investor has no payout IBAN"),)
    schema = xmlschema.XMLSchema(_pain_schema())
    assert schema.is_valid(made.data.decode())
    document = schema.to_dict(made.data.decode())
    transfers = [tx for batch in document["CstmrCdtTrfInitn"]["PmtInf"] for tx in batch["CdtTrfTxInf"]]
    assert {tx["PmtId"]["EndToEndId"] for tx in transfers} == {first, second}
    assert {str(tx["Amt"]["InstdAmt"]["$"]) for tx in transfers} == {"150.00", "75.50"}
    assert await status_of(svc, first) is WithdrawalStatus.SENT
    assert await p.export_payouts(svc) is None  # sent ones are not sent again; cai has no IBAN

    statement = camt054(
        [
            Line("BANK-1", "150.00", end_to_end_id=first),
            Line("BANK-2", "75.50", end_to_end_id=second, booked=False),  # pending: not yet
            Line("BANK-3", "999.00", end_to_end_id="wd_unknown"),
            Line("BANK-4", "250.00", credit=True, remittance="DREXFY inv_x"),
        ]
    )
    report = await p.import_statement(svc, statement)
    assert report.paid_out == (first,) and report.not_booked == 1
    assert [e.ref for e in report.unmatched_debits] == ["BANK-3"]
    assert [(d.bank_ref, d.status.value) for d in report.deposits] == [("BANK-4", "UNMATCHED")]
    again = await p.import_statement(svc, statement)  # re-imported: changes nothing
    assert (again.paid_out, again.already_paid_out) == ((), (first,))

    later = await p.import_statement(svc, camt053([Line("BANK-2", "75.50", end_to_end_id=second)]))
    assert later.paid_out == (second,)
    async with svc.store.unit_of_work() as uow:
        paid = await uow.withdrawals.get(first)
    assert (paid.status, paid.bank_entry, paid.batch_id) == (WithdrawalStatus.PAID_OUT, "BANK-1", made.batch_id)


async def test_a_debit_of_another_amount_does_not_confirm_the_transfer(svc):
    _, withdrawal = await withdrawn(svc, "dan", "40.00")
    await p.export_payouts(svc)
    report = await p.import_statement(svc, camt054([Line("BANK-9", "4.00", end_to_end_id=withdrawal)]))
    assert report.paid_out == () and await status_of(svc, withdrawal) is WithdrawalStatus.SENT


@pytest.mark.parametrize(
    ("data", "named"),
    [
        (b"<Document><unclosed>", "line 1, column"),
        (camt054([Line("B", "1.00")]).replace(b"camt.054.001.08", b"pain.001.001.03"), "root element"),
        (
            camt054([Line("B", "1.00")]).replace(b"<CdtDbtInd>DBIT", b"<CdtDbtInd>BOTH"),
            r"Ntfctn\[1\]/Ntry\[1\]/CdtDbtInd",
        ),
        (camt054([Line("B", "1.001")]), r"Ntfctn\[1\]/Ntry\[1\]/Amt"),
        (camt053([Line("B", "1.00"), Line("", "2.00")]), r"Stmt\[1\]/Ntry\[2\]: AcctSvcrRef or NtryRef"),
        (
            b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaa">]><Document>&a;</Document>',
            "DTDs and entities",
        ),
    ],
)
async def test_a_malformed_statement_is_refused_naming_the_line_or_element_and_changes_nothing(svc, data, named):
    _, withdrawal = await withdrawn(svc, "eva", "20.00")
    await p.export_payouts(svc)
    with pytest.raises(ValidationFailed, match=named):
        await p.import_statement(svc, data)
    # a bad entry after a good one: the good one is not applied either
    mixed = camt054([Line("BANK-OK", "20.00", end_to_end_id=withdrawal), Line("BANK-BAD", "1.001")])
    with pytest.raises(ValidationFailed):
        await p.import_statement(svc, mixed)
    assert await status_of(svc, withdrawal) is WithdrawalStatus.SENT


async def test_without_a_bank_account_configured_payouts_say_which_setting_is_missing(tmp_path):
    container = build_container(load_settings(env={}, overrides={"data_dir": str(tmp_path), "ledger.kind": "memory"}))
    svc = await container.services()
    with pytest.raises(ConfigurationError, match=r"bank\.iban"):
        await p.export_payouts(svc)
    await container.shutdown_resources()  # type: ignore[misc]


def _pain_schema() -> str:
    import importlib.resources

    return str(importlib.resources.files("sepaxml").joinpath("schemas/pain.001.001.03.xsd"))
