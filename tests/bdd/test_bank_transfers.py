"""Money in and out by bank transfer, as described in features/bank_transfers.feature."""

import pytest
from pytest_bdd import scenarios

# Every scenario runs once per ledger stack (tests/support/ledgers.py) and driver (processes, http).
pytestmark = pytest.mark.usefixtures("ledger_kind", "via")

scenarios("bank_transfers.feature")
