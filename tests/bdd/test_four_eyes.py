"""Four-eyes approvals, as described in features/four_eyes.feature."""

import pytest
from pytest_bdd import scenarios

# Every scenario runs once per ledger stack (tests/support/ledgers.py) and driver (processes, http).
pytestmark = pytest.mark.usefixtures("ledger_kind", "via")

scenarios("four_eyes.feature")
