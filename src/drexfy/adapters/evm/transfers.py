"""An instrument's unit movements read from its ERC-20 `Transfer` logs, page by page, for the
register (`processes.register`). Only logs and the block number are read, so a pruned node serves
it; blocks newer than the relayer's confirmation depth are left for the next read.

The cursor is `<block>:<log index>` of the last movement returned (zero-padded, so cursors sort as
text), or `<block>:999999` when every log of that block was read."""

from __future__ import annotations

from typing import Any

from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from web3 import AsyncHTTPProvider, AsyncWeb3
from web3.types import RPCEndpoint

from drexfy.domain.errors import LedgerUnavailable
from drexfy.domain.ports import TransferPage, UnitTransfer

TRANSFER = keccak(text="Transfer(address,address,uint256)")
#: The agent's events (FinancialInstrument): a Transfer in the same transaction is a forced move.
AGENT_EVENTS = frozenset(
    {
        keccak(text="ForcedTransfer(address,address,uint256,address)"),
        keccak(text="WalletRecovered(address,address,uint256,address)"),
        # A migration placing the old instrument's holders (the platform's positions already hold them).
        keccak(text="HoldingImported(address,uint256,uint256,bool)"),
    }
)
WHOLE_BLOCK = 999_999


def cursor_of(block: int, log_index: int) -> str:
    return f"{block:012d}:{log_index:06d}"


def parse_cursor(cursor: str) -> tuple[int, int]:
    block, _, index = cursor.partition(":")
    return int(block), int(index)


async def _logs(w3: AsyncWeb3[Any], token: str, low: int, high: int) -> list[dict[str, Any]]:
    """The token's logs in blocks `low`..`high`. Over HTTP straight from the node's JSON: at a
    hundred settlements a block, web3's per-log formatting cost the worker more CPU than the rest
    of the read (every delivery is a Transfer log it skips)."""
    query = {"address": to_checksum_address(token), "fromBlock": hex(low), "toBlock": hex(high)}
    if not isinstance(getattr(w3, "provider", None), AsyncHTTPProvider):
        formatted = await w3.eth.get_logs({**query, "fromBlock": low, "toBlock": high})  # type: ignore[typeddict-item]
        return [dict(entry) for entry in formatted]
    response: Any = await w3.provider.make_request(RPCEndpoint("eth_getLogs"), [query])
    if response.get("error") is not None:
        raise LedgerUnavailable(f"EVM log query refused: {response['error']}")
    return [
        {
            "blockNumber": int(raw["blockNumber"], 16),
            "logIndex": int(raw["logIndex"], 16),
            "topics": [HexBytes(topic) for topic in raw["topics"]],
            "data": HexBytes(raw["data"]),
            "transactionHash": HexBytes(raw["transactionHash"]),
        }
        for raw in response.get("result") or []
    ]


async def read_transfers(
    w3: AsyncWeb3[Any],
    token: str,
    after: str | None,
    limit: int,
    *,
    start_block: int,
    confirmations: int,
    chunk_blocks: int,
) -> TransferPage:
    """Up to `limit` movements of `token` after the cursor `after` (from `start_block` when None)."""
    last_block, last_index = parse_cursor(after) if after else (start_block - 1, WHOLE_BLOCK)
    try:
        head = int(await w3.eth.block_number) - max(confirmations, 1) + 1
        found: list[tuple[int, int, UnitTransfer]] = []
        low = last_block if last_index < WHOLE_BLOCK else last_block + 1
        while low <= head:
            high = min(low + chunk_blocks - 1, head)
            logs = await _logs(w3, token, low, high)
            # A transaction's logs all lie in one block, so in this chunk.
            forced = {
                bytes(log["transactionHash"])
                for log in logs
                if log["topics"] and bytes(log["topics"][0]) in AGENT_EVENTS
            }
            for log in sorted(logs, key=lambda entry: (entry["blockNumber"], entry["logIndex"])):
                position = (int(log["blockNumber"]), int(log["logIndex"]))
                topics = log["topics"]
                if position <= (last_block, last_index) or len(topics) != 3 or bytes(topics[0]) != TRANSFER:
                    continue
                found.append(
                    (
                        *position,
                        UnitTransfer(
                            sender=to_checksum_address(bytes(topics[1])[-20:]),
                            receiver=to_checksum_address(bytes(topics[2])[-20:]),
                            units=int.from_bytes(bytes(log["data"]), "big"),
                            tx_id="0x" + bytes(log["transactionHash"]).hex(),
                            forced=bytes(log["transactionHash"]) in forced,
                        ),
                    )
                )
                if len(found) == limit:
                    block, index, _ = found[-1]
                    return TransferPage(tuple(t for _, _, t in found), cursor_of(block, index), False)
            low = high + 1
    except LedgerUnavailable:
        raise
    except Exception as exc:
        raise LedgerUnavailable(f"EVM log query failed: {type(exc).__name__}") from exc
    if head < (last_block if last_index < WHOLE_BLOCK else last_block + 1):
        # Nothing confirmed after the cursor yet (or a node behind it): the cursor stays.
        return TransferPage((), cursor_of(last_block, last_index), True)
    return TransferPage(tuple(t for _, _, t in found), cursor_of(head, WHOLE_BLOCK), True)
