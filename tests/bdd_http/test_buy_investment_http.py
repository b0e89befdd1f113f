"""buy_investment (features/buy_investment.feature) driven through the HTTP API and signed webhooks."""

import pytest
from pytest_bdd import scenarios

pytestmark = pytest.mark.usefixtures("ledger_kind")

scenarios("buy_investment.feature")
