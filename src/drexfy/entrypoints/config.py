"""Configuration: a TOML file plus `DREXFY_*` environment variables, validated at start-up.

Nested keys in env vars use a double underscore: `DREXFY_LEDGER__KIND=xrpl`,
`DREXFY_STORE__DYNAMODB__TABLE=drexfy`. Env vars win over the file; the file wins over defaults.
The defaults are the embedded mode: SQLite, a local vault, the in-process EVM, sandbox providers.
An unknown or incomplete setting fails at start-up with a message naming the setting.
"""

from __future__ import annotations

import copy
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from drexfy.domain.errors import ConfigurationError

ENV_PREFIX = "DREXFY_"
#: DREXFY_* variables that are read where they are used, not settings: the config file's path, the
#: vault's master key, and the log level (logging starts before the settings are loaded).
_NOT_SETTINGS = frozenset({f"{ENV_PREFIX}CONFIG", f"{ENV_PREFIX}VAULT_MASTER_KEY", f"{ENV_PREFIX}LOG_LEVEL"})

DEFAULTS: dict[str, Any] = {
    # "embedded" generates what it lacks (vault master key, EVM deployment); "production" refuses.
    "mode": "embedded",
    "data_dir": ".drexfy",
    "ledger": {
        "kind": "evm",
        "currency": "EUR",
        "evm": {
            # "embedded" runs an in-process EVM (eth-tester + py-evm); else a JSON-RPC URL.
            "rpc_url": "embedded",
            "chain_id": 1287,
            "deployment_file": "",
            "confirmations": 0,
            "max_fee_gwei": 200,
            # How long an API call or a command waits for its transaction to be included (the
            # worker's jobs wait `worker.ledger_wait_s`), and how often it asks meanwhile.
            "receipt_timeout_s": 60.0,
            "poll_interval_s": 0.05,
            # The keeper spends a nonce claimed but left unsigned this long on a no-op.
            "keeper_grace_s": 10.0,
            # The chain's block time: a job whose transaction is not included within the receipt
            # timeout comes back after one block (Moonbeam: 6 s).
            "block_time_s": 6.0,
        },
        "xrpl": {
            "rpc_url": "",
            "currency_code": "EUR",
            "batch": False,
        },
    },
    "vault": {
        "kind": "local",
        "directory": "",
        "master_key_file": "",
        "kms": {
            "mode": "envelope",
            "region": "eu-central-1",
            "endpoint_url": "",
            "key_id": "",
            "table": "",
            # signer mode: KMS aliases of wallet keys are <alias_prefix><wallet id>
            "alias_prefix": "alias/drexfy-wallet/",
        },
    },
    "store": {
        "kind": "sqlite",
        "path": "",
        # create_table: create the table at start-up if missing (development; production runs
        # `drexfy store init` once).
        "dynamodb": {"table": "drexfy", "region": "eu-central-1", "endpoint_url": "", "create_table": False},
    },
    "kyc": {
        "kind": "sandbox",
        # kyc.kind = "sumsub": the app token and secret key (from the environment), the
        # verification level, the API's address (tests: the local fake), and which questionnaire
        # answer (questionnaire.section.item, "yes"/"true") says the investor is accredited.
        "sumsub": {
            "app_token": "",
            "secret_key": "",
            "level_name": "",
            "api_base": "https://api.sumsub.com",
            "accreditation_item": "accreditation.status.accredited",
            "token_ttl_s": 1800,
            "timeout_s": 30.0,
        },
    },
    "payments": {
        "kind": "sandbox",
        # payments.kind = "stripe": the secret key (sk_live_/sk_test_; from the environment,
        # DREXFY_PAYMENTS__STRIPE__API_KEY, never a committed file), where Checkout sends the
        # customer back, and the API's address (empty: Stripe's own; tests: the local fake).
        "stripe": {
            "api_key": "",
            "success_url": "",
            "cancel_url": "",
            "api_base": "",
            "max_network_retries": 2,
            "timeout_s": 30.0,
        },
    },
    # The platform's bank account: the debtor of payout transfers (pain.001) and the account whose
    # statements (camt.053/054) are imported. Empty iban: bank payouts are off.
    "bank": {"name": "", "iban": "", "bic": ""},
    "processes": {
        "reservation_minutes": 30,
        # How long one attempt holds an order's settlement before another may take over (the one
        # that held it died): the longest stall a crash can cause. Takeovers are safe (the ledger
        # operation id), so keep it short; about one receipt wait.
        "settlement_lease_s": 45.0,
        # Holders per ledger batch of a repayment; 0 = the store's largest safe size (200 on SQLite,
        # 90 on DynamoDB, whose transactions hold at most 100 items).
        "distribution_batch_size": 0,
        # Residences outside the US and EU/EEA mapped explicitly, e.g. {"CH": "EU"}.
        "region_overrides": {},
    },
    # The worker's pace, retries and retention (`drexfy.entrypoints.runtime.settings.WorkerSettings`
    # documents each); durations in seconds unless the name says otherwise.
    "worker": {
        "batch_size": 64,
        "concurrency": 16,
        "max_attempts": 8,
        "max_notify_attempts": 20,
        "base_delay": 1.0,
        "max_delay": 300.0,
        "lease_seconds": 120,
        "poll_interval": 0.25,
        "expire_every": 30.0,
        "refund_every": 60.0,
        "purge_every": 3600.0,
        "done_retention_days": 30.0,
        "idempotency_retention_hours": 72.0,
        # 0 turns the periodic ledger-vs-store reconciliation off.
        "reconcile_every": 3600.0,
        # The ledger keeper's pass (unsent nonces/sequences, re-broadcasts).
        "ledger_keeper_every": 5.0,
        # How long a job waits for its ledger transaction to be included before it gives its slot
        # back and comes again after a block: short, so the chain, not the slots, bounds settlement.
        "ledger_wait_s": 0.2,
        # How often positions catch up with holder-to-holder transfers on the ledger (0: off).
        "register_every": 10.0,
        # (issue 14, audit trail) How often the audit log's head is anchored on the ledger (0: off).
        "audit_anchor_every": 3600.0,
    },
    "http": {
        "host": "127.0.0.1",
        "port": 8080,
        "jwt_secret": "",
        "kyc_webhook_secret": "",
        "aml_webhook_secret": "",
        "stripe_webhook_secret": "",
        "notify_url": "",
        # /ready degrades when a platform ledger transaction stays unconfirmed this long (seconds).
        "ready_max_unconfirmed_s": 120.0,
        "notify_secret": "",
        # How notifications to the frontend authenticate: "hmac" (X-Drexfy-Signature with
        # notify_secret) or "bearer" (Authorization: Bearer notify_api_token, the scheme Bubble's
        # API workflows accept natively).
        "notify_auth": "hmac",
        "notify_api_token": "",
        # Rotation: earlier secrets still accepted (comma-separated) while senders and token holders
        # move to the new one; never used to sign. Empty them once the rotation is over.
        "jwt_previous_secrets": "",
        "kyc_webhook_previous_secrets": "",
        "aml_webhook_previous_secrets": "",
        "stripe_webhook_previous_secrets": "",
    },
}

#: Largest repayment batch whose unit of work fits one DynamoDB transaction (100 items): each member
#: changes its share's row and, when units retire, its position (2 items), beside the repayment and
#: the instrument.
MAX_DYNAMODB_BATCH = 45
DEFAULT_BATCH = 200

CHOICES = {
    "mode": ("embedded", "production"),
    "ledger.kind": ("memory", "evm", "xrpl"),
    "vault.kind": ("local", "kms"),
    "vault.kms.mode": ("envelope", "signer"),
    "store.kind": ("sqlite", "dynamodb"),
    "kyc.kind": ("sandbox", "sumsub"),
    "payments.kind": ("sandbox", "stripe"),
    "http.notify_auth": ("hmac", "bearer"),
}


class Settings:
    """Validated, read-only view of the configuration: `settings.get("ledger.kind")`."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data = data

    def get(self, dotted: str) -> Any:
        node: Any = self._data
        for part in dotted.split("."):
            if not isinstance(node, Mapping) or part not in node:
                raise ConfigurationError(f"{dotted}: no such setting")
            node = node[part]
        return node

    def as_dict(self) -> dict[str, Any]:
        return copy.deepcopy(dict(self._data))

    @property
    def data_dir(self) -> Path:
        return Path(self.get("data_dir"))

    def path(self, dotted: str, default_name: str) -> Path:
        """A path setting; empty means `<data_dir>/<default_name>`."""
        value = self.get(dotted)
        return Path(value) if value else self.data_dir / default_name


def process_local_ledger(settings: Settings) -> str | None:
    """The setting that makes the ledger live inside this process (the memory ledger, the embedded
    EVM: empty at every start, shared with no other process), or None for a ledger node."""
    kind = settings.get("ledger.kind")
    if kind == "memory":
        return "ledger.kind = 'memory'"
    if kind == "evm" and settings.get("ledger.evm.rpc_url") == "embedded":
        return "ledger.evm.rpc_url = 'embedded'"
    return None


def load_settings(
    path: str | Path | None = None, env: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None
) -> Settings:
    """Defaults, then the TOML file (`path`, or DREXFY_CONFIG), then env vars, then `overrides`
    (dotted keys, for the CLI and tests); validated."""
    env = os.environ if env is None else env
    data = copy.deepcopy(DEFAULTS)
    file = path or env.get(f"{ENV_PREFIX}CONFIG")
    if file:
        try:
            with Path(file).open("rb") as handle:
                _merge(data, tomllib.load(handle), "")
        except FileNotFoundError as exc:
            raise ConfigurationError(f"config file {file} does not exist") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigurationError(f"config file {file} is not valid TOML: {exc}") from exc
    for key, value in env.items():
        if not key.startswith(ENV_PREFIX) or key in _NOT_SETTINGS:
            continue
        dotted = key[len(ENV_PREFIX) :].lower().replace("__", ".")
        _set(data, dotted, value, source=key)
    for dotted, value in (overrides or {}).items():
        _set(data, dotted, value, source=dotted)
    _validate(data)
    return Settings(data)


def _merge(into: dict[str, Any], new: Mapping[str, Any], prefix: str) -> None:
    for key, value in new.items():
        dotted = f"{prefix}{key}"
        if key not in into:
            raise ConfigurationError(f"{dotted}: unknown setting")
        if isinstance(into[key], dict) and dotted != "processes.region_overrides":
            if not isinstance(value, Mapping):
                raise ConfigurationError(f"{dotted}: must be a table")
            _merge(into[key], value, dotted + ".")
        else:
            into[key] = value


def _set(data: dict[str, Any], dotted: str, value: Any, source: str) -> None:
    parts = dotted.split(".")
    node = data
    for part in parts[:-1]:
        if part not in node or not isinstance(node[part], dict):
            raise ConfigurationError(f"{source}: unknown setting {dotted}")
        node = node[part]
    last = parts[-1]
    if last not in node:
        raise ConfigurationError(f"{source}: unknown setting {dotted}")
    node[last] = _coerce(node[last], value, source)


def _coerce(current: Any, value: Any, source: str) -> Any:
    if not isinstance(value, str):
        return value
    if isinstance(current, bool):
        if value.lower() in ("1", "true", "yes", "on"):
            return True
        if value.lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigurationError(f"{source}: expected true or false, got {value!r}")
    if isinstance(current, int):
        try:
            return int(value)
        except ValueError as exc:
            raise ConfigurationError(f"{source}: expected a whole number, got {value!r}") from exc
    if isinstance(current, float):  # durations only; money is never configured as a float
        try:
            return float(value)
        except ValueError as exc:
            raise ConfigurationError(f"{source}: expected a number, got {value!r}") from exc
    if isinstance(current, dict):
        # "CH=EU,SG=EU" for region overrides
        pairs = [p for p in value.split(",") if p.strip()]
        try:
            return {k.strip().upper(): v.strip().upper() for k, v in (p.split("=", 1) for p in pairs)}
        except ValueError as exc:
            raise ConfigurationError(f"{source}: expected KEY=VALUE pairs separated by commas") from exc
    return value


def _validate(data: dict[str, Any]) -> None:
    settings = Settings(data)
    for dotted, allowed in CHOICES.items():
        value = settings.get(dotted)
        if value not in allowed:
            raise ConfigurationError(f"{dotted}: unknown value {value!r} (expected one of {', '.join(allowed)})")
    production = settings.get("mode") == "production"
    if settings.get("ledger.kind") == "xrpl" and not settings.get("ledger.xrpl.rpc_url"):
        raise ConfigurationError("ledger.xrpl.rpc_url: required when ledger.kind = xrpl")
    if settings.get("ledger.kind") == "evm" and production and settings.get("ledger.evm.rpc_url") == "embedded":
        raise ConfigurationError("ledger.evm.rpc_url: the embedded EVM is not for production; give a JSON-RPC URL")
    if settings.get("ledger.kind") == "memory" and production:
        raise ConfigurationError("ledger.kind: the memory ledger is for tests only, not production")
    if (
        settings.get("vault.kind") == "kms"
        and not settings.get("vault.kms.key_id")
        and settings.get("vault.kms.mode") == "envelope"
    ):
        raise ConfigurationError("vault.kms.key_id: required for the KMS envelope vault")
    for key, low, high in (
        ("ledger.evm.receipt_timeout_s", 0.1, 3600.0),
        ("ledger.evm.poll_interval_s", 0.01, 60.0),
        ("ledger.evm.keeper_grace_s", 1.0, 3600.0),
        ("ledger.evm.block_time_s", 0.1, 600.0),
        ("http.ready_max_unconfirmed_s", 1.0, 86400.0),
        ("processes.settlement_lease_s", 1.0, 3600.0),
    ):
        value = settings.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            raise ConfigurationError(f"{key}: expected a number of seconds from {low:g} to {high:g}, got {value!r}")
    overrides = settings.get("processes.region_overrides")
    if not isinstance(overrides, Mapping) or any(v not in ("US", "EU") for v in overrides.values()):
        raise ConfigurationError("processes.region_overrides: each country must map to US or EU")
    if settings.get("processes.reservation_minutes") <= 0:
        raise ConfigurationError("processes.reservation_minutes: must be positive")
    batch = settings.get("processes.distribution_batch_size")
    if batch < 0:
        raise ConfigurationError("processes.distribution_batch_size: must be positive (or 0 for automatic)")
    if settings.get("store.kind") == "dynamodb" and batch > MAX_DYNAMODB_BATCH:
        raise ConfigurationError(
            f"processes.distribution_batch_size: at most {MAX_DYNAMODB_BATCH} with store.kind = dynamodb "
            "(one batch is one DynamoDB transaction of at most 100 items)"
        )
    _validate_worker(settings)
    if settings.get("kyc.kind") == "sumsub":
        for key in ("kyc.sumsub.app_token", "kyc.sumsub.secret_key", "kyc.sumsub.level_name"):
            if not settings.get(key):
                raise ConfigurationError(f"{key}: required when kyc.kind = sumsub")
    if settings.get("payments.kind") == "stripe":
        for key in ("payments.stripe.api_key", "payments.stripe.success_url", "payments.stripe.cancel_url"):
            if not settings.get(key):
                raise ConfigurationError(f"{key}: required when payments.kind = stripe")
        if not 0 <= settings.get("payments.stripe.max_network_retries") <= 10:
            raise ConfigurationError("payments.stripe.max_network_retries: expected 0 to 10")
        if not 1.0 <= settings.get("payments.stripe.timeout_s") <= 300.0:
            raise ConfigurationError("payments.stripe.timeout_s: expected a number of seconds from 1 to 300")
    bearer = settings.get("http.notify_url") and settings.get("http.notify_auth") == "bearer"
    if bearer and not settings.get("http.notify_api_token"):
        raise ConfigurationError("http.notify_api_token: required with http.notify_auth = bearer")
    if production:
        for key in ("http.jwt_secret", "http.kyc_webhook_secret", "http.stripe_webhook_secret", "http.notify_url"):
            if not settings.get(key):
                raise ConfigurationError(f"{key}: required in production mode")
        # The sandbox providers verify nobody and take no money: a live platform must not run on them.
        for key in ("payments.kind", "kyc.kind"):
            if settings.get(key) == "sandbox":
                raise ConfigurationError(f"{key}: the sandbox provider is not for production; choose a real one")


#: Redelivery windows the DONE retention must outlast: a purged event key is accepted again.
MIN_DONE_RETENTION_DAYS = 3.0  # Stripe retries for up to 3 days


def _validate_worker(settings: Settings) -> None:
    worker = settings.get("worker")
    for key, value in worker.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigurationError(f"worker.{key}: expected a number, got {value!r}")
        if value < 0 or (value == 0 and key not in ("reconcile_every", "register_every", "audit_anchor_every")):
            raise ConfigurationError(f"worker.{key}: must be positive")
    for key in ("batch_size", "concurrency", "max_attempts", "max_notify_attempts", "lease_seconds"):
        if not isinstance(worker[key], int):
            raise ConfigurationError(f"worker.{key}: expected a whole number, got {worker[key]!r}")
    if worker["max_delay"] < worker["base_delay"]:
        raise ConfigurationError("worker.max_delay: must be at least worker.base_delay")
    if worker["done_retention_days"] < MIN_DONE_RETENTION_DAYS:
        raise ConfigurationError(
            f"worker.done_retention_days: at least {MIN_DONE_RETENTION_DAYS:g} (finished jobs deduplicate "
            "provider redeliveries; Stripe retries for 3 days, and a purged event would be processed again)"
        )
