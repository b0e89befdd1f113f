"""EVM commands, registered into the main `drexfy` parser.

    drexfy contracts deploy [--rpc-url URL] [--chain-id N] [--deployment-file PATH] [--label L]
        deploy InvestorClassification, InstrumentRegistry, Stablecoin, Settlement and Distribution
        with their roles, using one vault key per duty ("platform:admin" deploys and administers,
        "platform:relayer" submits, "platform:registrar" classifies and freezes,
        "platform:payments-attestor" and "platform:treasury" sign attestations, "platform:agent"
        holds the instruments' agent role, "platform:issuer" is the issuer wallet; docs/evm.md,
        "Keys"), and write the addresses to the deployment
        file (default: ledger.evm.deployment_file, else <data_dir>/evm-deployment.json). Each step is
        journalled: re-running after an interruption resumes, it does not deploy twice.
    drexfy contracts show [--deployment-file PATH]
        print the recorded deployment.
    drexfy contracts migrate --instrument ADDRESS [--batch-size N] [--deployment-file PATH]
        replace an instrument contract by a new version that takes over its holders from a snapshot
        (pause, snapshot, deploy, delist, import, register, record old -> new in the deployment
        file; docs/evm.md, "Fixing contracts later"). Journalled: a re-run resumes, or does nothing.

Defaults come from the configuration (`ledger.evm.*`). On a dev chain (anvil) the platform keys are
funded from the node's first unlocked account; on Moonbeam fund the printed addresses first.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import attrs


def register(subparsers: Any) -> None:
    contracts = subparsers.add_parser("contracts", help="deploy and inspect the EVM contract suite")
    sub = contracts.add_subparsers(dest="contracts_command", required=True)
    deploy = sub.add_parser("deploy", help="deploy the contract suite with its roles and record the addresses")
    deploy.add_argument("--rpc-url", default=None, help="JSON-RPC endpoint (default: ledger.evm.rpc_url)")
    deploy.add_argument("--chain-id", type=int, default=None, help="expected chain id (default: ledger.evm.chain_id)")
    deploy.add_argument("--deployment-file", default=None, help="where to write the addresses")
    deploy.add_argument("--label", default="default", help="names this deployment in the journal (redeploy: new label)")
    _common(deploy)
    deploy.set_defaults(func=cmd_deploy)
    show = sub.add_parser("show", help="print the recorded deployment")
    show.add_argument("--deployment-file", default=None, help="deployment file to read")
    _common(show)
    show.set_defaults(func=cmd_show)
    migrate = sub.add_parser("migrate", help="move an instrument's holders to a new version of its contract")
    migrate.add_argument("--instrument", required=True, help="address of the instrument to replace")
    migrate.add_argument("--batch-size", type=int, default=100, help="holders per import transaction (1..250)")
    migrate.add_argument("--rpc-url", default=None, help="JSON-RPC endpoint (default: ledger.evm.rpc_url)")
    migrate.add_argument("--chain-id", type=int, default=None, help="expected chain id (default: ledger.evm.chain_id)")
    migrate.add_argument("--deployment-file", default=None, help="the deployment file to read and update")
    _common(migrate)
    migrate.set_defaults(func=cmd_migrate)


def _common(parser: argparse.ArgumentParser) -> None:
    if not any(a.dest == "config" for a in parser._actions):
        parser.add_argument("--config", default=None, help="TOML configuration file (or DREXFY_CONFIG)")


def _evm_config(args: argparse.Namespace) -> tuple[Any, Any]:
    from drexfy.entrypoints.adapter_config import evm_config
    from drexfy.entrypoints.config import load_settings

    settings = load_settings(getattr(args, "config", None))
    config = evm_config(settings)
    changes: dict[str, Any] = {}
    if getattr(args, "rpc_url", None):
        changes["rpc_url"] = args.rpc_url
    if getattr(args, "chain_id", None):
        changes["chain_id"] = args.chain_id
    if getattr(args, "deployment_file", None):
        changes["deployment_file"] = Path(args.deployment_file)
    return settings, attrs.evolve(config, **changes)


def cmd_deploy(args: argparse.Namespace) -> int:
    from drexfy.domain.errors import ConfigurationError

    settings, config = _evm_config(args)
    if config.embedded:
        raise ConfigurationError(
            "the embedded EVM is deployed automatically at every start; give --rpc-url to deploy to a node"
        )
    # Progress on stderr, line by line as each transaction is sent and mined; stdout keeps the result.
    deployment = asyncio.run(
        _deploy(settings, config, args.label, lambda line: print(line, file=sys.stderr, flush=True))
    )
    print(json.dumps({"deployment_file": str(config.deployment_file), **attrs.asdict(deployment)}, indent=2))
    return 0


async def _deploy(settings: Any, config: Any, label: str, progress: Any) -> Any:
    from drexfy.adapters.evm import connect, deploy_suite
    from drexfy.entrypoints.container import build_container

    container = build_container(settings)
    try:
        store = await container.store()
        vault = await container.vault()
        w3 = await connect(config)
        try:
            deployment = await deploy_suite(w3, vault, store.journal, config, label=label, progress=progress)
        finally:
            await w3.provider.disconnect()  # an RPC provider here, never embedded
        deployment.save(config.deployment_file)
        return deployment
    finally:
        await container.shutdown_resources()  # type: ignore[misc]


def cmd_show(args: argparse.Namespace) -> int:
    from drexfy.domain.errors import ConfigurationError

    _, config = _evm_config(args)
    if not config.deployment_file.exists():
        raise ConfigurationError(f"no deployment recorded at {config.deployment_file}")
    print(config.deployment_file.read_text(), end="")
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from drexfy.domain.errors import ConfigurationError

    settings, config = _evm_config(args)
    if config.embedded:
        raise ConfigurationError("the embedded EVM lives as long as its process; migrate on a node (--rpc-url)")
    result = asyncio.run(
        _migrate(
            settings, config, args.instrument, args.batch_size, lambda line: print(line, file=sys.stderr, flush=True)
        )
    )
    print(json.dumps(attrs.asdict(result), indent=2))
    return 0


async def _migrate(settings: Any, config: Any, instrument: str, batch_size: int, progress: Any) -> Any:
    from drexfy.adapters.evm import build_evm_ledger
    from drexfy.adapters.evm.migration import migrate_instrument
    from drexfy.entrypoints.container import build_container

    container = build_container(settings)
    try:
        store = await container.store()
        vault = await container.vault()
        ledger = await build_evm_ledger(config, vault, store.journal)
        try:
            return await migrate_instrument(
                ledger, instrument, config.deployment_file, batch_size=batch_size, progress=progress
            )
        finally:
            await ledger.close()
    finally:
        await container.shutdown_resources()  # type: ignore[misc]
