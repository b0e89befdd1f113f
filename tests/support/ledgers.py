"""The stacks the ledger-parametrised suites (BDD features, ledger contract tests) run on.

Every stack must pass the same feature files:

- `memory`: the in-memory ledger, SQLite store, local vault;
- `evm`: the EVM adapter against anvil (npm `@foundry-rs/anvil`), SQLite, local vault;
- `xrpl`: the XRPL adapter against the rippled-compatible ledger double, SQLite, local vault;
- `evm-aws`: the EVM adapter against anvil with the KMS signer vault and the DynamoDB store, both
  served by moto over HTTP.

Each non-memory stack starts its servers once per test process (so once per xdist worker) and
stops them at the end of the session.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

#: Stack name -> the `ledger.kind` it configures.
STACKS = {"memory": "memory", "evm": "evm", "xrpl": "xrpl", "evm-aws": "evm"}
LEDGER_KINDS = list(STACKS)


def ledger_overrides(stack: str, request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    """Settings overrides (dotted keys) that point the container at `stack`."""
    overrides: dict[str, Any] = {"ledger.kind": STACKS[stack]}
    if stack == "xrpl":  # one double + platform accounts per test process
        from tests.support.xrpl_double.environment import shared_environment

        overrides.update(shared_environment(request.config).overrides)
    elif stack == "evm":  # one anvil + deployed suite + platform keys per test process
        from tests.support.anvil import shared_evm_environment

        overrides.update(shared_evm_environment(request.config).overrides)
    elif stack == "evm-aws":  # the same anvil, a suite deployed by KMS-held keys, moto
        from tests.support.aws_stack import shared_aws_stack

        overrides.update(shared_aws_stack(request.config).overrides(tmp_path))
    return overrides
