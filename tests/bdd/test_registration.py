"""Registration, as described in features/registration.feature."""

import pytest
from pytest_bdd import scenarios

# Every scenario runs once per ledger kind (see tests/support/ledgers.py).
pytestmark = pytest.mark.usefixtures("ledger_kind")

scenarios("registration.feature")
