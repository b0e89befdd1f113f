"""rippled-compatible JSON-RPC over aiohttp, in front of the double's `Engine`.

Response shapes follow the rippled JSON-RPC reference pages named on each method
(https://xrpl.org/docs/references/http-websocket-apis/public-api-methods/...), closely enough that
xrpl-py's `AsyncJsonRpcClient` and its helpers work unchanged. Unknown methods answer rippled's
`unknownCmd`; transactions the double does not model answer `notSupported`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import Any

import attrs
from aiohttp import web
from xrpl.core import addresscodec

from tests.support.xrpl_double.account_tx import AccountTxError, account_tx
from tests.support.xrpl_double.codes import code_of, message_of
from tests.support.xrpl_double.engine import (
    LSF_ALLOW_TRUSTLINE_CLAWBACK,
    LSF_DEFAULT_RIPPLE,
    LSF_DEPOSIT_AUTH,
    LSF_DISALLOW_XRP,
    LSF_GLOBAL_FREEZE,
    LSF_HIGH_AUTH,
    LSF_HIGH_DEEP_FREEZE,
    LSF_HIGH_FREEZE,
    LSF_HIGH_NO_RIPPLE,
    LSF_LOW_AUTH,
    LSF_LOW_DEEP_FREEZE,
    LSF_LOW_FREEZE,
    LSF_LOW_NO_RIPPLE,
    LSF_NO_FREEZE,
    LSF_REQUIRE_AUTH,
    LSF_REQUIRE_DEST,
    NFT_PAGE_SIZE,
    RIPPLE_EPOCH,
    Engine,
    Fees,
    InvalidTransaction,
    NotSupported,
    State,
    iou_text,
    sha512half,
)

log = logging.getLogger(__name__)

ERRORS = {
    "actNotFound": (19, "Account not found."),
    "actMalformed": (35, "Account malformed."),
    "txnNotFound": (29, "Transaction not found."),
    "entryNotFound": (21, "Entry not found."),
    "lgrNotFound": (21, "ledgerNotFound"),
    "invalidParams": (31, "Invalid parameters."),
    "unknownCmd": (32, "Unknown method."),
    "invalidTransaction": (74, "invalidTransaction"),
    "notSupported": (75, "Operation not supported."),
    "lgrIdxsInvalid": (57, "Ledger indexes invalid."),
    "lgrIdxMalformed": (58, "Ledger index malformed."),
    "lgrNotValidated": (22, "Ledger not validated."),
    "invalidLgrRange": (79, "Ledger range is invalid."),
}


class RpcError(Exception):
    def __init__(self, error: str, message: str | None = None, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.message = message or ERRORS[error][1]
        self.extra = extra


@attrs.define
class DoubleConfig:
    """How the double behaves. `auto_close` closes a ledger after every applied submission (a fast
    network); `close_interval` (seconds) also closes ledgers on a timer so LastLedgerSequence
    expiry is observable; None disables the timer (tests then call `ledger_accept`)."""

    auto_close: bool = True
    close_interval: float | None = 0.25
    fees: Fees = attrs.field(factory=Fees)
    #: Optional amendments to enable; {"Batch"} turns on XLS-56 (off on mainnet, and by default).
    amendments: frozenset[str] = frozenset()
    #: rippled's `[network_id]`; None as a stand-alone rippled without one (no network_id in
    #: server_info, transactions carry no NetworkID).
    network_id: int | None = None
    #: Also answer Clio's `mpt_holders` (a Clio server in front of rippled); rippled itself answers
    #: `unknownCmd`.
    clio: bool = False


class LedgerDouble:
    """The in-process double: `async with LedgerDouble() as double: double.url`."""

    def __init__(self, config: DoubleConfig | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.config = config or DoubleConfig()
        self.engine = Engine(self.config.fees, amendments=self.config.amendments, network_id=self.config.network_id)
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None
        self._closer: asyncio.Task[None] | None = None
        #: Every JSON-RPC method called, in order (tests assert on traffic with it).
        self.calls: list[str] = []

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def app(self) -> web.Application:
        app = web.Application(client_max_size=2 * 1024 * 1024)
        app.router.add_post("/", self._handle)
        return app

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        assert server is not None and server.sockets  # type: ignore[union-attr]
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        if self.config.close_interval:
            self._closer = asyncio.create_task(self._close_periodically(self.config.close_interval))

    async def stop(self) -> None:
        if self._closer is not None:
            self._closer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._closer
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> LedgerDouble:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def restart_closer(self, interval: float | None) -> None:
        """Close ledgers every `interval` seconds from now on (None: stop the timer)."""
        if self._closer is not None:
            self._closer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._closer
            self._closer = None
        self.config.close_interval = interval
        if interval:
            self._closer = asyncio.create_task(self._close_periodically(interval))

    async def _close_periodically(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            self.engine.close()

    # --- JSON-RPC ------------------------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
            method = body["method"]
            params = (body.get("params") or [{}])[0]
        except Exception:
            return web.json_response({"result": self._error("invalidParams", {}, "malformed JSON-RPC request")})
        self.calls.append(method)
        handler = getattr(self, f"rpc_{method}", None)
        if handler is None:
            return web.json_response({"result": self._error("unknownCmd", params)})
        try:
            result = handler(params)
            result["status"] = "success"
        except RpcError as exc:
            result = self._error(exc.error, params, exc.message, **exc.extra)
        except ConnectionAbortedError:
            # Fault injection: the request is lost; the caller sees a broken connection.
            if request.transport is not None:
                request.transport.close()
            raise
        return web.json_response({"result": result})

    @staticmethod
    def _error(error: str, params: dict[str, Any], message: str | None = None, **extra: Any) -> dict[str, Any]:
        code, default = ERRORS[error]
        return {
            "error": error,
            "error_code": code,
            "error_message": message or default,
            "request": params,
            "status": "error",
            **extra,
        }

    # --- ledger selection ----------------------------------------------------------------------
    def _select(self, params: dict[str, Any], default: str = "current") -> tuple[State, dict[str, Any]]:
        which = params.get("ledger_index", default)
        if params.get("ledger_hash"):
            raise RpcError("lgrNotFound", "the double serves only the current and validated ledgers")
        e = self.engine
        if which in ("validated", "closed") or which == e.validated_index:
            return e.validated, {
                "ledger_index": e.validated_index,
                "ledger_hash": e.ledger_hashes[e.validated_index],
                "validated": True,
            }
        if which == "current" or which == e.current_index:
            return e.open, {"ledger_current_index": e.current_index, "validated": False}
        raise RpcError("lgrNotFound", f"ledger {which} is not available in the double")

    @staticmethod
    def _account_param(params: dict[str, Any]) -> str:
        account = params.get("account")
        if not isinstance(account, str):
            raise RpcError("invalidParams", "Missing field 'account'.")
        # rippled's account methods parse the address first (parseBase58<AccountID>): anything that
        # is not a classic address is actMalformed, never actNotFound.
        if not addresscodec.is_valid_classic_address(account):
            raise RpcError("actMalformed")
        return account

    # --- server --------------------------------------------------------------------------------
    def _validated_ledger(self) -> dict[str, Any]:
        e = self.engine
        return {"seq": e.validated_index, "hash": e.ledger_hashes[e.validated_index], "close_time": e.close_time}

    def rpc_ping(self, params: dict[str, Any]) -> dict[str, Any]:
        return {}

    def rpc_server_info(self, params: dict[str, Any]) -> dict[str, Any]:
        """https://xrpl.org/docs/references/http-websocket-apis/public-api-methods/server-info-methods/server_info"""
        e, f = self.engine, self.engine.fees
        vl = self._validated_ledger()
        return {
            "info": {
                "build_version": "2.4.0",
                "complete_ledgers": f"2-{e.validated_index}",
                "hostid": "XRPL-DOUBLE",
                "io_latency_ms": 1,
                "load_factor": f.open_ledger_fee / f.base_fee,
                "peers": 0,
                "pubkey_node": "n9KAa2zVWjPHgfzsE3iZ8HAbzJtPrnYh4H2gUN9q8jDmkPkwyUpb",
                "server_state": "full",
                "uptime": 1,
                "validated_ledger": {
                    **{k: vl[k] for k in ("seq", "hash")},
                    "age": 0,
                    "base_fee_xrp": f.base_fee / 1e6,
                    "reserve_base_xrp": f.reserve_base / 1e6,
                    "reserve_inc_xrp": f.reserve_inc / 1e6,
                },
                "validation_quorum": 1,
                # NetworkOPs.cpp getServerInfo: network_id only when the node has one configured.
                **({"network_id": e.network_id} if e.network_id is not None else {}),
            }
        }

    def rpc_server_state(self, params: dict[str, Any]) -> dict[str, Any]:
        """Integers in drops (https://xrpl.org/docs/references/http-websocket-apis/public-api-methods/
        server-info-methods/server_state) — what the adapter reads the reserves from."""
        e, f = self.engine, self.engine.fees
        return {
            "state": {
                "build_version": "2.4.0",
                "complete_ledgers": f"2-{e.validated_index}",
                "load_base": 256,
                "load_factor": 256 * f.open_ledger_fee // f.base_fee,
                "peers": 0,
                "server_state": "full",
                "validated_ledger": {
                    **self._validated_ledger(),
                    "base_fee": f.base_fee,
                    "reserve_base": f.reserve_base,
                    "reserve_inc": f.reserve_inc,
                },
            }
        }

    def rpc_fee(self, params: dict[str, Any]) -> dict[str, Any]:
        """https://xrpl.org/docs/references/http-websocket-apis/public-api-methods/server-info-methods/fee"""
        e, f = self.engine, self.engine.fees
        return {
            "current_ledger_size": str(len(e.pending)),
            "current_queue_size": "0",
            "drops": {
                "base_fee": str(f.base_fee),
                "median_fee": str(f.base_fee * 500),
                "minimum_fee": str(f.base_fee),
                "open_ledger_fee": str(f.open_ledger_fee),
            },
            "expected_ledger_size": "1000",
            "ledger_current_index": e.current_index,
            "levels": {
                "median_level": "128000",
                "minimum_level": "256",
                "open_ledger_level": str(256 * f.open_ledger_fee // f.base_fee),
                "reference_level": "256",
            },
            "max_queue_size": "20000",
        }

    # --- ledgers -------------------------------------------------------------------------------
    def rpc_ledger(self, params: dict[str, Any]) -> dict[str, Any]:
        """https://xrpl.org/docs/references/http-websocket-apis/public-api-methods/ledger-methods/ledger"""
        e = self.engine
        v2 = int(params.get("api_version", 1)) >= 2
        which = params.get("ledger_index", "current")
        if which == "current" or which == e.current_index:
            header: dict[str, Any] = {
                "closed": False,
                "ledger_index": e.current_index if v2 else str(e.current_index),
                "parent_hash": e.ledger_hashes[e.validated_index],
            }
            if params.get("transactions"):
                header["transactions"] = list(e.pending)
            return {"ledger": header, "ledger_current_index": e.current_index, "validated": False}
        if isinstance(which, int) and which in e.ledger_hashes and which < e.validated_index:
            # A closed ledger of the past: its header and its transactions (rippled keeps history;
            # the double keeps every transaction record, not old state).
            index = which
        else:
            _, sel = self._select(params, default="validated")
            index = sel["ledger_index"]
        header = {
            "accepted": True,
            "closed": True,
            "close_flags": 0,
            "close_time": e.close_time,
            "close_time_human": datetime.fromtimestamp(e.close_time + RIPPLE_EPOCH, UTC).strftime(
                "%Y-%b-%d %H:%M:%S.000000000 UTC"
            ),
            "close_time_resolution": 10,
            "ledger_hash": e.ledger_hashes[index],
            "ledger_index": index if v2 else str(index),
            "parent_hash": e.ledger_hashes.get(index - 1, "0" * 64),
            "total_coins": str(sum(a.balance for a in e.validated.accounts.values())),
            "account_hash": sha512half(b"state" + index.to_bytes(4, "big")).hex().upper(),
            "transaction_hash": sha512half(b"txs" + index.to_bytes(4, "big")).hex().upper(),
        }
        if params.get("transactions"):
            records = sorted(
                (r for r in e.txs.values() if r.ledger_index == index), key=lambda r: r.meta.get("TransactionIndex", 0)
            )
            if params.get("expand"):
                # rippled: API v1 puts each transaction's fields at the top level with `metaData`;
                # v2 nests them in `tx_json` beside `meta` (LedgerToJson.cpp).
                header["transactions"] = [
                    {"tx_json": dict(r.tx_json), "meta": r.meta, "hash": r.hash}
                    if v2
                    else {**r.tx_json, "metaData": r.meta, "hash": r.hash}
                    for r in records
                ]
            else:
                header["transactions"] = [r.hash for r in records]
        return {"ledger": header, "ledger_hash": e.ledger_hashes[index], "ledger_index": index, "validated": True}

    def rpc_ledger_accept(self, params: dict[str, Any]) -> dict[str, Any]:
        """Admin: close the open ledger (https://xrpl.org/docs/references/http-websocket-apis/
        admin-api-methods/server-control-methods/ledger_accept)."""
        self.engine.close()
        return {"ledger_current_index": self.engine.current_index}

    def rpc_ledger_current(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"ledger_current_index": self.engine.current_index}

    def rpc_ledger_closed(self, params: dict[str, Any]) -> dict[str, Any]:
        e = self.engine
        return {"ledger_hash": e.ledger_hashes[e.validated_index], "ledger_index": e.validated_index}

    # --- accounts ------------------------------------------------------------------------------
    def rpc_account_info(self, params: dict[str, Any]) -> dict[str, Any]:
        """https://xrpl.org/docs/references/http-websocket-apis/public-api-methods/account-methods/account_info"""
        account = self._account_param(params)
        state, sel = self._select(params)
        root = state.accounts.get(account)
        if root is None:
            raise RpcError("actNotFound", account=account, **sel)
        f = root.flags
        return {
            "account_data": root.to_json(),
            "account_flags": {
                "allowTrustLineClawback": bool(f & LSF_ALLOW_TRUSTLINE_CLAWBACK),
                "defaultRipple": bool(f & LSF_DEFAULT_RIPPLE),
                "depositAuth": bool(f & LSF_DEPOSIT_AUTH),
                "disableMasterKey": False,
                "disallowIncomingXRP": bool(f & LSF_DISALLOW_XRP),
                "globalFreeze": bool(f & LSF_GLOBAL_FREEZE),
                "noFreeze": bool(f & LSF_NO_FREEZE),
                "requireAuthorization": bool(f & LSF_REQUIRE_AUTH),
                "requireDestinationTag": bool(f & LSF_REQUIRE_DEST),
            },
            **sel,
        }

    def _require_account(self, state: State, account: str, sel: dict[str, Any]) -> None:
        if account not in state.accounts:
            raise RpcError("actNotFound", account=account, **sel)

    def rpc_account_lines(self, params: dict[str, Any]) -> dict[str, Any]:
        """https://xrpl.org/docs/references/http-websocket-apis/public-api-methods/account-methods/account_lines"""
        account = self._account_param(params)
        state, sel = self._select(params)
        self._require_account(state, account, sel)
        peer = params.get("peer")
        lines = []
        for ln in state.lines_of(account):
            other = ln.high if account == ln.low else ln.low
            if peer and other != peer:
                continue
            entry = {
                "account": other,
                "balance": iou_text(ln.holding(account)),
                "currency": ln.currency,
                "limit": iou_text(ln.limit(account)),
                "limit_peer": iou_text(ln.limit(other)),
                "quality_in": 0,
                "quality_out": 0,
                "no_ripple": ln.flag(account, LSF_LOW_NO_RIPPLE, LSF_HIGH_NO_RIPPLE),
                "no_ripple_peer": ln.flag(other, LSF_LOW_NO_RIPPLE, LSF_HIGH_NO_RIPPLE),
            }
            for key, who, low_flag, high_flag in (
                ("authorized", account, LSF_LOW_AUTH, LSF_HIGH_AUTH),
                ("peer_authorized", other, LSF_LOW_AUTH, LSF_HIGH_AUTH),
                ("freeze", account, LSF_LOW_FREEZE, LSF_HIGH_FREEZE),
                ("freeze_peer", other, LSF_LOW_FREEZE, LSF_HIGH_FREEZE),
                ("deep_freeze", account, LSF_LOW_DEEP_FREEZE, LSF_HIGH_DEEP_FREEZE),
                ("deep_freeze_peer", other, LSF_LOW_DEEP_FREEZE, LSF_HIGH_DEEP_FREEZE),
            ):
                if ln.flag(who, low_flag, high_flag):
                    entry[key] = True
            lines.append(entry)
        return {"account": account, "lines": lines, **sel}

    def _objects_of(self, state: State, account: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = [ln.to_json() for ln in state.lines_of(account)]
        out += [i.to_json() for i in state.issuances.values() if i.issuer == account]
        out += [t.to_json() for t in state.mptokens.values() if t.account == account]
        out += [o.to_json() for o in state.nft_offers.values() if o.owner == account]
        nfts = state.nfts_of(account)
        for start in range(0, len(nfts), NFT_PAGE_SIZE):
            page = nfts[start : start + NFT_PAGE_SIZE]
            out.append(
                {
                    "LedgerEntryType": "NFTokenPage",
                    "NFTokens": [{"NFToken": {"NFTokenID": n.id, **({"URI": n.uri} if n.uri else {})}} for n in page],
                    "index": sha512half(b"page" + account.encode() + start.to_bytes(4, "big")).hex().upper(),
                }
            )
        return out

    def rpc_account_objects(self, params: dict[str, Any]) -> dict[str, Any]:
        """https://xrpl.org/docs/references/http-websocket-apis/public-api-methods/account-methods/account_objects"""
        account = self._account_param(params)
        state, sel = self._select(params)
        self._require_account(state, account, sel)
        types = {
            "state": "RippleState",
            "mpt_issuance": "MPTokenIssuance",
            "mptoken": "MPToken",
            "nft_offer": "NFTokenOffer",
            "nft_page": "NFTokenPage",
        }
        wanted = params.get("type")
        if wanted is not None and wanted not in types:
            raise RpcError("invalidParams", f"the double does not serve account_objects type {wanted!r}")
        objects = [
            o for o in self._objects_of(state, account) if wanted is None or o["LedgerEntryType"] == types[wanted]
        ]
        return {"account": account, "account_objects": objects, **sel}

    def rpc_account_nfts(self, params: dict[str, Any]) -> dict[str, Any]:
        """https://xrpl.org/docs/references/http-websocket-apis/public-api-methods/account-methods/account_nfts"""
        account = self._account_param(params)
        state, sel = self._select(params)
        self._require_account(state, account, sel)
        return {"account": account, "account_nfts": [n.to_json() for n in state.nfts_of(account)], **sel}

    def rpc_ledger_entry(self, params: dict[str, Any]) -> dict[str, Any]:
        """https://xrpl.org/docs/references/http-websocket-apis/public-api-methods/ledger-methods/ledger_entry"""
        state, sel = self._select(params, default="validated")
        node: dict[str, Any] | None = None
        if "mpt_issuance" in params:
            issuance = state.issuances.get(str(params["mpt_issuance"]).upper())
            node = issuance.to_json() if issuance else None
        elif "mptoken" in params:
            spec = params["mptoken"]
            token = state.mptokens.get((str(spec.get("mpt_issuance_id", "")).upper(), spec.get("account", "")))
            node = token.to_json() if token else None
        elif "account_root" in params:
            root = state.accounts.get(params["account_root"])
            node = root.to_json() if root else None
        else:
            raise RpcError("invalidParams", "the double serves ledger_entry for mpt_issuance, mptoken, account_root")
        if node is None:
            raise RpcError("entryNotFound", **sel)
        return {"index": node["index"], "node": node, **sel}

    def rpc_ledger_data(self, params: dict[str, Any]) -> dict[str, Any]:
        """Walk the ledger's state (https://xrpl.org/docs/references/http-websocket-apis/
        public-api-methods/ledger-methods/ledger_data); `type` filter, `limit` and `marker` paging."""
        state, sel = self._select(params, default="validated")
        kinds = {
            "account": [a.to_json() for a in state.accounts.values()],
            "state": [ln.to_json() for ln in state.lines.values()],
            "mpt_issuance": [i.to_json() for i in state.issuances.values()],
            "mptoken": [t.to_json() for t in state.mptokens.values()],
        }
        wanted = params.get("type")
        if wanted is not None and wanted not in kinds:
            raise RpcError("invalidParams", f"the double does not serve ledger_data type {wanted!r}")
        objects = [o for k, objs in kinds.items() if wanted in (None, k) for o in objs]
        objects.sort(key=lambda o: o["index"])
        # rippled's marker is opaque to clients: the key (index) of the last entry returned; the
        # next page starts after it (LedgerData.cpp). A marker that is not a key is invalidParams.
        marker = params.get("marker")
        if marker is not None and (
            not isinstance(marker, str) or len(marker) != 64 or any(c not in "0123456789abcdefABCDEF" for c in marker)
        ):
            raise RpcError("invalidParams", "Invalid field 'marker', not valid.")
        if marker is not None:
            objects = [o for o in objects if o["index"] > marker.upper()]
        limit = max(1, min(int(params.get("limit", 256)), 2048))
        page = objects[:limit]
        out = {"state": page, **sel}
        if len(objects) > limit:
            out["marker"] = page[-1]["index"]
        return out

    def rpc_mpt_holders(self, params: dict[str, Any]) -> dict[str, Any]:
        """Clio only (https://xrpl.org/docs/references/http-websocket-apis/public-api-methods/
        clio-methods/mpt_holders): the issuance's MPToken entries, paged by an opaque marker."""
        if not self.config.clio:
            raise RpcError("unknownCmd")
        state, sel = self._select(params, default="validated")
        ref = params.get("mpt_issuance_id")
        if not isinstance(ref, str) or ref.upper() not in state.issuances:
            raise RpcError("objectNotFound", "The requested object was not found.")
        tokens = sorted(
            (t.to_json() for t in state.mptokens.values() if t.issuance_id.upper() == ref.upper()),
            key=lambda t: t["index"],
        )
        marker = params.get("marker")
        if marker is not None:
            tokens = [t for t in tokens if t["index"] > str(marker).upper()]
        limit = max(1, min(int(params.get("limit", 50)), 100))
        page = tokens[:limit]
        out: dict[str, Any] = {
            "mpt_issuance_id": ref,
            "limit": limit,
            "ledger_index": sel.get("ledger_index", sel.get("ledger_current_index")),
            "mptokens": [
                {
                    "account": t["Account"],
                    "flags": t["Flags"],
                    "mpt_amount": t["MPTAmount"],
                    "mptoken_index": t["index"],
                }
                for t in page
            ],
            "validated": sel["validated"],
        }
        if len(tokens) > limit:
            out["marker"] = page[-1]["index"]
        return out

    # --- transactions --------------------------------------------------------------------------
    def rpc_submit(self, params: dict[str, Any]) -> dict[str, Any]:
        """Binary mode only (https://xrpl.org/docs/references/http-websocket-apis/public-api-methods/
        transaction-methods/submit): the double never holds secrets and does not sign."""
        blob = params.get("tx_blob")
        if not isinstance(blob, str):
            raise RpcError("invalidParams", "the double accepts signed tx_blob submissions only")
        e = self.engine
        try:
            outcome = e.submit(blob)
        except InvalidTransaction as exc:
            raise RpcError("invalidTransaction", str(exc), error_exception=str(exc)) from exc
        except NotSupported as exc:
            raise RpcError("notSupported", str(exc)) from exc
        if outcome.applied and self.config.auto_close:
            e.close()
        account = outcome.tx_json.get("Account", "")
        root = e.open.accounts.get(account)
        return {
            "accepted": outcome.applied or outcome.engine_result == "terPRE_SEQ",
            "account_sequence_available": root.sequence if root else 0,
            "account_sequence_next": root.sequence if root else 0,
            "applied": outcome.applied,
            "broadcast": outcome.applied,
            "engine_result": outcome.engine_result,
            "engine_result_code": code_of(outcome.engine_result),
            "engine_result_message": outcome.why or message_of(outcome.engine_result),
            "kept": outcome.applied or outcome.engine_result == "terPRE_SEQ",
            "open_ledger_cost": str(e.fees.open_ledger_fee),
            "queued": False,
            "tx_blob": blob,
            "tx_json": outcome.tx_json,
            "validated_ledger_index": e.validated_index,
        }

    def rpc_account_tx(self, params: dict[str, Any]) -> dict[str, Any]:
        """https://xrpl.org/docs/references/http-websocket-apis/public-api-methods/account-methods/account_tx
        (see account_tx.py for the rules from rippled's handler)."""
        try:
            return account_tx(self.engine, params)
        except AccountTxError as exc:
            raise RpcError(exc.error, exc.message) from exc

    def rpc_tx(self, params: dict[str, Any]) -> dict[str, Any]:
        """https://xrpl.org/docs/references/http-websocket-apis/public-api-methods/transaction-methods/tx
        API v1 puts the transaction's fields at the top level; v2 nests them in `tx_json`."""
        e = self.engine
        digest = str(params.get("transaction", "")).upper()
        rec = e.txs.get(digest)
        if rec is None:
            extra: dict[str, Any] = {}
            if "min_ledger" in params and "max_ledger" in params:
                extra["searched_all"] = int(params["max_ledger"]) <= e.validated_index
            raise RpcError("txnNotFound", **extra)
        v2 = int(params.get("api_version", 1)) >= 2
        tx_json = dict(rec.tx_json)
        out: dict[str, Any] = {"hash": rec.hash}
        if rec.ledger_index is None:
            out["validated"] = False
        else:
            out.update(
                {
                    "ledger_index": rec.ledger_index,
                    "ledger_hash": e.ledger_hashes[rec.ledger_index],
                    "meta": rec.meta,
                    "validated": True,
                    "close_time_iso": datetime.fromtimestamp((rec.close_time or 0) + RIPPLE_EPOCH, UTC).strftime(
                        "%Y-%m-%dT%H:%M:%SZ"
                    ),
                }
            )
        if v2:
            out["tx_json"] = tx_json
            if rec.ledger_index is not None:
                out["tx_json"]["date"] = rec.close_time
                out["tx_json"]["ledger_index"] = rec.ledger_index
        else:
            out.update(tx_json)
            if rec.ledger_index is not None:
                out["date"] = rec.close_time
        return out
