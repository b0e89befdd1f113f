"""The bank routes over HTTP (the real app, SQLite, the memory ledger): the payout IBAN, the
statement upload minting deposits once, the operators' deposit list and assignment, paying an
order from the balance, the payout file, and a returned payout credited back and told."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from tests.support.bank_files import Line, camt053, camt054

IBAN = "DE89 3704 0044 0532 0130 00"


async def upload(api: Any, data: bytes, content_type: str = "application/xml") -> tuple[int, Any]:
    response = await api.client.post(
        "/api/v1/bank/statements", data=data, headers={**api.token("admin"), "Content-Type": content_type}
    )
    return response.status, await response.json(content_type=None)


async def balance_minor(api: Any, investor_id: str) -> int:
    async with api.svc.store.unit_of_work() as uow:
        investor = await uow.investors.get(investor_id)
    return int((await api.svc.ledger.stablecoin_balance(investor.wallet.address)).minor)


@pytest.mark.parametrize(
    "bad", ["DE89370400440532013001", "DE89 3704 0044 0532 0130 0Z", "XX89370400440532013000", "DE893704"]
)
async def test_an_invalid_payout_iban_is_a_clear_400_that_never_echoes_it(api, caplog, bad):
    investor = await api.active_investor("ivy@example.com")
    caplog.set_level(logging.DEBUG)
    status, body = await api.call(
        "PUT", f"/api/v1/investors/{investor}/payout-account", "investor", investor_id=investor, json={"iban": bad}
    )
    assert status == 400, body
    assert "iban" in str(body)
    digits = bad.replace(" ", "")[4:]
    assert digits[:8] not in str(body).replace(" ", "")
    assert digits[:8] not in caplog.text.replace(" ", "")


async def test_the_payout_iban_is_registered_and_only_its_ending_comes_back(api, caplog):
    investor = await api.active_investor("ana@example.com")
    caplog.set_level(logging.DEBUG)
    status, body = await api.call(
        "PUT", f"/api/v1/investors/{investor}/payout-account", "investor", investor_id=investor, json={"iban": IBAN}
    )
    assert (status, body) == (200, {"investor_id": investor, "iban_ending": "3000"})
    assert "370400440532" not in caplog.text
    other = await api.active_investor("ben@example.com")
    status, _ = await api.call(
        "PUT", f"/api/v1/investors/{other}/payout-account", "investor", investor_id=investor, json={"iban": IBAN}
    )
    assert status == 404  # another investor's account looks unknown


async def test_a_statement_upload_mints_once_and_lists_the_unmatched_for_operators(api):
    cai = await api.active_investor("cai@example.com")
    statement = camt054(
        [
            Line("API-D1", "75.00", credit=True, remittance=f"DREXFY {cai}"),
            Line("API-D2", "12.00", credit=True, remittance="no reference"),
        ]
    )
    status, report = await upload(api, statement)
    assert status == 200, report
    assert [(d["bank_ref"], d["status"]) for d in report["deposits"]] == [
        ("API-D1", "MINTED"),
        ("API-D2", "UNMATCHED"),
    ]
    status, again = await upload(api, statement, "text/xml")
    assert status == 200 and [d["status"] for d in again["deposits"]] == ["MINTED", "UNMATCHED"]
    assert await balance_minor(api, cai) == 7500

    status, page = await api.call("GET", "/api/v1/bank/deposits", "admin")
    assert status == 200 and [d["bank_ref"] for d in page["items"]] == ["API-D2"] and page["next"] is None
    unmatched = page["items"][0]["id"]
    status, request = await api.call(
        "POST", f"/api/v1/bank/deposits/{unmatched}/assign", "admin", json={"investor_id": cai}
    )
    assert (status, request["kind"], request["status"]) == (202, "assign_deposit", "PENDING"), request
    status, approved = await api.approve(request["id"], "admin")
    assert (status, approved["status"], approved["result"]["status"]) == (200, "DONE", "MINTED"), approved
    status, page = await api.call("GET", "/api/v1/bank/deposits?status=MINTED", "admin")
    [assigned] = [d for d in page["items"] if d["id"] == unmatched]
    assert (assigned["investor_id"], assigned["assigned_by"]) == (cai, "admin, approved by second-officer")
    status, problem = await api.call(
        "POST", f"/api/v1/bank/deposits/{unmatched}/assign", "admin", json={"investor_id": cai}
    )
    assert status == 409, problem
    assert await balance_minor(api, cai) == 8700
    await api.drain()
    told = [n for n in api.notifier.sent if n["event"] == "DepositMinted"]
    assert [n["aggregate_id"] for n in told] == [cai, cai]


async def test_a_bad_statement_is_refused_naming_where_and_mints_nothing(api):
    dan = await api.active_investor("dan@example.com")
    good = camt053([Line("API-M1", "30.00", credit=True, remittance=dan)])
    status, problem = await upload(api, good.replace(b"</Stmt>", b"</Stmnt>"))
    assert status == 400 and "line 1" in problem["detail"], problem
    status, problem = await upload(api, good, "application/json")
    assert status == 415, problem
    status, problem = await upload(api, b"<a/>" + b" " * (5 * 1024 * 1024))
    assert status == 413, problem
    assert await balance_minor(api, dan) == 0
    status, page = await api.call("GET", "/api/v1/bank/deposits?status=MINTED", "admin")
    assert page["items"] == []


async def test_deposit_then_buy_from_the_balance_and_a_short_balance_is_a_422(api):
    eva = await api.active_investor("eva@example.com")
    instrument = await api.open_instrument()
    order = await api.order(eva, instrument, units=3)  # 300.00 EUR
    path = f"/api/v1/orders/{order['id']}/pay-from-balance"
    status, problem = await api.call("POST", path, "investor", investor_id=eva)
    assert status == 422 and problem["type"].endswith("/insufficient-funds"), problem
    status, unchanged = await api.call("GET", f"/api/v1/orders/{order['id']}", "investor", investor_id=eva)
    assert unchanged["status"] == "CREATED"

    await upload(api, camt054([Line("API-P1", "500.00", credit=True, remittance=eva)]))
    status, settled = await api.call("POST", path, "investor", investor_id=eva)
    assert status == 200, settled
    assert (settled["status"], settled["funding"]) == ("SETTLED", "balance")
    assert await balance_minor(api, eva) == 20000
    status, again = await api.call("POST", path, "frontend")
    assert (status, again["status"]) == (200, "SETTLED")
    assert await balance_minor(api, eva) == 20000
    other = await api.active_investor("fay@example.com")
    status, _ = await api.call("POST", path, "investor", investor_id=other)
    assert status == 404


async def test_payouts_are_exported_and_a_returned_one_is_credited_back_and_told(api):
    gus = await api.active_investor("gus@example.com")
    await upload(api, camt054([Line("API-W0", "90.00", credit=True, remittance=gus)]))
    await api.call("PUT", f"/api/v1/investors/{gus}/payout-account", "frontend", json={"iban": IBAN})
    status, withdrawal = await api.call(
        "POST",
        "/api/v1/withdrawals",
        "frontend",
        json={"investor_id": gus, "amount": {"minor": 9000, "currency": "EUR"}},
    )
    assert status == 201, withdrawal
    status, owed = await api.call("GET", "/api/v1/bank/payouts", "admin")
    assert [w["id"] for w in owed["items"]] == [withdrawal["id"]]

    response = await api.client.post("/api/v1/bank/payouts", headers=api.token("admin"))
    assert response.status == 200 and response.content_type == "application/xml"
    assert withdrawal["id"].encode() in await response.read()
    assert response.headers["X-Payout-Count"] == "1"
    response = await api.client.post("/api/v1/bank/payouts", headers=api.token("admin"))
    assert response.status == 204

    returned = Line("API-W2", "90.00", credit=True, end_to_end_id=withdrawal["id"], return_reason="AC04")
    status, report = await upload(api, camt053([returned], version="08"))
    assert status == 200, report
    assert [(d["kind"], d["status"], d["withdrawal_id"]) for d in report["deposits"]] == [
        ("RETURN", "MINTED", withdrawal["id"])
    ]
    assert await balance_minor(api, gus) == 9000
    await api.drain()
    told = [n for n in api.notifier.sent if n["event"] == "PayoutReturned"]
    assert len(told) == 1 and told[0]["data"]["withdrawal_id"] == withdrawal["id"]
    assert told[0]["data"]["reason"] == "AC04"
