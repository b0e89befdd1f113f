"""Stored answers to POSTs made with an Idempotency-Key (IdempotencyRepository)."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from typing import Any

from drexfy.adapters.serialization import dumps, format_timestamp, loads, parse_timestamp
from drexfy.adapters.sqlite.db import Database
from drexfy.domain.ports import IN_PROGRESS, IdempotentResponse

Conn = sqlite3.Connection


class SqliteIdempotency:
    """Stored answers to POSTs made with an Idempotency-Key (IdempotencyRepository)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, scope: str, key: str) -> IdempotentResponse | None:
        row = await self._db.read(
            lambda conn: conn.execute(
                "SELECT request_hash, status, body, created_at FROM idempotency WHERE scope = ? AND key = ?",
                (scope, key),
            ).fetchone()
        )
        if row is None:
            return None
        return IdempotentResponse(
            scope=scope,
            key=key,
            request_hash=row[0],
            status=row[1],
            body=loads(row[2]),
            created_at=parse_timestamp(row[3]),
        )

    async def put(self, response: IdempotentResponse) -> bool:
        params = (
            response.scope,
            response.key,
            response.request_hash,
            response.status,
            dumps(response.body),
            format_timestamp(response.created_at),
        )

        def put(conn: Conn) -> bool:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO idempotency (scope, key, request_hash, status, body, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                params,
            )
            return cursor.rowcount == 1

        return await self._db.write(put)

    async def begin(
        self, scope: str, key: str, request_hash: str, now: datetime, lease: timedelta
    ) -> IdempotentResponse | None:
        stamp, stale = format_timestamp(now), format_timestamp(now - lease)

        def begin(conn: Conn) -> Any:
            cursor = conn.execute(
                "INSERT INTO idempotency (scope, key, request_hash, status, body, created_at) VALUES (?, ?, ?, ?, '{}', ?)"
                " ON CONFLICT (scope, key) DO UPDATE SET request_hash = excluded.request_hash, created_at = excluded.created_at"
                " WHERE idempotency.status = ? AND idempotency.created_at <= ?",
                (scope, key, request_hash, IN_PROGRESS, stamp, IN_PROGRESS, stale),
            )
            if cursor.rowcount == 1:
                return None  # reserved (or taken over from an attempt that died)
            return conn.execute(
                "SELECT request_hash, status, body, created_at FROM idempotency WHERE scope = ? AND key = ?",
                (scope, key),
            ).fetchone()

        row = await self._db.write(begin)
        if row is None:
            return None
        return IdempotentResponse(scope, key, row[0], row[1], loads(row[2]), parse_timestamp(row[3]))

    async def finish(self, response: IdempotentResponse) -> None:
        params = (
            response.request_hash,
            response.status,
            dumps(response.body),
            format_timestamp(response.created_at),
            response.scope,
            response.key,
            IN_PROGRESS,
        )

        def finish(conn: Conn) -> None:
            conn.execute(
                "UPDATE idempotency SET request_hash = ?, status = ?, body = ?, created_at = ?"
                " WHERE scope = ? AND key = ? AND status = ?",
                params,
            )

        await self._db.write(finish)

    async def abandon(self, scope: str, key: str) -> None:
        await self._db.write(
            lambda conn: conn.execute(
                "DELETE FROM idempotency WHERE scope = ? AND key = ? AND status = ?", (scope, key, IN_PROGRESS)
            )
        )

    async def purge(self, before: datetime, limit: int = 500) -> int:
        params = (format_timestamp(before), max(limit, 0))

        def purge(conn: Conn) -> int:
            return conn.execute(
                "DELETE FROM idempotency WHERE (scope, key) IN"
                " (SELECT scope, key FROM idempotency WHERE created_at < ? ORDER BY created_at LIMIT ?)",
                params,
            ).rowcount

        return await self._db.write(purge)
