"""What the operator commands share: loading the settings, the services of a container, signals,
and the refusal of a worker apart from a ledger that lives in one process."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator
from typing import Any

from drexfy.domain.errors import ConfigurationError


def add_config_option(parser: argparse.ArgumentParser) -> None:
    if not any(a.dest == "config" for a in parser._actions):
        # SUPPRESS: an absent sub-command --config must not clobber the main parser's --config.
        parser.add_argument("--config", default=argparse.SUPPRESS, help="TOML configuration file (or DREXFY_CONFIG)")


def load(args: argparse.Namespace, overrides: dict[str, Any] | None = None) -> Any:
    from drexfy.entrypoints.config import load_settings

    return load_settings(getattr(args, "config", None), overrides=overrides)


@contextlib.asynccontextmanager
async def open_services(settings: Any) -> AsyncIterator[Any]:
    """The container's Services for `settings`, its resources closed on exit."""
    from drexfy.entrypoints.container import build_container

    container = build_container(settings)
    cli_actor()
    try:
        yield await container.services()  # type: ignore[misc]
    finally:
        shutdown = container.shutdown_resources()
        if shutdown is not None:
            await shutdown


def cli_actor() -> None:
    """Changes made by an operator command are recorded as `cli:<login>` (the operator's account
    on the host; the worker and the API set their own actors)."""
    import getpass

    from drexfy.domain.audit import AUDIT_ACTOR, Actor

    try:
        login = getpass.getuser()
    except (KeyError, OSError):  # no login name for this uid (a container)
        login = "unknown"
    AUDIT_ACTOR.set(Actor(f"cli:{login}", "operator"))


def refuse_process_local_ledger(settings: Any, command: str) -> None:
    """A worker apart from the API must share their ledger. The memory ledger and the embedded EVM
    live inside one process: a separate worker would settle on a private chain of its own that the
    API never sees (and both would deploy the same contracts at the same addresses, which hides it)."""
    from drexfy.entrypoints.config import process_local_ledger

    where = process_local_ledger(settings)
    if where is not None:
        raise ConfigurationError(
            f"{command}: {where} is a ledger inside one process, so a separate worker cannot share it;"
            " run `drexfy serve` with its in-process worker, or point the ledger at a node"
            " (DREXFY_LEDGER__EVM__RPC_URL=http://..., or ledger.kind = 'xrpl')"
        )


def wait_for_signal() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    return stop


@contextlib.asynccontextmanager
async def open_services_and_notifier(settings: Any) -> AsyncIterator[tuple[Any, Any]]:
    """The container's Services and the Notifier it chose, closed on exit."""
    from drexfy.entrypoints.container import build_container

    container = build_container(settings)
    cli_actor()
    try:
        yield await container.services(), await container.notifier()  # type: ignore[misc]
    finally:
        shutdown = container.shutdown_resources()
        if shutdown is not None:
            await shutdown
