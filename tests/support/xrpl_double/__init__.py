"""A strict, rippled-compatible XRP Ledger double for tests and the demo (not shipped).

    async with LedgerDouble() as double:
        client = AsyncJsonRpcClient(double.url)

or as a process: `python -m tests.support.xrpl_double --port 5005`. See docs/xrpl.md for what it
enforces and what it does not.
"""

from tests.support.xrpl_double.engine import GENESIS_ADDRESS, GENESIS_SEED, Engine, Fees
from tests.support.xrpl_double.server import DoubleConfig, LedgerDouble

__all__ = ["GENESIS_ADDRESS", "GENESIS_SEED", "DoubleConfig", "Engine", "Fees", "LedgerDouble"]
