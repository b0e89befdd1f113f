"""The compiled contracts shipped in `artifacts/` (built by `make contracts`) and their custom errors."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

import attrs
from eth_utils.crypto import keccak

#: Custom errors that mean "the chain's compliance rules refused it".
COMPLIANCE_ERRORS = frozenset(
    {"WalletFrozen", "SanctionedWallet", "UnclassifiedWallet", "IneligibleReceiver", "EnforcedPause"}
)
SUITE = (
    "InvestorClassification",
    "InstrumentRegistry",
    "Stablecoin",
    "Settlement",
    "Distribution",
    "FinancialInstrument",
    "AuditAnchor",
    "MigratedInstrument",
)


@attrs.frozen
class Artifact:
    name: str
    abi: list[dict[str, Any]]
    bytecode: str
    compiler: str
    source_hash: str


@cache
def load_artifact(name: str) -> Artifact:
    """One contract's artifact (ABI and creation bytecode)."""
    text = resources.files("drexfy.adapters.evm").joinpath("artifacts", f"{name}.json").read_text("utf-8")
    data = json.loads(text)
    return Artifact(name, data["abi"], data["bytecode"], data["compiler"]["version"], data["sourceHash"])


@attrs.frozen
class ErrorSpec:
    name: str
    types: tuple[str, ...]
    names: tuple[str, ...]


@cache
def error_table() -> dict[bytes, ErrorSpec]:
    """4-byte selector -> custom error, over every contract of the suite (a revert may bubble up
    from a contract other than the one called)."""
    table: dict[bytes, ErrorSpec] = {}
    for name in SUITE:
        for item in load_artifact(name).abi:
            if item["type"] != "error":
                continue
            types = tuple(i["type"] for i in item["inputs"])
            selector = keccak(text=f"{item['name']}({','.join(types)})")[:4]
            table[selector] = ErrorSpec(item["name"], types, tuple(i["name"] for i in item["inputs"]))
    return table
