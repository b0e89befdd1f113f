"""What the AWS adapters (KMS vaults, DynamoDB store) share: client settings, retries, error triage.

Every boto3 call is blocking; the adapters run it in the default thread executor (`call`). botocore
does the retrying: "standard" mode, `max_attempts` in total, exponential backoff with jitter, on
throttling, 5xx and connection errors. When it gives up, `is_transient` tells the adapter to raise its
transient domain error (the job then waits and is retried by the worker; nothing falls back).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar

import attrs
import boto3
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ClientError, HTTPClientError, ReadTimeoutError
from botocore.exceptions import ConnectionError as BotoConnectionError

T = TypeVar("T")

#: Error codes AWS uses for "try again later".
TRANSIENT_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "LimitExceededException",  # KMS request quota
        "InternalServerError",
        "InternalFailure",
        "KMSInternalException",
        "DependencyTimeoutException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "TransactionInProgressException",
    }
)


class _NoBodies(logging.Filter):
    """botocore logs full request and response bodies at DEBUG: KMS Encrypt/Decrypt bodies hold clear
    wallet keys and DynamoDB bodies hold personal data. Those records are dropped, whatever the
    application's log level."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG


#: Loggers whose DEBUG records carry HTTP bodies or parsed params.
BODY_LOGGERS = (
    "botocore.endpoint",
    "botocore.parsers",
    "botocore.handlers",
    "botocore.hooks",
    "botocore.awsrequest",
    "urllib3",
)
_NO_BODIES = _NoBodies()
for _name in BODY_LOGGERS:
    logging.getLogger(_name).addFilter(_NO_BODIES)


@attrs.frozen
class AwsSettings:
    """Where and how to reach AWS. `endpoint_url` points at moto (tests) or a VPC endpoint; None = AWS.

    Credentials come from the usual boto3 chain (env, profile, instance role); the explicit fields
    exist for local servers only.
    """

    region: str = "eu-west-1"
    endpoint_url: str | None = None
    #: HTTP attempts per call in total (first try included), with exponential backoff between them.
    max_attempts: int = 4
    connect_timeout: float = 2.0
    read_timeout: float = 5.0
    access_key_id: str | None = attrs.field(default=None, repr=False)
    secret_access_key: str | None = attrs.field(default=None, repr=False)

    def client(self, service: str) -> Any:
        """A thread-safe low-level client with bounded retries and timeouts."""
        config = Config(
            region_name=self.region,
            # total_max_attempts counts the first try too (botocore's max_attempts would not).
            retries={"total_max_attempts": self.max_attempts, "mode": "standard"},
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            max_pool_connections=32,
        )
        session = boto3.session.Session(
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            region_name=self.region,
        )
        return session.client(service, endpoint_url=self.endpoint_url, config=config)  # type: ignore[call-overload]


def error_code(exc: BaseException) -> str:
    """The AWS error code of a ClientError ('' for anything else)."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def is_transient(exc: BaseException) -> bool:
    """True for failures worth retrying later: unreachable, timeouts, throttling, 5xx."""
    # Connect/read timeouts, refused or reset connections. Not NoCredentialsError and other
    # configuration mistakes: those never heal by waiting.
    if isinstance(exc, BotoConnectionError | HTTPClientError | ReadTimeoutError):
        return True
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return error_code(exc) in TRANSIENT_CODES or int(status or 0) >= 500
    return False


async def call(fn: Callable[..., T], /, **kwargs: Any) -> T:
    """Run a blocking boto3 call in the default executor."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, functools.partial(fn, **kwargs))


class CallCounter:
    """Counts the API calls a client makes (one per HTTP request, retries included), via botocore's
    event system. Used by the benchmark and by tests that check how many KMS calls an action costs."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    def attach(self, client: BaseClient) -> CallCounter:
        client.meta.events.register("before-send", self._count)
        return self

    def _count(self, request: Any = None, **kwargs: Any) -> None:
        target = request.headers.get("X-Amz-Target", b"") if request is not None else b""
        name = target.decode() if isinstance(target, bytes) else str(target)
        self.calls[name.rsplit(".", 1)[-1] or "unknown"] += 1

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    def reset(self) -> None:
        self.calls.clear()
