"""registration (features/registration.feature) driven through the HTTP API and signed webhooks."""

import pytest
from pytest_bdd import scenarios

pytestmark = pytest.mark.usefixtures("ledger_kind")

scenarios("registration.feature")
