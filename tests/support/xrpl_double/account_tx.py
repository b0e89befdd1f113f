"""`account_tx` as rippled answers it (src/xrpld/rpc/handlers/AccountTx.cpp and the node database's
account transaction pages), over the double's transaction records.

- Which transactions: those in validated ledgers whose metadata affects the account (rippled's
  `TxMeta::getAffectedAccounts`: every account-typed field of a created, modified or deleted
  entry, and the issuers of the LowLimit/HighLimit/TakerPays/TakerGets amounts; the sender's
  AccountRoot is always among them, for the fee).
- Range: `ledger_index_min`/`ledger_index_max` (-1 or absent: the validated range's ends), or one
  validated `ledger_index`; a range with max < min is `lgrIdxsInvalid` (API v1) or
  `invalidLgrRange` (v2); API v2 also refuses bounds outside the validated range
  (`lgrIdxMalformed`) and a range given with a ledger_index (`invalidParams`).
- Order: oldest first with `forward: true`, else newest first, by (ledger, TransactionIndex).
- `limit`: an unsigned integer, clamped to 10..400 (rippled's Tuning::accountTx, default 200) for a
  non-admin caller; the double always answers as a public server.
- Paging: when more remain, `marker` = {ledger, seq} of the first transaction *not* returned; a
  request carrying it resumes there (inclusive). A marker without both fields is `invalidParams`.
- Entries: API v1 `{meta, tx, validated}`; v2 `{meta, tx_json, hash, ledger_index, ledger_hash,
  close_time_iso, validated}` (`binary` is not served by the double: notSupported).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from xrpl.core import addresscodec

from tests.support.xrpl_double.engine import RIPPLE_EPOCH, Engine, TxRecord

LIMIT_MIN, LIMIT_DEFAULT, LIMIT_MAX = 10, 200, 400  # rippled Tuning::accountTx
_AMOUNT_ISSUERS = ("LowLimit", "HighLimit", "TakerPays", "TakerGets")


class AccountTxError(Exception):
    def __init__(self, error: str, message: str | None = None) -> None:
        super().__init__(error)
        self.error, self.message = error, message


def affected_accounts(record: TxRecord) -> set[str]:
    found = {str(record.tx_json.get("Account", ""))}
    for wrapper in record.meta.get("AffectedNodes", []):
        for node in wrapper.values():
            for part in ("FinalFields", "NewFields", "PreviousFields"):
                for key, value in (node.get(part) or {}).items():
                    if isinstance(value, str) and key in _ACCOUNT_FIELDS:
                        found.add(value)
                    elif key in _AMOUNT_ISSUERS and isinstance(value, dict) and value.get("issuer"):
                        found.add(str(value["issuer"]))
    found.discard("")
    return found


#: Account-typed (STI_ACCOUNT) fields the double's ledger entries and transactions carry.
_ACCOUNT_FIELDS = frozenset({"Account", "Destination", "Owner", "Issuer", "RegularKey", "Holder", "Authorize"})


def _limit(params: dict[str, Any]) -> int:
    if "limit" not in params:
        return LIMIT_DEFAULT
    raw = params["limit"]
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
        raise AccountTxError("invalidParams", "Invalid field 'limit', not unsigned integer.")
    return max(LIMIT_MIN, min(LIMIT_MAX, raw))


def _range(engine: Engine, params: dict[str, Any], v2: bool) -> tuple[int, int]:
    first = min(engine.ledger_hashes)
    low, high = first, engine.validated_index
    ranged = "ledger_index_min" in params or "ledger_index_max" in params
    if v2 and ranged and ("ledger_index" in params or "ledger_hash" in params):
        raise AccountTxError("invalidParams")
    if ranged:
        asked_min = int(params.get("ledger_index_min", -1))
        asked_max = int(params.get("ledger_index_max", -1))
        if v2 and ((asked_max > high and asked_max != -1) or (0 < asked_min < low)):
            raise AccountTxError("lgrIdxMalformed")
        if asked_min > low:
            low = asked_min
        if 0 <= asked_max < high:
            high = asked_max
        if high < low:
            raise AccountTxError("invalidLgrRange" if v2 else "lgrIdxsInvalid")
        return low, high
    if "ledger_hash" in params:
        raise AccountTxError("notSupported", "the double serves no ledger by hash")
    if "ledger_index" in params:
        which = params["ledger_index"]
        index = high if which in ("validated", "closed") else which
        if not isinstance(index, int) or not low <= index <= high:
            raise AccountTxError("lgrNotValidated" if which == "current" or isinstance(which, int) else "invalidParams")
        return index, index
    return low, high


def _entry(engine: Engine, record: TxRecord, v2: bool) -> dict[str, Any]:
    assert record.ledger_index is not None
    tx_json = dict(record.tx_json) | {"date": record.close_time}
    if not v2:
        return {
            "meta": record.meta,
            "tx": tx_json | {"hash": record.hash, "ledger_index": record.ledger_index},
            "validated": True,
        }
    closed = datetime.fromtimestamp((record.close_time or 0) + RIPPLE_EPOCH, UTC)
    return {
        "meta": record.meta,
        "tx_json": tx_json,
        "hash": record.hash,
        "ledger_index": record.ledger_index,
        "ledger_hash": engine.ledger_hashes[record.ledger_index],
        "close_time_iso": closed.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "validated": True,
    }


def account_tx(engine: Engine, params: dict[str, Any]) -> dict[str, Any]:
    v2 = int(params.get("api_version", 1)) >= 2
    for flag in ("binary", "forward"):
        if v2 and flag in params and not isinstance(params[flag], bool):
            raise AccountTxError("invalidParams", f"Invalid field '{flag}'.")
    limit = _limit(params)
    account = params.get("account")
    if account is None:
        raise AccountTxError("invalidParams", "Missing field 'account'.")
    if not isinstance(account, str):
        raise AccountTxError("invalidParams", "Invalid field 'account'.")
    if not addresscodec.is_valid_classic_address(account):
        raise AccountTxError("actMalformed")
    if params.get("binary"):
        raise AccountTxError("notSupported", "the double answers account_tx in JSON only")
    low, high = _range(engine, params, v2)
    forward = bool(params.get("forward"))
    start: tuple[int, int] | None = None
    if "marker" in params:
        marker = params["marker"]
        if not isinstance(marker, dict) or not all(isinstance(marker.get(k), int) for k in ("ledger", "seq")):
            raise AccountTxError(
                "invalidParams",
                "invalid marker. Provide ledger index via ledger field, and transaction sequence number via seq field",
            )
        start = (marker["ledger"], marker["seq"])
    records = sorted(
        (
            (r.ledger_index, int(r.meta.get("TransactionIndex", 0)), r)
            for r in engine.txs.values()
            if r.ledger_index is not None and low <= r.ledger_index <= high and account in affected_accounts(r)
        ),
        key=lambda t: (t[0], t[1]),
        reverse=not forward,
    )
    if start is not None:
        # resume at the marker, inclusive: it names the first transaction not yet returned
        records = [t for t in records if ((t[0], t[1]) >= start if forward else (t[0], t[1]) <= start)]
    page, rest = records[:limit], records[limit:]
    out: dict[str, Any] = {
        "account": account,
        "ledger_index_min": low,
        "ledger_index_max": high,
        "limit": limit,
        "transactions": [_entry(engine, r, v2) for _, _, r in page],
        "validated": True,
    }
    if rest:
        out["marker"] = {"ledger": rest[0][0], "seq": rest[0][1]}
    return out
