"""An MPT issuance's unit movements, read ledger by ledger from validated ledgers, for the register
(`processes.register`): every successful Payment that delivered units of the issuance (issuer to
holder, holder to holder, holder to issuer). Other transactions that change balances (Clawback) are
the platform's own operations, which record their effect themselves.

`ledger` is asked with `expand`, so one request reads a ledger's transactions and their metadata; a
server that answers with hashes only gets a `tx` request per hash. The cursor is
`<ledger index>:<transaction index>` of the last movement returned (zero-padded), or
`<ledger index>:999999` once a whole ledger was read. Without a cursor or an issue position, the
read starts at the oldest ledger the server holds (`complete_ledgers`): a full-history server (or
the issue position, which the adapter records for new instruments) is needed for a complete
register of an instrument issued before the server's history."""

from __future__ import annotations

from typing import Any

from xrpl.models.requests import Ledger, ServerInfo, Tx

from drexfy.adapters.xrpl.rpc import Rpc
from drexfy.domain.ports import TransferPage, UnitTransfer

WHOLE_LEDGER = 999_999


def cursor_of(ledger_index: int, tx_index: int) -> str:
    return f"{ledger_index:012d}:{tx_index:06d}"


def parse_cursor(cursor: str) -> tuple[int, int]:
    ledger_index, _, tx_index = cursor.partition(":")
    return int(ledger_index), int(tx_index)


async def _oldest_ledger(rpc: Rpc) -> int:
    info = (await rpc.call(ServerInfo())).get("info", {})
    complete = str(info.get("complete_ledgers", ""))
    first = complete.split(",")[0].split("-")[0]
    return int(first) if first.isdigit() else int(info.get("validated_ledger", {}).get("seq", 1))


async def _movements(rpc: Rpc, ref: str, index: int) -> list[tuple[int, UnitTransfer]]:
    answer = await rpc.call(Ledger(ledger_index=index, transactions=True, expand=True))
    found: list[tuple[int, UnitTransfer]] = []
    for entry in answer.get("ledger", {}).get("transactions", []):
        if isinstance(entry, str):
            entry = await rpc.call(Tx(transaction=entry))
        tx: dict[str, Any] = entry.get("tx_json", entry)
        meta: dict[str, Any] = entry.get("meta") or entry.get("metaData") or {}
        delivered = meta.get("delivered_amount")
        if (
            tx.get("TransactionType") != "Payment"
            or meta.get("TransactionResult") != "tesSUCCESS"
            or not isinstance(delivered, dict)
            or delivered.get("mpt_issuance_id") != ref
        ):
            continue
        digest = str(entry.get("hash") or tx.get("hash", ""))
        transfer = UnitTransfer(str(tx["Account"]), str(tx["Destination"]), int(delivered["value"]), digest)
        found.append((int(meta["TransactionIndex"]), transfer))
    return sorted(found, key=lambda pair: pair[0])


async def read_transfers(rpc: Rpc, ref: str, after: str | None, limit: int, since: int | None) -> TransferPage:
    """Up to `limit` movements of the issuance `ref` after the cursor `after`."""
    if after:
        last_ledger, last_tx = parse_cursor(after)
    else:
        last_ledger, last_tx = (since if since is not None else await _oldest_ledger(rpc)) - 1, WHOLE_LEDGER
    validated = int((await rpc.call(Ledger(ledger_index="validated")))["ledger_index"])
    found: list[UnitTransfer] = []
    index = last_ledger if last_tx < WHOLE_LEDGER else last_ledger + 1
    if index > validated:
        return TransferPage((), cursor_of(last_ledger, last_tx), True)
    while index <= validated:
        for tx_index, transfer in await _movements(rpc, ref, index):
            if (index, tx_index) <= (last_ledger, last_tx):
                continue
            found.append(transfer)
            if len(found) == limit:
                return TransferPage(tuple(found), cursor_of(index, tx_index), False)
        index += 1
    return TransferPage(tuple(found), cursor_of(validated, WHOLE_LEDGER), True)
