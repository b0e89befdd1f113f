"""The audit log's head on the XRP Ledger: a memo (type `drexfy/audit-head`, data `<seq>:<sha256>`)
on an AccountSet with no flags sent by the registrar account, read back from the validated
transaction (docs/audit.md). The ledger keeps no "last anchored" state for us, so the process
anchors only heads after the last one it recorded.

`read_anchors` lists every anchor from the ledger alone, not from the log: the registrar account's
validated transactions by `account_tx` (oldest first, paginated with its `marker`), keeping the
successful ones the registrar sent with the memo. A node that keeps less history than the platform's
life (rippled's `online_delete`) answers from its oldest ledger: run verification against a full-history
server or Clio for a complete check (docs/audit.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from xrpl.models.requests import AccountTx, Tx
from xrpl.models.transactions import AccountSet, Memo

from drexfy.adapters.xrpl.rpc import RpcFailure
from drexfy.domain.errors import LedgerRejected, LedgerUnavailable
from drexfy.domain.ports import AuditAnchor, LedgerResult

if TYPE_CHECKING:
    from drexfy.adapters.xrpl.ledger import XrplLedger

MEMO_TYPE = b"drexfy/audit-head".hex().upper()


async def anchor_head(ledger: XrplLedger, op_id: str, seq: int, head_hash: str) -> LedgerResult:
    if len(bytes.fromhex(head_hash)) != 32:
        raise LedgerRejected("an audit head is a SHA-256 (32 bytes)", reason="BadHead")
    registrar = await ledger.platform("registrar")
    memo = Memo(memo_type=MEMO_TYPE, memo_data=f"{seq}:{head_hash.lower()}".encode().hex().upper())
    outcome = await ledger._run(op_id, registrar, AccountSet(account=registrar.address, memos=[memo]), "audit anchor")
    return LedgerResult((outcome.tx_id,))


async def read_anchor(ledger: XrplLedger, tx_id: str) -> AuditAnchor | None:
    try:
        answer = await ledger.rpc.call(Tx(transaction=tx_id))
    except RpcFailure as failure:
        if failure.error == "txnNotFound":
            return None
        raise
    if not answer.get("validated"):
        return None
    registrar = await ledger.platform("registrar")
    return _anchor_of(answer.get("tx_json", answer), answer.get("meta") or {}, tx_id, registrar.address)


async def read_anchors(ledger: XrplLedger) -> list[AuditAnchor]:
    registrar = await ledger.platform("registrar")
    found: list[AuditAnchor] = []
    marker: Any = None
    for _ in range(_MAX_PAGES):
        answer = await ledger.rpc.call(
            AccountTx(
                account=registrar.address,
                ledger_index_min=-1,
                ledger_index_max=-1,
                forward=True,
                limit=PAGE,
                marker=marker,
            )
        )
        for item in answer.get("transactions", []):
            if not item.get("validated"):
                continue
            tx = item.get("tx_json") or item.get("tx") or {}
            tx_id = str(item.get("hash") or tx.get("hash", ""))
            anchor = _anchor_of(tx, item.get("meta") or {}, tx_id, registrar.address)
            if anchor is not None:
                found.append(anchor)
        marker = answer.get("marker")
        if marker is None:
            return found
    raise LedgerUnavailable(f"account_tx of the registrar account did not end within {_MAX_PAGES} pages")


#: Transactions a page (rippled's most for a public caller), and a bound on the pages read: a node
#: that keeps answering with a marker is broken.
PAGE = 400
_MAX_PAGES = 100_000


def _anchor_of(tx: dict[str, Any], meta: dict[str, Any], tx_id: str, registrar: str) -> AuditAnchor | None:
    if tx.get("Account") != registrar or meta.get("TransactionResult") != "tesSUCCESS":
        return None  # only the platform's own anchoring account counts
    for wrapper in tx.get("Memos", []):
        memo = wrapper.get("Memo", {})
        if str(memo.get("MemoType", "")).upper() != MEMO_TYPE:
            continue
        seq, _, head = bytes.fromhex(memo.get("MemoData", "")).decode("ascii", "replace").partition(":")
        if seq.isdigit() and len(head) == 64:
            return AuditAnchor(int(seq), head.lower(), tx_id)
    return None
