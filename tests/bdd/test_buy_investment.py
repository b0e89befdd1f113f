"""Buying an investment, as described in features/buy_investment.feature."""

import pytest
from pytest_bdd import scenarios

# Every scenario runs once per ledger kind (see tests/support/ledgers.py).
pytestmark = pytest.mark.usefixtures("ledger_kind")

scenarios("buy_investment.feature")
