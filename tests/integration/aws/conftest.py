"""Fixtures of the AWS integration tests: moto in server mode (tests/support/moto.py)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from drexfy.adapters.aws import AwsSettings
from drexfy.adapters.dynamodb import DynamoStore, create_dynamo_store
from tests.support.moto import REGION, MotoServer, moto_endpoint, moto_server, private_moto_server  # noqa: F401

pytestmark = pytest.mark.moto


def fast_failing(endpoint: str, attempts: int = 2) -> AwsSettings:
    """Short timeouts and few attempts, so fault tests take seconds, not minutes."""
    return AwsSettings(
        region=REGION, endpoint_url=endpoint, max_attempts=attempts, connect_timeout=0.5, read_timeout=1.0
    )


@pytest.fixture
async def dynamo_store(moto_server: MotoServer) -> AsyncIterator[DynamoStore]:  # noqa: F811
    store = await create_dynamo_store(
        table_name=f"drexfy-{uuid.uuid4().hex[:12]}",
        region=REGION,
        endpoint_url=moto_server.endpoint,
        create_table=True,
    )
    yield store
    await store.close()
