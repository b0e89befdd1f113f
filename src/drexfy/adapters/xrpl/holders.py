"""Who holds an MPT issuance, without walking the whole ledger when it can be avoided.

rippled has no per-issuance holder query: the only complete answer is `ledger_data` of type
`mptoken` over the entire state, which on mainnet is millions of entries. So, cheapest first:
1. Clio's `mpt_holders` (https://xrpl.org/docs/references/http-websocket-apis/public-api-methods/
   clio-methods/mpt_holders), paged by marker, where the server is a Clio (rippled answers
   `unknownCmd`, remembered per adapter);
2. the addresses the platform's register says hold units (`known`), each read with `ledger_entry`
   at one validated ledger: if their balances add up to the issuance's `OutstandingAmount`, nobody
   else holds any (every unit outstanding is in an MPToken entry), so the answer is complete;
3. otherwise (someone the register does not know holds units: drift worth a full answer), the
   `ledger_data` walk.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from typing import Any

from xrpl.models.requests import GenericRequest, Ledger, LedgerData, LedgerEntry
from xrpl.models.requests.ledger_entry import LedgerEntryType
from xrpl.models.requests.ledger_entry import MPToken as MPTokenLookup

from drexfy.adapters.xrpl.rpc import Rpc, RpcFailure
from drexfy.domain.errors import LedgerUnavailable

log = logging.getLogger(__name__)

#: MPToken entries read at once when checking the register's addresses.
CONCURRENT_READS = 16
PAGE = 256


class _LedgerGone(Exception):
    """The ledger the reads are pinned to is no longer served."""


class NotClio(Exception):
    """The server does not offer `mpt_holders` (rippled)."""


async def clio_holders(rpc: Rpc, ref: str) -> dict[str, int]:
    """Clio's `mpt_holders`, every page; NotClio when the server does not know the method."""
    out: dict[str, int] = {}
    marker: Any = None
    index: Any = "validated"
    while True:
        params: dict[str, Any] = {"mpt_issuance_id": ref, "ledger_index": index, "limit": PAGE}
        if marker is not None:
            params["marker"] = marker
        try:
            result = await rpc.call(GenericRequest(method="mpt_holders", **params))
        except RpcFailure as failure:
            if failure.error == "unknownCmd":
                raise NotClio from failure
            raise LedgerUnavailable(f"mpt_holders failed: {failure}") from failure
        index = result.get("ledger_index", index)  # later pages read the same ledger
        for token in result.get("mptokens", []):
            if int(token.get("mpt_amount", 0)) > 0:
                out[str(token["account"])] = int(token["mpt_amount"])
        marker = result.get("marker")
        if not marker:
            return out


async def known_holders(rpc: Rpc, ref: str, addresses: Collection[str]) -> dict[str, int] | None:
    """The balances of `addresses`, or None when they do not account for every outstanding unit."""
    try:
        index = int((await rpc.call(Ledger(ledger_index="validated")))["ledger_index"])
        issuance = (await rpc.call(LedgerEntry(mpt_issuance=ref, ledger_index=index)))["node"]
    except RpcFailure as failure:
        if failure.error == "lgrNotFound":  # closed meanwhile on a node keeping no history
            return None
        raise LedgerUnavailable(f"ledger_entry failed: {failure}") from failure
    outstanding = int(issuance.get("OutstandingAmount", 0))
    gate = asyncio.Semaphore(CONCURRENT_READS)

    async def units(address: str) -> tuple[str, int]:
        async with gate:
            try:
                lookup = MPTokenLookup(mpt_issuance_id=ref, account=address)
                node = (await rpc.call(LedgerEntry(mptoken=lookup, ledger_index=index)))["node"]
            except RpcFailure as failure:
                if failure.error in ("entryNotFound", "actNotFound"):
                    return address, 0
                if failure.error == "lgrNotFound":
                    raise _LedgerGone from failure
                raise LedgerUnavailable(f"ledger_entry failed: {failure}") from failure
            return address, int(node.get("MPTAmount", 0))

    try:
        found = dict(await asyncio.gather(*(units(a) for a in sorted(set(addresses)))))
    except _LedgerGone:
        # The node no longer serves that ledger's state (it keeps little history): the walk below
        # answers instead, rather than balances read from different ledgers.
        return None
    if sum(found.values()) != outstanding:
        log.warning(
            "holders of %s known to the register hold %s of %s outstanding units; reading the whole ledger",
            ref,
            sum(found.values()),
            outstanding,
        )
        return None
    return {a: u for a, u in found.items() if u > 0}


async def scan_holders(rpc: Rpc, ref: str) -> dict[str, int]:
    """Every MPToken entry of the issuance, walking `ledger_data` over the whole state."""
    out: dict[str, int] = {}
    marker: Any = None
    while True:
        result = await rpc.call(
            LedgerData(ledger_index="validated", type=LedgerEntryType.MPTOKEN, marker=marker, limit=PAGE)
        )
        for node in result.get("state", []):
            if node.get("MPTokenIssuanceID") == ref and int(node.get("MPTAmount", 0)) > 0:
                out[node["Account"]] = int(node["MPTAmount"])
        marker = result.get("marker")
        if not marker:
            return out
