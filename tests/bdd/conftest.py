"""The feature files' fixtures: each scenario runs on every ledger stack and through both drivers.

`world` builds the platform's Services with the real container from configuration (SQLite or
DynamoDB store, local or KMS vault, sandbox providers; the Sumsub adapter against the local Sumsub
fake in scenarios tagged @sumsub), the ledger chosen by `ledger_kind` (the
in-memory ledger, the EVM adapter on anvil, the XRPL adapter on the ledger double, EVM on AWS),
and attaches the driver chosen by `via`: the processes called directly, or the HTTP API and signed
webhooks as the frontend and the providers use them (tests/bdd/drivers.py). Steps are synchronous;
coroutines run on one loop per scenario. The step definitions live per area in tests/bdd/steps/.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import attrs
import pytest

from drexfy.entrypoints.config import load_settings
from drexfy.entrypoints.container import build_container
from tests.bdd.drivers import SECRETS, ProcessDriver, attach_http
from tests.bdd.steps.agent import *  # noqa: F403 - pytest-bdd finds steps among the conftest's names
from tests.bdd.steps.bank import *  # noqa: F403 - pytest-bdd finds steps among the conftest's names
from tests.bdd.steps.buying import *  # noqa: F403
from tests.bdd.steps.compliance import *  # noqa: F403
from tests.bdd.steps.four_eyes import *  # noqa: F403
from tests.bdd.steps.registration import *  # noqa: F403
from tests.bdd.steps.repayment import *  # noqa: F403
from tests.bdd.world import CrashingLedger, FakeClock, World
from tests.support.ledgers import LEDGER_KINDS, ledger_overrides
from tests.support.sumsub_fake import FakeSumsub

VIAS = ("processes", "http")


@pytest.fixture(params=LEDGER_KINDS)
def ledger_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=VIAS)
def via(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def world(ledger_kind: str, via: str, tmp_path: Any, request: pytest.FixtureRequest) -> Iterator[World]:
    loop = asyncio.new_event_loop()
    overrides: dict[str, Any] = {
        "data_dir": str(tmp_path),
        **ledger_overrides(ledger_kind, request, tmp_path),
        "bank.name": "Drexfy Platform GmbH",  # the platform's account (bank_transfers.feature)
        "bank.iban": "DE02120300000000202051",
    }
    sumsub = None
    if request.node.get_closest_marker("sumsub"):  # the real Sumsub adapter, against the local fake
        sumsub = FakeSumsub(webhook_secret=SECRETS["kyc"])
        loop.run_until_complete(sumsub.start())
        overrides.update(
            {
                "kyc.kind": "sumsub",
                "kyc.sumsub.app_token": sumsub.app_token,
                "kyc.sumsub.secret_key": sumsub.secret_key,
                "kyc.sumsub.level_name": "basic-kyc-level",
                "kyc.sumsub.api_base": sumsub.url,
            }
        )
    settings = load_settings(env={}, overrides=overrides)
    clock = FakeClock()
    container = build_container(settings, clock=clock)

    async def start() -> Any:
        return await container.services()  # the container's futures must belong to this loop

    async def stop() -> None:
        shutdown = container.shutdown_resources()
        if shutdown is not None:
            await shutdown

    services = loop.run_until_complete(start())
    ledger = CrashingLedger(services.ledger)
    world = World(svc=attrs.evolve(services, ledger=ledger), run=loop.run_until_complete, clock=clock, ledger=ledger)
    world.sumsub = sumsub
    try:
        if via == "http":
            yield from attach_http(world)
        else:
            world.driver = ProcessDriver(world)
            yield world
    finally:
        loop.run_until_complete(stop())
        if sumsub is not None:
            loop.run_until_complete(sumsub.close())
        loop.close()
