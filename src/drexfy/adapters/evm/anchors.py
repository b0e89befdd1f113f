"""The audit log's head on an EVM chain: `AuditAnchor.anchor(seq, head)` sent by the registrar key,
read back from the transaction's `AuditHeadAnchored` event (docs/audit.md).

`read_anchors` lists every anchor from the chain alone: the contract's `AuditHeadAnchored` logs by
eth_getLogs over `log_chunk_blocks`-block ranges from the suite's deployment block to the latest
(public endpoints cap a query's range). Only logs and the block number are read, never old state,
so a pruned node serves it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from web3.exceptions import TransactionNotFound
from web3.logs import DISCARD

from drexfy.adapters.evm.deployment import REGISTRAR_KEY
from drexfy.domain.errors import LedgerRejected, LedgerUnavailable
from drexfy.domain.ports import AuditAnchor, LedgerResult

if TYPE_CHECKING:
    from drexfy.adapters.evm.ledger import EvmLedger


def _contract(ledger: EvmLedger):  # type: ignore[no-untyped-def]
    if ledger.audit_anchors is None:
        raise LedgerRejected(
            "this deployment has no AuditAnchor contract; deploy the current suite (`drexfy contracts deploy`)",
            reason="NoAnchorContract",
        )
    return ledger.audit_anchors


async def anchor_head(ledger: EvmLedger, op_id: str, seq: int, head_hash: str) -> LedgerResult:
    contract = _contract(ledger)
    head = bytes.fromhex(head_hash)
    if len(head) != 32:
        raise LedgerRejected("an audit head is a SHA-256 (32 bytes)", reason="BadHead")
    unseen = await ledger.relayer.journal.get(op_id) is None
    last = int(await ledger._read(contract.functions.lastAnchoredSeq())) if unseen else 0
    if last >= seq:  # the contract would revert: say why instead (another log anchors here?)
        raise LedgerRejected(f"the AuditAnchor contract has anchored up to entry {last}; this head is {seq}")
    fingerprint = f"anchor:{seq}:{head_hash}"
    tx = await ledger._send(op_id, fingerprint, contract, "anchor", seq, head, key=REGISTRAR_KEY)
    return LedgerResult((tx,))


async def read_anchor(ledger: EvmLedger, tx_id: str) -> AuditAnchor | None:
    contract = _contract(ledger)
    try:
        receipt = await ledger.w3.eth.get_transaction_receipt(tx_id)  # type: ignore[arg-type]
    except TransactionNotFound:
        return None
    except Exception as exc:
        raise LedgerUnavailable(f"EVM read failed: {type(exc).__name__}") from exc
    address = to_checksum_address(contract.address)
    for event in contract.events.AuditHeadAnchored().process_receipt(receipt, errors=DISCARD):
        if to_checksum_address(event["address"]) == address:
            return AuditAnchor(int(event["args"]["seq"]), bytes(event["args"]["head"]).hex(), tx_id)
    return None


async def read_anchors(ledger: EvmLedger) -> list[AuditAnchor]:
    contract = _contract(ledger)
    event = contract.events.AuditHeadAnchored()
    topic = keccak(text="AuditHeadAnchored(uint64,bytes32,address)")
    found: list[AuditAnchor] = []
    try:
        latest = int(await ledger.w3.eth.block_number)
        for low in range(ledger.deployment.block, latest + 1, ledger.log_chunk_blocks):
            high = min(low + ledger.log_chunk_blocks - 1, latest)
            logs = await ledger.w3.eth.get_logs({"address": contract.address, "fromBlock": low, "toBlock": high})
            for log in logs:
                # Filtered here, not by the node: eth-tester (embedded) ignores byte-typed topics.
                if log["topics"] and bytes(log["topics"][0]) == topic:
                    args = event.process_log(log)["args"]
                    found.append(AuditAnchor(int(args["seq"]), bytes(args["head"]).hex(), _hex(log["transactionHash"])))
    except Exception as exc:
        raise LedgerUnavailable(f"EVM log query failed: {type(exc).__name__}") from exc
    return found


def _hex(value: Any) -> str:
    text = value.hex() if isinstance(value, bytes | bytearray) else str(value)
    return text if text.startswith("0x") else "0x" + text
