"""Store contract fixtures: every test using `store` runs once per implementation in STORE_FACTORIES.

To add an implementation, write `async def make_x_store(request, tmp_path) -> StoreBackend` and add
one line to STORE_FACTORIES. A backend opens any number of store *objects* over the same data (the
concurrency tests use two, as two processes would); the fixture closes them all.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import attrs
import pytest

from drexfy.adapters.sqlite import open_sqlite_store
from drexfy.domain.ports import Store


async def _nothing() -> None:
    return None


@attrs.define
class StoreBackend:
    """How a test gets stores: `open()` returns a new store object over the backend's data."""

    open: Callable[[], Awaitable[Store]]
    cleanup: Callable[[], Awaitable[None]] = _nothing


async def make_sqlite_store(request: pytest.FixtureRequest, tmp_path: Path) -> StoreBackend:
    path = tmp_path / "store.db"
    return StoreBackend(open=lambda: open_sqlite_store(path))


# --- DynamoDB on moto in server mode (issue 5): a fresh table per test on the worker's moto server ---
from tests.support.moto import REGION, moto_server  # noqa: E402, F401  (session fixture used below)


async def make_dynamodb_store(request: pytest.FixtureRequest, tmp_path: Path) -> StoreBackend:
    import uuid

    from drexfy.adapters.aws import AwsSettings
    from drexfy.adapters.dynamodb import create_dynamo_store

    endpoint = request.getfixturevalue("moto_server").endpoint
    table = f"drexfy-{uuid.uuid4().hex[:12]}"
    # The contract is about semantics: a patient read timeout, since moto on a loaded 2-core machine
    # can take seconds over one large transaction (the fault tests in tests/integration/aws keep 1 s).
    settings = AwsSettings(region=REGION, endpoint_url=endpoint, read_timeout=30.0)
    return StoreBackend(open=lambda: create_dynamo_store(table_name=table, settings=settings, create_table=True))


#: name -> factory. One line per implementation.
STORE_FACTORIES: dict[str, Callable[[pytest.FixtureRequest, Path], Awaitable[StoreBackend]]] = {
    "sqlite": make_sqlite_store,
    "dynamodb": make_dynamodb_store,
}


class OpenStores:
    """Opens store objects over one backend and closes them all at teardown."""

    def __init__(self, backend: StoreBackend) -> None:
        self._backend = backend
        self.opened: list[Store] = []

    async def __call__(self) -> Store:
        store = await self._backend.open()
        self.opened.append(store)
        return store


@pytest.fixture(params=sorted(STORE_FACTORIES))
async def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[OpenStores]:
    """Call it to open another store object over the same data (e.g. a second process)."""
    backend = await STORE_FACTORIES[request.param](request, tmp_path)
    opener = OpenStores(backend)
    try:
        yield opener
    finally:
        for store in opener.opened:
            await store.close()
        await backend.cleanup()


@pytest.fixture
async def store(open_store: OpenStores) -> Store:
    return await open_store()
