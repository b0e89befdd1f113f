"""The audit trail in SQLite (`audit_log` and `audit_head`, migration 0008).

`append_audit` runs inside a writer transaction: a unit of work's (so the entries commit with the
change they record) or its own. Writers are serialised by the write lock, so the head read here is
the head the entries are chained to.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from drexfy.adapters.serialization import format_timestamp, parse_timestamp
from drexfy.adapters.sqlite.db import Database
from drexfy.domain.audit import AuditEntry, AuditFilter, AuditHead, AuditRecord, chain

Conn = sqlite3.Connection

_COLUMNS = "seq, actor, role, action, subject, reason, request_id, at, ref, digest, prev_hash, hash"


def read_head(conn: Conn) -> AuditHead:
    row = conn.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
    return AuditHead() if row is None else AuditHead(int(row[0]), str(row[1]))


def append_audit(conn: Conn, records: Sequence[AuditRecord]) -> list[AuditEntry]:
    """Chain `records` after the head and write them with the new head (caller's transaction)."""
    if not records:
        return []
    entries = chain(records, read_head(conn))
    conn.executemany(
        f"INSERT INTO audit_log ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
        [
            (
                e.seq,
                e.actor,
                e.role,
                e.action,
                e.subject,
                e.reason,
                e.request_id,
                format_timestamp(e.at),
                e.ref,
                e.digest,
                e.prev_hash,
                e.hash,
            )
            for e in entries
        ],
    )
    last = entries[-1]
    conn.execute(
        "INSERT INTO audit_head (id, seq, hash) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE SET seq = ?, hash = ?",
        (last.seq, last.hash, last.seq, last.hash),
    )
    return entries


def _entry(row: Sequence[Any]) -> AuditEntry:
    return AuditEntry(
        seq=int(row[0]),
        actor=row[1],
        role=row[2],
        action=row[3],
        subject=row[4],
        reason=row[5],
        request_id=row[6],
        at=parse_timestamp(row[7]),
        ref=row[8],
        digest=row[9],
        prev_hash=row[10],
        hash=row[11],
    )


class SqliteAuditLog:
    """The `AuditLog` port over the store's database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def head(self) -> AuditHead:
        return await self._db.read(read_head)

    async def append(self, records: Sequence[AuditRecord]) -> list[AuditEntry]:
        return await self._db.write(lambda conn: append_audit(conn, records))

    async def list(
        self, where: AuditFilter | None = None, after: int = 0, limit: int = 100
    ) -> tuple[list[AuditEntry], int | None]:
        where = where or AuditFilter()
        sql = f"SELECT {_COLUMNS} FROM audit_log WHERE seq > ?"  # noqa: S608
        params: list[Any] = [after]
        for column, value in (("actor", where.actor), ("action", where.action), ("subject", where.subject)):
            if value is not None:
                sql += f" AND {column} = ?"
                params.append(value)
        if where.since is not None:
            sql += " AND at >= ?"
            params.append(format_timestamp(where.since))
        if where.until is not None:
            sql += " AND at < ?"
            params.append(format_timestamp(where.until))
        sql += " ORDER BY seq LIMIT ?"
        params.append(max(limit, 0) + 1)
        rows = await self._db.read(lambda conn: conn.execute(sql, params).fetchall())
        entries = [_entry(r) for r in rows]
        if len(entries) > limit:
            return entries[:limit], entries[limit - 1].seq
        return entries, None
