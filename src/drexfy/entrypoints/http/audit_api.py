"""`GET /api/v1/audit`: the audit trail for compliance, admins (and auditors), filtered and paged
with the API's cursor (`after`/`next`), or exported as CSV (`?format=csv` or `Accept: text/csv`)."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

from aiohttp import web

from drexfy.domain.audit import AuditEntry, AuditFilter
from drexfy.domain.processes.audit import audit_page
from drexfy.entrypoints.http.api import Call, Reply, _limit
from drexfy.entrypoints.http.validation import field_error
from drexfy.entrypoints.runtime.logs import request_id_var

COLUMNS = (
    "seq",
    "at",
    "actor",
    "role",
    "action",
    "subject",
    "reason",
    "request_id",
    "ref",
    "digest",
    "prev_hash",
    "hash",
)
#: Entries read per store query while exporting.
_EXPORT_PAGE = 500
#: A spreadsheet runs a cell that starts with one of these as a formula (CSV injection): such a cell
#: is exported with a leading apostrophe. Reasons come from providers and operators.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def entry_view(entry: AuditEntry) -> dict[str, Any]:
    return {
        "seq": entry.seq,
        "actor": entry.actor,
        "role": entry.role,
        "action": entry.action,
        "subject": entry.subject,
        "reason": entry.reason,
        "request_id": entry.request_id,
        "at": entry.at.isoformat(),
        "ref": entry.ref,
        "digest": entry.digest,
        "prev_hash": entry.prev_hash,
        "hash": entry.hash,
    }


def _time(raw: str | None, name: str) -> datetime | None:
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise field_error(name, "must be an ISO 8601 date-time with a time zone") from None
    if value.tzinfo is None:
        raise field_error(name, "must be an ISO 8601 date-time with a time zone")
    return value


def _text(raw: str | None, name: str) -> str | None:
    if raw is not None and not 1 <= len(raw) <= 200:
        raise field_error(name, "must be 1 to 200 characters")
    return raw


def _after(raw: str | None) -> int:
    raw = raw or "0"
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 20:
        raise field_error("after", "must be the `next` of the previous page")
    return int(raw)


def _wants_csv(fmt: str | None, accept: str) -> bool:
    if fmt is not None and fmt not in ("json", "csv"):
        raise field_error("format", "must be json or csv")
    if fmt is not None:
        return fmt == "csv"
    return "text/csv" in accept and "application/json" not in accept


def _cell(value: Any) -> str:
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_rows(entries: list[AuditEntry]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for entry in entries:
        view = entry_view(entry)
        writer.writerow([_cell(view[c]) for c in COLUMNS])
    return out.getvalue().encode()


async def list_audit(call: Call) -> Reply:
    query = call.request.query
    where = AuditFilter(
        actor=_text(query.get("actor"), "actor"),
        action=_text(query.get("action"), "action"),
        subject=_text(query.get("subject"), "subject"),
        since=_time(query.get("since"), "since"),
        until=_time(query.get("until"), "until"),
    )
    if where.since is not None and where.until is not None and where.since > where.until:
        raise field_error("until", "must not be before `since`")
    after = _after(query.get("after"))
    if _wants_csv(query.get("format"), call.request.headers.get("Accept", "")):
        return 200, await _export(call, where, after)
    entries, following = await audit_page(call.svc.store, where, after=after, limit=_limit(call.request))
    return 200, {"items": [entry_view(e) for e in entries], "next": None if following is None else str(following)}


async def _export(call: Call, where: AuditFilter, after: int) -> web.StreamResponse:
    """Every matching entry after `after`, streamed page by page (an export is not paged)."""
    headers = {"Content-Type": "text/csv; charset=utf-8", "Content-Disposition": 'attachment; filename="audit.csv"'}
    headers["X-Request-Id"] = request_id_var.get() or ""  # sent with the head, before the middleware sees it
    response = web.StreamResponse(headers=headers)
    await response.prepare(call.request)
    await response.write((",".join(COLUMNS) + "\r\n").encode())
    cursor: int | None = after
    while cursor is not None:
        entries, cursor = await audit_page(call.svc.store, where, after=cursor, limit=_EXPORT_PAGE)
        if entries:
            await response.write(csv_rows(entries))
    await response.write_eof()
    return response
