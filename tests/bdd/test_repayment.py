"""Repayment and redemption, as described in features/repayment.feature."""

import pytest
from pytest_bdd import scenarios

# Every scenario runs once per ledger stack (tests/support/ledgers.py) and driver (processes, http).
pytestmark = pytest.mark.usefixtures("ledger_kind", "via")

scenarios("repayment.feature")
