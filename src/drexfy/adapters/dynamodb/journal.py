"""The operation journal of the ledger adapters (OperationJournal) and its sequence claims, in the single table."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from drexfy.adapters.aws import error_code
from drexfy.adapters.dynamodb.errors import StoreUnavailable
from drexfy.adapters.dynamodb.table import Item, Table, key, names_in, to_av
from drexfy.adapters.serialization import (
    dumps,
    format_optional_timestamp,
    format_timestamp,
    loads,
    parse_optional_timestamp,
    parse_timestamp,
    random_nonce_base,
)
from drexfy.domain.errors import NotFound
from drexfy.domain.ports import JournalEntry, JournalStatus


def _put(table: Table, item: Item, condition: str) -> dict[str, Any]:
    """A conditional Put for TransactWriteItems."""
    return {
        "Put": {
            "TableName": table.name,
            "Item": to_av(item),
            "ConditionExpression": condition,
            "ExpressionAttributeNames": names_in(condition),
        }
    }


class DynamoJournal:
    """Journal entries (PK JRN#<op id>; GSI1 lists the unfinished ones of a ledger) and account
    sequences (PK SEQ#<account>: the counter at SK A, compare-and-set, and the number each claim
    was given at SK C#<claim>); settlement nonces (PK ONONCE#<order id>, the counter at PK
    ONONCE-NEXT)."""

    def __init__(self, table: Table) -> None:
        self.table = table

    @staticmethod
    def _item(entry: JournalEntry) -> Item:
        open_ = entry.status in (JournalStatus.PREPARED, JournalStatus.SUBMITTED)
        created = format_timestamp(entry.created_at)
        return {
            "PK": f"JRN#{entry.op_id}",
            "SK": "A",
            "type": "journal",
            "op_id": entry.op_id,
            "ledger": entry.ledger,
            "fingerprint": entry.fingerprint,
            "status": entry.status.value,
            "created_at": created,
            "account": entry.account,
            "sequence": entry.sequence,
            "tx_id": entry.tx_id,
            "payload": entry.payload,
            "result": dumps(entry.result),
            "updated_at": format_optional_timestamp(entry.updated_at),
            "GSI1PK": f"JOPEN#{entry.ledger}" if open_ else None,
            "GSI1SK": f"{created}#{entry.op_id}" if open_ else None,
        }

    @staticmethod
    def _entry(item: Item) -> JournalEntry:
        sequence = item.get("sequence")
        return JournalEntry(
            op_id=item["op_id"],
            ledger=item["ledger"],
            fingerprint=item["fingerprint"],
            status=JournalStatus(item["status"]),
            created_at=parse_timestamp(item["created_at"]),
            account=item.get("account"),
            sequence=None if sequence is None else int(sequence),
            tx_id=item.get("tx_id"),
            payload=item.get("payload"),
            result=loads(item["result"]),
            updated_at=parse_optional_timestamp(item.get("updated_at")),
        )

    async def get(self, op_id: str) -> JournalEntry | None:
        item = await self.table.get(f"JRN#{op_id}")
        return None if item is None else self._entry(item)

    async def create(self, entry: JournalEntry) -> bool:
        return await self.table.put(self._item(entry), "attribute_not_exists(#a_PK)")

    async def update(self, entry: JournalEntry) -> None:
        if not await self.table.put(self._item(entry), "attribute_exists(#a_PK)"):
            raise NotFound(f"no journal entry for operation {entry.op_id}")

    async def record_signed(self, entry: JournalEntry) -> JournalEntry:
        if await self.table.put(self._item(entry), "attribute_exists(#a_PK) AND attribute_not_exists(#a_payload)"):
            return entry
        stored = await self.get(entry.op_id)  # another preparer signed first (or there is no entry)
        if stored is None:
            raise NotFound(f"no journal entry for operation {entry.op_id}")
        return stored

    async def replace_signed(self, entry: JournalEntry, previous_tx_id: str) -> JournalEntry:
        if await self.table.put(self._item(entry), "#a_tx_id = :prev", {":prev": previous_tx_id}):
            return entry
        stored = await self.get(entry.op_id)  # another process replaced it first (or there is no entry)
        if stored is None:
            raise NotFound(f"no journal entry for operation {entry.op_id}")
        return stored

    async def allocate_sequence(self, account: str, chain_next: int, claim: str) -> int:
        """The claim's number if it has one; else max(chain_next, last + 1), written together with
        the claim in one transaction conditioned on the counter it read (retried on a race)."""
        pk, claim_sk = f"SEQ#{account}", f"C#{claim}"
        for attempt in range(64):
            held = await self.table.get(pk, claim_sk)
            if held is not None:
                return int(held["sequence"])
            counter = await self.table.get(pk)
            last = None if counter is None else int(counter["last"])
            value = chain_next if last is None else max(chain_next, last + 1)
            claim_item = {"PK": pk, "SK": claim_sk, "type": "sequence_claim", "claim": claim, "sequence": value}
            if last is None:
                bump = _put(
                    self.table, {"PK": pk, "SK": "A", "type": "sequence", "last": value}, "attribute_not_exists(#a_PK)"
                )
            else:
                bump = {
                    "Update": {
                        "TableName": self.table.name,
                        "Key": key(pk),
                        "UpdateExpression": "SET #a_last = :next",
                        "ConditionExpression": "#a_last = :seen",
                        "ExpressionAttributeNames": names_in("#a_last"),
                        "ExpressionAttributeValues": to_av({":next": value, ":seen": last}),
                    }
                }
            try:
                await self.table.transact([_put(self.table, claim_item, "attribute_not_exists(#a_PK)"), bump], None)
            except Exception as exc:
                if error_code(exc) != "TransactionCanceledException":
                    raise
                # The counter moved or the claim appeared: read both again, after a jittered pause
                # so that racers spread out instead of colliding again.
                await asyncio.sleep(random.uniform(0, 0.002 * min(attempt + 1, 16)))
                continue
            return value
        raise StoreUnavailable(f"sequence of {account} is contended; retry")

    async def held_sequence(self, account: str, claim: str) -> int | None:
        held = await self.table.get(f"SEQ#{account}", f"C#{claim}")
        return None if held is None else int(held["sequence"])

    async def unfinished(self, ledger: str) -> list[JournalEntry]:
        items = await self.table.query_items("#a_GSI1PK = :p", {":p": f"JOPEN#{ledger}"}, index="GSI1")
        return [self._entry(i) for i in items]

    async def order_nonce(self, order_id: str) -> int:
        """The order's nonce if it has one; else the counter's, written together with the order's
        record in one transaction conditioned on the counter it read (retried on a race)."""
        pk, counter_pk = f"ONONCE#{order_id}", "ONONCE-NEXT"
        for attempt in range(64):
            held = await self.table.get(pk)
            if held is not None:
                return int(held["nonce"])
            counter = await self.table.get(counter_pk)
            value = random_nonce_base() if counter is None else int(counter["next"])
            record = {"PK": pk, "SK": "A", "type": "order_nonce", "order_id": order_id, "nonce": value}
            if counter is None:
                bump = _put(
                    self.table,
                    {"PK": counter_pk, "SK": "A", "type": "order_nonce_counter", "next": value + 1},
                    "attribute_not_exists(#a_PK)",
                )
            else:
                bump = {
                    "Update": {
                        "TableName": self.table.name,
                        "Key": key(counter_pk),
                        "UpdateExpression": "SET #a_next = :next",
                        "ConditionExpression": "#a_next = :seen",
                        "ExpressionAttributeNames": names_in("#a_next"),
                        "ExpressionAttributeValues": to_av({":next": value + 1, ":seen": value}),
                    }
                }
            try:
                await self.table.transact([_put(self.table, record, "attribute_not_exists(#a_PK)"), bump], None)
            except Exception as exc:
                if error_code(exc) != "TransactionCanceledException":
                    raise
                await asyncio.sleep(random.uniform(0, 0.002 * min(attempt + 1, 16)))
                continue
            return value
        raise StoreUnavailable(f"the settlement nonce of order {order_id} is contended; retry")
