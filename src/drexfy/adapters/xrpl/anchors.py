"""The audit log's head on the XRP Ledger: a memo (type `drexfy/audit-head`, data `<seq>:<sha256>`)
on an AccountSet with no flags sent by the registrar account, read back from the validated
transaction (docs/audit.md). The ledger keeps no "last anchored" state for us, so the process
anchors only heads after the last one it recorded."""

from __future__ import annotations

from typing import TYPE_CHECKING

from xrpl.models.requests import Tx
from xrpl.models.transactions import AccountSet, Memo

from drexfy.adapters.xrpl.submission import RpcFailure
from drexfy.domain.errors import LedgerRejected
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
    tx = answer.get("tx_json", answer)
    meta = answer.get("meta") or {}
    registrar = await ledger.platform("registrar")
    if tx.get("Account") != registrar.address or meta.get("TransactionResult") != "tesSUCCESS":
        return None  # only the platform's own anchoring account counts
    for wrapper in tx.get("Memos", []):
        memo = wrapper.get("Memo", {})
        if str(memo.get("MemoType", "")).upper() != MEMO_TYPE:
            continue
        seq, _, head = bytes.fromhex(memo.get("MemoData", "")).decode("ascii", "replace").partition(":")
        if seq.isdigit() and len(head) == 64:
            return AuditAnchor(int(seq), head, tx_id)
    return None
