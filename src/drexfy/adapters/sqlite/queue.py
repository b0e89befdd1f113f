"""The inbox and the outbox: named queues in the `queue_messages` table (MessageQueue)."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from typing import Any

from drexfy.adapters.serialization import (
    dumps,
    format_optional_timestamp,
    format_timestamp,
    loads,
    parse_optional_timestamp,
    parse_timestamp,
)
from drexfy.adapters.sqlite.db import Database
from drexfy.domain.errors import IllegalTransition, NotFound, ValidationFailed
from drexfy.domain.ports import MessageStatus, QueuedMessage

Conn = sqlite3.Connection


def _message(row: Any) -> QueuedMessage:
    return QueuedMessage(
        id=row[0],
        key=row[1],
        kind=row[2],
        payload=loads(row[3]),
        created_at=parse_timestamp(row[4]),
        status=MessageStatus(row[5]),
        attempts=row[6],
        next_attempt_at=parse_optional_timestamp(row[7]),
        last_error=row[8],
    )


class SqliteQueue:
    """One named queue (inbox or outbox) in the `queue_messages` table. Implements MessageQueue."""

    def __init__(self, db: Database, name: str) -> None:
        self._db = db
        self.name = name

    async def add(self, message: QueuedMessage) -> bool:
        """Insert unless the key (or id) exists in this queue: one short transaction."""
        claimable = message.status in (MessageStatus.PENDING, MessageStatus.RUNNING)
        params = (
            self.name,
            message.id,
            message.key,
            message.kind,
            dumps(message.payload),
            format_timestamp(message.created_at),
            message.status.value,
            message.attempts,
            format_optional_timestamp(message.next_attempt_at),
            message.last_error,
            (format_optional_timestamp(message.next_attempt_at) or "") if claimable else None,
        )

        def add(conn: Conn) -> bool:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO queue_messages (queue, id, key, kind, payload, created_at, status, attempts,"
                " next_attempt_at, last_error, due_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                params,
            )
            return cursor.rowcount == 1

        add.single_statement = True  # type: ignore[attr-defined]
        return await self._db.write(add)

    async def claim(self, now: datetime, limit: int, lease_seconds: int) -> list[QueuedMessage]:
        if limit <= 0:
            return []
        if lease_seconds <= 0:
            raise ValidationFailed("lease_seconds must be positive")
        lease_end = format_timestamp(now + timedelta(seconds=lease_seconds))
        due = format_timestamp(now)

        def claim(conn: Conn) -> list[QueuedMessage]:
            # Two index ranges: first what has waited for a time (retries due, leases run out: the
            # job of a worker that died may hold the ledger's oldest nonce), then new messages
            # (due_at ''). New first would starve a lapsed lease under a steady inflow.
            rows = conn.execute(
                "UPDATE queue_messages SET status = 'RUNNING', attempts = attempts + 1, next_attempt_at = ?,"
                " due_at = ? WHERE queue = ? AND id IN (SELECT id FROM (SELECT id FROM queue_messages"
                " WHERE queue = ? AND due_at > '' AND due_at <= ? ORDER BY due_at LIMIT ?) UNION ALL"
                " SELECT id FROM (SELECT id FROM queue_messages WHERE queue = ? AND due_at = ''"
                " ORDER BY created_at LIMIT ?) LIMIT ?)"
                " RETURNING id, key, kind, payload, created_at, status, attempts, next_attempt_at, last_error",
                (lease_end, lease_end, self.name, self.name, due, limit, self.name, limit, limit),
            ).fetchall()
            return [_message(row) for row in rows]

        claimed = await self._db.write(claim)
        claimed.sort(key=lambda m: (m.created_at, m.id))
        return claimed

    async def _update(self, message_id: str, sql: str, params: tuple[Any, ...]) -> None:
        def update(conn: Conn) -> None:
            if conn.execute(sql, (*params, self.name, message_id)).rowcount == 0:
                raise NotFound(f"no {self.name} message {message_id}")

        await self._db.write(update)

    async def complete(self, message_id: str) -> None:
        await self._update(
            message_id,
            "UPDATE queue_messages SET status = 'DONE', next_attempt_at = NULL, due_at = NULL WHERE queue = ? AND id = ?",
            (),
        )

    async def retry_later(self, message_id: str, error: str, at: datetime) -> None:
        stamp = format_timestamp(at)
        await self._update(
            message_id,
            "UPDATE queue_messages SET status = 'PENDING', last_error = ?, next_attempt_at = ?, due_at = ?"
            " WHERE queue = ? AND id = ?",
            (error, stamp, stamp),
        )

    async def dead(self, message_id: str, error: str) -> None:
        await self._update(
            message_id,
            "UPDATE queue_messages SET status = 'DEAD', last_error = ?, next_attempt_at = NULL, due_at = NULL"
            " WHERE queue = ? AND id = ?",
            (error,),
        )

    async def park(self, message_id: str, error: str) -> None:
        await self._update(
            message_id,
            "UPDATE queue_messages SET status = 'PARKED', last_error = ?, next_attempt_at = NULL, due_at = NULL"
            " WHERE queue = ? AND id = ?",
            (error,),
        )

    async def requeue(self, message_id: str, now: datetime) -> None:
        """DEAD or PARKED -> PENDING, due at `now`, with a fresh attempt count (last_error is kept)."""
        stamp = format_timestamp(now)

        def requeue(conn: Conn) -> None:
            cursor = conn.execute(
                "UPDATE queue_messages SET status = 'PENDING', attempts = 0, next_attempt_at = ?, due_at = ?"
                " WHERE queue = ? AND id = ? AND status IN ('DEAD', 'PARKED')",
                (stamp, stamp, self.name, message_id),
            )
            if cursor.rowcount == 1:
                return
            row = conn.execute(
                "SELECT status FROM queue_messages WHERE queue = ? AND id = ?", (self.name, message_id)
            ).fetchone()
            if row is None:
                raise NotFound(f"no {self.name} message {message_id}")
            raise IllegalTransition(
                f"{self.name} message {message_id} is {row[0]}, only DEAD or PARKED messages are requeued"
            )

        await self._db.write(requeue)

    async def get(self, message_id: str) -> QueuedMessage:
        row = await self._db.read(
            lambda conn: conn.execute(
                "SELECT id, key, kind, payload, created_at, status, attempts, next_attempt_at, last_error FROM queue_messages WHERE queue = ? AND id = ?",
                (self.name, message_id),
            ).fetchone()
        )
        if row is None:
            raise NotFound(f"no {self.name} message {message_id}")
        return _message(row)

    async def get_by_key(self, key: str) -> QueuedMessage | None:
        row = await self._db.read(
            lambda conn: conn.execute(
                "SELECT id, key, kind, payload, created_at, status, attempts, next_attempt_at, last_error"
                " FROM queue_messages WHERE queue = ? AND key = ?",
                (self.name, key),
            ).fetchone()
        )
        return None if row is None else _message(row)

    async def list(self, status: MessageStatus | None = None, limit: int = 100) -> list[QueuedMessage]:
        sql = "SELECT id, key, kind, payload, created_at, status, attempts, next_attempt_at, last_error FROM queue_messages WHERE queue = ?"
        params: list[Any] = [self.name]
        if status is not None:
            sql += " AND status = ?"
            params.append(status.value)
        sql += " ORDER BY created_at, id LIMIT ?"
        params.append(max(limit, 0))
        rows = await self._db.read(lambda conn: conn.execute(sql, params).fetchall())
        return [_message(row) for row in rows]

    async def purge_done(self, before: datetime, limit: int = 500) -> int:
        params = (self.name, MessageStatus.DONE.value, format_timestamp(before), max(limit, 0))

        def purge(conn: Conn) -> int:
            return conn.execute(
                "DELETE FROM queue_messages WHERE rowid IN (SELECT rowid FROM queue_messages"
                " WHERE queue = ? AND status = ? AND created_at < ? ORDER BY created_at LIMIT ?)",
                params,
            ).rowcount

        return await self._db.write(purge)

    async def counts(self) -> dict[MessageStatus, int]:
        rows = await self._db.read(
            lambda conn: conn.execute(
                "SELECT status, COUNT(*) FROM queue_messages WHERE queue = ? GROUP BY status", (self.name,)
            ).fetchall()
        )
        counts = dict.fromkeys(MessageStatus, 0)
        for status, count in rows:
            counts[MessageStatus(status)] = count
        return counts
