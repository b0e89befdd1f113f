"""The agent's actions, as described in features/agent.feature."""

import pytest
from pytest_bdd import scenarios

# Every scenario runs once per ledger stack (tests/support/ledgers.py) and driver (processes, http).
pytestmark = pytest.mark.usefixtures("ledger_kind", "via")

scenarios("agent.feature")
