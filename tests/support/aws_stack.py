"""The AWS stack for the ledger-parametrised suites: EVM ledger on anvil, KMS signer vault and
DynamoDB store, both served by one moto server per test process (over HTTP, like AWS).

The contract suite is deployed once per process by platform keys that live in KMS (the vault the
scenarios use), on the same anvil as the plain `evm` stack. Each scenario gets its own DynamoDB
table, so scenarios never see each other's records.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import os
import tempfile
import threading
import uuid
from pathlib import Path
from typing import Any

from tests.support.anvil import AnvilNode, shared_evm_environment
from tests.support.moto import AWS_ENV, REGION, MotoServer


@dataclasses.dataclass
class AwsStack:
    node: AnvilNode
    moto: MotoServer
    directory: Path
    alias_prefix: str

    @property
    def deployment_file(self) -> Path:
        return self.directory / "evm-deployment.json"

    def overrides(self, scenario_dir: Path) -> dict[str, Any]:
        table = "drexfy-" + hashlib.sha256(str(scenario_dir).encode()).hexdigest()[:16]
        return {
            "ledger.evm.rpc_url": self.node.url,
            "ledger.evm.chain_id": self.node.chain_id,
            "ledger.evm.deployment_file": str(self.deployment_file),
            "vault.kind": "kms",
            "vault.kms.mode": "signer",
            "vault.kms.region": REGION,
            "vault.kms.endpoint_url": self.moto.endpoint,
            "vault.kms.alias_prefix": self.alias_prefix,
            "store.kind": "dynamodb",
            "store.dynamodb.region": REGION,
            "store.dynamodb.endpoint_url": self.moto.endpoint,
            "store.dynamodb.table": table,
            "store.dynamodb.create_table": True,
        }


async def _deploy(stack: AwsStack) -> None:
    from drexfy.adapters.evm import EvmConfig, connect, deploy_suite
    from drexfy.adapters.evm.memory_journal import MemoryJournal
    from drexfy.adapters.kms import KmsConfig, open_kms_vault

    vault = await open_kms_vault(KmsConfig("signer", REGION, stack.moto.endpoint, alias_prefix=stack.alias_prefix))
    config = EvmConfig(rpc_url=stack.node.url, chain_id=stack.node.chain_id, deployment_file=stack.deployment_file)
    w3 = await connect(config)
    deployment = await deploy_suite(w3, vault, MemoryJournal(), config, label=f"aws-{uuid.uuid4().hex[:8]}")
    deployment.save(stack.deployment_file)
    await w3.provider.disconnect()  # type: ignore[union-attr]
    close = getattr(vault, "close", None)
    if close is not None:
        await close()


_STACK: AwsStack | None = None
_LOCK = threading.Lock()


def shared_aws_stack(config: Any) -> AwsStack:
    """The process-wide AWS stack, started on first use, stopped at the end of the session."""
    global _STACK
    with _LOCK:
        if _STACK is None:
            for name, value in AWS_ENV.items():
                os.environ.setdefault(name, value)
            node = shared_evm_environment(config).node
            moto = MotoServer()
            moto.start()
            stack = AwsStack(
                node, moto, Path(tempfile.mkdtemp(prefix="drexfy-aws-")), f"alias/bdd-{uuid.uuid4().hex[:8]}/"
            )
            try:
                asyncio.run(_deploy(stack))
            except BaseException:
                moto.stop()
                raise

            def stop() -> None:
                global _STACK
                moto.stop()
                _STACK = None

            config.add_cleanup(stop)
            _STACK = stack
        return _STACK
