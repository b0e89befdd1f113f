"""Which ledgers the ledger-parametrised suites (BDD, demo test) run on, and how to configure each.

Every kind here must pass the same feature files: `memory` (the in-memory ledger), `evm` (the EVM
adapter against anvil from node_modules) and `xrpl` (the XRPL adapter against the ledger double).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

LEDGER_KINDS = ["memory"]


def ledger_overrides(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    """Settings overrides (dotted keys) that point the container at the ledger of `kind`."""
    if kind == "memory":
        return {}
    raise ValueError(f"unknown ledger kind {kind}")
