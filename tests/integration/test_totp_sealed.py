"""TOTP secrets at rest: sealed by the vault in the SQLite row and the DynamoDB item (moto), read
raw as someone with the database (a backup, an export) would; sign-in still works; a record
written in clear by an older version is sealed on its first read and keeps signing in."""

from __future__ import annotations

import base64
import os
import sqlite3
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import boto3
import pyotp
import pytest

from drexfy.adapters.dynamodb import create_dynamo_store
from drexfy.adapters.local_vault import LocalVault
from drexfy.adapters.sqlite import open_sqlite_store
from drexfy.adapters.system import UuidIds
from drexfy.domain.errors import VaultIntegrityError
from drexfy.entrypoints.identity.operators import KIND, OperatorDirectory, SignInFailed
from tests.support.moto import REGION, MotoServer, moto_server  # noqa: F401  (fixture)

PASSWORD = "a long enough password"
T0 = datetime(2026, 12, 2, 9, 0, 0, tzinfo=UTC)


@attrs.define
class Clock:
    at: datetime = T0

    def now(self) -> datetime:
        return self.at


@attrs.define
class Env:
    store: Any
    directory: OperatorDirectory
    clock: Clock
    #: The stored record of an operator exactly as the database holds it (row or item, as text).
    raw: Any


@pytest.fixture(params=["sqlite", pytest.param("dynamodb", marks=pytest.mark.moto)])
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Env]:
    clock = Clock()
    vault = LocalVault(tmp_path / "keys", os.urandom(32))
    if request.param == "sqlite":
        store = await open_sqlite_store(tmp_path / "s.db")

        def raw(operator_id: str) -> str:
            with sqlite3.connect(tmp_path / "s.db") as conn:
                row = conn.execute("SELECT * FROM access_records WHERE kind = ? AND id = ?", (KIND, operator_id))
                return repr(row.fetchone())

    else:
        server: MotoServer = request.getfixturevalue("moto_server")
        table = f"drexfy-{uuid.uuid4().hex[:12]}"
        store = await create_dynamo_store(
            table_name=table, region=REGION, endpoint_url=server.endpoint, create_table=True
        )
        client = boto3.client("dynamodb", region_name=REGION, endpoint_url=server.endpoint)

        def raw(operator_id: str) -> str:
            item = client.get_item(TableName=table, Key={"PK": {"S": f"ACCESS#{KIND}"}, "SK": {"S": operator_id}})
            return repr(item["Item"])

    yield Env(store, OperatorDirectory(store.access, clock, UuidIds(), vault), clock, raw)
    await store.close()


def _forms(secret: str) -> list[str]:
    """The secret as base32 (any case) and as the raw key bytes in hex and base64."""
    key = base64.b32decode(secret)
    return [secret, secret.lower(), key.hex(), base64.b64encode(key).decode()]


async def test_the_stored_record_holds_no_clear_totp_secret_and_sign_in_works(env: Env) -> None:
    ana = await env.directory.add("ana", ["compliance"], PASSWORD)
    stored = env.raw(ana.id)
    assert "totp_sealed" in stored and "totp_secret" not in stored
    for form in _forms(ana.totp_secret):
        assert form not in stored
    operator, _ = await env.directory.sign_in("ana", PASSWORD, pyotp.TOTP(ana.totp_secret).at(env.clock.at))
    assert operator.id == ana.id
    assert all(form not in env.raw(ana.id) for form in _forms(ana.totp_secret))  # nor after the sign-in's write
    assert ana.totp_secret not in repr(operator) + repr(ana)


async def test_a_clear_secret_of_an_older_record_is_sealed_on_first_read_and_still_signs_in(env: Env) -> None:
    ana = await env.directory.add("ana", ["admin"], PASSWORD)
    record = await env.store.access.get(KIND, ana.id)
    legacy = {k: v for k, v in record.data.items() if k != "totp_sealed"} | {"totp_secret": ana.totp_secret}
    assert await env.store.access.replace(KIND, ana.id, legacy, record.version)
    assert ana.totp_secret in env.raw(ana.id)  # as an older version stored it

    operator, _ = await env.directory.sign_in("ana", PASSWORD, pyotp.TOTP(ana.totp_secret).at(env.clock.at))
    assert operator.id == ana.id
    stored = env.raw(ana.id)
    assert "totp_sealed" in stored and all(form not in stored for form in _forms(ana.totp_secret))
    with pytest.raises(SignInFailed):  # the migration kept the replay guard: the same code is spent
        await env.directory.sign_in("ana", PASSWORD, pyotp.TOTP(ana.totp_secret).at(env.clock.at))


async def test_listing_seals_every_clear_secret_left(env: Env) -> None:
    added = [await env.directory.add(name, ["auditor"], PASSWORD) for name in ("ana", "bo")]
    for operator in added:
        record = await env.store.access.get(KIND, operator.id)
        data = {k: v for k, v in record.data.items() if k != "totp_sealed"} | {"totp_secret": operator.totp_secret}
        await env.store.access.replace(KIND, operator.id, data, record.version)
    assert {o.id for o in await env.directory.list()} == {o.id for o in added}
    for operator in added:
        assert all(form not in env.raw(operator.id) for form in _forms(operator.totp_secret))


async def test_a_sealed_secret_moved_to_another_operator_does_not_sign_them_in(env: Env) -> None:
    ana = await env.directory.add("ana", ["admin"], PASSWORD)
    bo = await env.directory.add("bo", ["admin"], PASSWORD)
    ana_record, bo_record = await env.store.access.get(KIND, ana.id), await env.store.access.get(KIND, bo.id)
    moved = bo_record.data | {"totp_sealed": ana_record.data["totp_sealed"]}
    assert await env.store.access.replace(KIND, bo.id, moved, bo_record.version)
    with pytest.raises(VaultIntegrityError):  # sealed for ana's id: it does not open for bo
        await env.directory.sign_in("bo", PASSWORD, pyotp.TOTP(ana.totp_secret).at(env.clock.at))
