"""Operators, API tokens and approval requests (AccessRecords): versioned JSON documents."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

from drexfy.adapters.serialization import dumps, loads
from drexfy.adapters.sqlite.db import Database
from drexfy.domain.ports import AccessRecord

Conn = sqlite3.Connection


#: Expired rate-limit windows are deleted once every this many counts (in the same write).
_SWEEP_EVERY = 4096


class SqliteAccessRecords:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._counted = 0

    async def get(self, kind: str, record_id: str) -> AccessRecord | None:
        row = await self._db.read(
            lambda conn: conn.execute(
                "SELECT version, data FROM access_records WHERE kind = ? AND id = ?", (kind, record_id)
            ).fetchone()
        )
        return None if row is None else AccessRecord(kind, record_id, int(row[0]), loads(row[1]))

    async def create(self, kind: str, record_id: str, data: Mapping[str, Any]) -> bool:
        params = (kind, record_id, dumps(dict(data)))

        def create(conn: Conn) -> bool:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO access_records (kind, id, version, data) VALUES (?, ?, 1, ?)", params
            )
            return cursor.rowcount == 1

        return await self._db.write(create)

    async def replace(self, kind: str, record_id: str, data: Mapping[str, Any], version: int) -> bool:
        params = (dumps(dict(data)), kind, record_id, version)

        def replace(conn: Conn) -> bool:
            cursor = conn.execute(
                "UPDATE access_records SET data = ?, version = version + 1 WHERE kind = ? AND id = ? AND version = ?",
                params,
            )
            return cursor.rowcount == 1

        return await self._db.write(replace)

    async def list(self, kind: str, after: str | None = None, limit: int = 100) -> list[AccessRecord]:
        params = (kind, after or "", max(limit, 0))
        rows = await self._db.read(
            lambda conn: conn.execute(
                "SELECT id, version, data FROM access_records WHERE kind = ? AND id > ? ORDER BY id LIMIT ?", params
            ).fetchall()
        )
        return [AccessRecord(kind, row[0], int(row[1]), loads(row[2])) for row in rows]

    async def count_in_window(self, counter: str, window: int, limit: int, expires_at: float) -> bool:
        # One UPSERT: a new or older window restarts at 1; the current one counts up to `limit`, and
        # at the limit the WHERE leaves the row alone and RETURNING gives nothing.
        self._counted += 1
        sweep = self._counted % _SWEEP_EVERY == 0

        def count(conn: Conn) -> bool:
            row = conn.execute(
                "INSERT INTO rate_windows (counter, win, count, expires) VALUES (?, ?, 1, ?) "
                "ON CONFLICT (counter) DO UPDATE SET "
                "count = CASE WHEN win < excluded.win THEN 1 ELSE count + 1 END, "
                "expires = MAX(expires, excluded.expires), win = MAX(win, excluded.win) "
                "WHERE win < excluded.win OR count < ? RETURNING count",
                (counter, window, expires_at, limit),
            ).fetchone()
            if sweep:
                conn.execute("DELETE FROM rate_windows WHERE expires < ?", (expires_at - 3600,))
            return row is not None

        return await self._db.write(count)
