"""Configuration: a TOML file plus `DREXFY_*` environment variables, type-checked at start-up.

Nested keys in env vars use a double underscore: `DREXFY_LEDGER__KIND=xrpl`,
`DREXFY_STORE__DYNAMODB__TABLE=drexfy`. Env vars win over the file; the file wins over defaults.
The defaults are the embedded mode: SQLite, a local vault, the in-process EVM, sandbox providers.
Every setting's type, default and bounds are declared once, in `config_schema` (attrs classes); the
merged file, environment and overrides are structured into them by a strict cattrs converter
(`config_types`), so an ill-typed, out-of-range, unknown or incomplete setting fails at start-up with
a message naming the setting. Code reads settings by dotted name (`settings.get("ledger.kind")`) or
typed (`settings.model.ledger.kind`).
"""

from __future__ import annotations

import copy
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from drexfy.domain.errors import ConfigurationError
from drexfy.entrypoints.config_schema import AppSettings, is_section, setting_type
from drexfy.entrypoints.config_types import converter, from_env, structure

ENV_PREFIX = "DREXFY_"
#: DREXFY_* variables that are read where they are used, not settings: the config file's path, the
#: vault's master key, and the log level (logging starts before the settings are loaded).
_NOT_SETTINGS = frozenset({f"{ENV_PREFIX}CONFIG", f"{ENV_PREFIX}VAULT_MASTER_KEY", f"{ENV_PREFIX}LOG_LEVEL"})

#: The defaults as a nested dict (`config_schema` declares each setting's type, default and bounds).
DEFAULTS: dict[str, Any] = converter.unstructure(AppSettings())

#: Largest repayment batch whose unit of work fits one DynamoDB transaction (100 items): each member
#: changes its share's row and, when units retire, its position (2 items), beside the repayment and
#: the instrument.
MAX_DYNAMODB_BATCH = 45
DEFAULT_BATCH = 200
#: Holders per repayment batch on SQLite with the EVM ledger: six on-chain chunks of 250 (about
#: 48 M gas as a first payment), which the adapter sends without waiting for each receipt, so one
#: of Moonbeam's 60 M-gas blocks takes a whole batch. A batch of one chunk took a block per 250
#: holders: 400 blocks for 100,000 holders (40 minutes at 6 s blocks).
DEFAULT_EVM_BATCH = 1500


class Settings:
    """Validated, read-only view of the configuration: `settings.get("ledger.kind")`, or typed
    through `settings.model`."""

    def __init__(self, data: Mapping[str, Any], model: AppSettings | None = None) -> None:
        self._data = data
        self._model = model

    @property
    def model(self) -> AppSettings:
        if self._model is None:
            self._model = structure(dict(self._data), AppSettings, {})
        return self._model

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
    sources: dict[str, str] = {}
    for key, value in env.items():
        if not key.startswith(ENV_PREFIX) or key in _NOT_SETTINGS:
            continue
        dotted = key[len(ENV_PREFIX) :].lower().replace("__", ".")
        _set(data, dotted, from_env(_declared(dotted, key), value, dotted, key))
        sources[dotted] = key
    for dotted, value in (overrides or {}).items():
        _declared(dotted, dotted)
        _set(data, dotted, value)
        sources.pop(dotted, None)
    model = structure(data, AppSettings, sources)
    settings = Settings(converter.unstructure(model), model)
    _validate(settings.as_dict())
    return settings


def _declared(dotted: str, source: str) -> Any:
    """The declared type of a setting named by an env var or an override; unknown ones refused."""
    tp = setting_type(dotted)
    if tp is None:
        raise ConfigurationError(f"{source}: unknown setting {dotted}")
    return tp


def _merge(into: dict[str, Any], new: Mapping[str, Any], prefix: str) -> None:
    for key, value in new.items():
        dotted = f"{prefix}{key}"
        tp = setting_type(dotted)
        if tp is None:
            raise ConfigurationError(f"{dotted}: unknown setting")
        if is_section(tp):
            if not isinstance(value, Mapping):
                raise ConfigurationError(f"{dotted}: must be a table")
            _merge(into[key], value, dotted + ".")
        else:
            into[key] = value


def _set(data: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    node = data
    for part in parents:
        node = node[part]
    node[last] = value


def _validate(data: dict[str, Any]) -> None:
    settings = Settings(data)
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
    batch = settings.get("processes.distribution_batch_size")
    if settings.get("store.kind") == "dynamodb" and batch > MAX_DYNAMODB_BATCH:
        raise ConfigurationError(
            f"processes.distribution_batch_size: at most {MAX_DYNAMODB_BATCH} with store.kind = dynamodb "
            "(one batch is one DynamoDB transaction of at most 100 items)"
        )
    _validate_worker(settings)
    _validate_access(settings)
    if settings.get("kyc.kind") == "sumsub":
        for key in ("kyc.sumsub.app_token", "kyc.sumsub.secret_key", "kyc.sumsub.level_name"):
            if not settings.get(key):
                raise ConfigurationError(f"{key}: required when kyc.kind = sumsub")
    if settings.get("payments.kind") == "stripe":
        for key in ("payments.stripe.api_key", "payments.stripe.success_url", "payments.stripe.cancel_url"):
            if not settings.get(key):
                raise ConfigurationError(f"{key}: required when payments.kind = stripe")
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
    if worker["max_delay"] < worker["base_delay"]:
        raise ConfigurationError("worker.max_delay: must be at least worker.base_delay")
    if worker["done_retention_days"] < MIN_DONE_RETENTION_DAYS:
        raise ConfigurationError(
            f"worker.done_retention_days: at least {MIN_DONE_RETENTION_DAYS:g} (finished jobs deduplicate "
            "provider redeliveries; Stripe retries for 3 days, and a purged event would be processed again)"
        )


def _validate_access(settings: Settings) -> None:
    """Rules across the operators and approvals settings (their types and bounds: config_schema)."""
    from drexfy.entrypoints.runtime.access import APPROVAL_KINDS, proxy_networks

    oidc = settings.get("operators.oidc")
    if oidc["issuer"] and not (oidc["audience"] and oidc["jwks_url"]):
        raise ConfigurationError("operators.oidc.audience and operators.oidc.jwks_url: required with an issuer")
    required = settings.get("approvals.required")
    kinds = [k.strip() for k in (required.split(",") if isinstance(required, str) else required) if k.strip()]
    unknown = sorted(set(kinds) - set(APPROVAL_KINDS))
    if unknown:
        raise ConfigurationError(f"approvals.required: unknown kind(s) {', '.join(unknown)}")
    try:
        proxy_networks(settings.get("rate_limits.trusted_proxies"))
    except ValueError as exc:
        raise ConfigurationError(f"rate_limits.trusted_proxies: {exc}") from None
