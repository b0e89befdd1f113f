"""XRP Ledger adapter: the Ledger port with xrpl-py (see docs/xrpl.md)."""

from drexfy.adapters.xrpl.config import XrplConfig
from drexfy.adapters.xrpl.ledger import XrplLedger, build_xrpl_ledger
from drexfy.adapters.xrpl.setup import setup_platform

__all__ = ["XrplConfig", "XrplLedger", "build_xrpl_ledger", "setup_platform"]
