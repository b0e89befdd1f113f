"""Settings of the HTTP service and the worker (secrets come from configuration, never code)."""

from __future__ import annotations

import json
import secrets
from typing import TYPE_CHECKING, Annotated

import attrs

from drexfy.adapters import files
from drexfy.domain.errors import ConfigurationError
from drexfy.entrypoints.config_types import Range
from drexfy.entrypoints.runtime.access import AccessSettings, build_access_settings

if TYPE_CHECKING:  # the settings' schema imports WorkerSettings from here
    from drexfy.entrypoints.config import Settings

#: Bounds of the worker's settings (checked when the configuration is loaded).
_Count = Annotated[int, Range(low=1, high=100_000)]
_Seconds = Annotated[float, Range(above=0.0, high=7 * 86400.0)]
_Period = Annotated[float, Range(low=0.0, high=7 * 86400.0)]  # 0 turns it off

#: Where embedded mode keeps the HTTP secrets it generated (mode 0600).
SECRETS_FILE = "http-secrets.json"
_SECRET_KEYS = ("jwt_secret", "kyc_webhook_secret", "aml_webhook_secret", "stripe_webhook_secret", "notify_secret")


@attrs.frozen
class WorkerSettings:
    """How the worker drains the inbox and relays the outbox."""

    #: Messages claimed per poll.
    batch_size: _Count = 64
    #: Messages of different orders/investors processed at once (same order: one at a time).
    concurrency: _Count = 16
    #: Attempts before a message is dead-lettered.
    max_attempts: _Count = 8
    #: Notification deliveries before an outbox message is dead-lettered.
    max_notify_attempts: _Count = 20
    #: First retry delay; doubles each attempt, with jitter, capped at `max_delay`.
    base_delay: _Seconds = 1.0
    max_delay: _Seconds = 300.0
    #: A claimed message whose worker died is claimed again after this long.
    lease_seconds: _Count = 120
    #: Sleep between polls when nothing was due.
    poll_interval: _Seconds = 0.25
    #: How often unpaid orders past their reservation are expired.
    expire_every: _Seconds = 30.0
    #: How often REFUND_DUE orders whose refund is due (never asked, gateway down, failed and
    #: backed off) are refunded through the gateway (`retry_refunds`).
    refund_every: _Seconds = 60.0
    #: How often old finished jobs and Idempotency-Key answers are deleted (see `purge_old`).
    purge_every: _Seconds = 3600.0
    #: DONE inbox/outbox messages are kept this long. Their keys deduplicate provider redeliveries,
    #: so keep it well beyond the longest redelivery window (Stripe: 3 days).
    done_retention_days: Annotated[float, Range(low=0.0, high=3650.0)] = 30.0
    #: Idempotency-Key answers are replayed for this long (Stripe keeps keys 24 hours).
    idempotency_retention_hours: Annotated[float, Range(above=0.0, high=87600.0)] = 72.0
    #: How often every issued instrument's ledger holders are compared with the store's positions
    #: (`drexfy_ledger_drift_addresses`, a warning per differing address); 0 turns it off.
    reconcile_every: _Period = 3600.0
    #: How often the ledger keeper runs (`Ledger.maintain`: claimed nonces or sequences that were
    #: never sent are spent, unmined transactions broadcast again).
    ledger_keeper_every: _Seconds = 5.0
    #: How long a job waits for its ledger transaction to be included before it hands its slot back
    #: (`LedgerPending`) and is due again a block later.
    ledger_wait_s: _Seconds = 0.2
    #: A job that finds the ledger unreachable (node down, restarting, rate-limited) is never
    #: dead-lettered for it (a paid order must settle once the node is back): it is tried again
    #: with the usual backoff, but at least this often.
    ledger_retry_max_s: _Seconds = 15.0
    #: How often the store's positions catch up with the ledger's unit transfers
    #: (`processes.register`); 0 turns it off (repayments still catch up before they snapshot).
    register_every: _Period = 10.0
    #: How often the audit log's head is anchored on the ledger (`processes.audit.anchor_audit`);
    #: 0 turns it off (`drexfy audit anchor` anchors on demand).
    audit_anchor_every: _Period = 3600.0
    #: How often bank deposits left MATCHED (matched to an investor, not minted: the ledger was
    #: unreachable at import) are minted (`processes.retry_deposits`, once each).
    deposit_every: _Seconds = 60.0


@attrs.frozen
class HttpSettings:
    """Secrets and limits of the HTTP surface."""

    #: Shared secret of the KYC provider's digest (Sumsub "secret key" of the webhook).
    kyc_webhook_secret: str
    #: Stripe endpoint secret (whsec_...).
    payments_webhook_secret: str
    #: HS256 key of the API's bearer tokens.
    jwt_secret: str
    #: Secret of the AML monitoring webhook; the KYC secret when empty (same provider).
    aml_webhook_secret: str = ""
    jwt_issuer: str = "drexfy"
    jwt_audience: str = "drexfy-api"
    #: Largest request body accepted (bytes); bigger ones get 413 before being read.
    max_body_bytes: int = 64 * 1024
    stripe_tolerance_seconds: int = 300
    #: Stripe timestamps further than this in the future are refused (clock skew allowance).
    stripe_future_skew_seconds: int = 300
    #: A first attempt with an Idempotency-Key holds the key this long; a second attempt meanwhile
    #: gets 409. After it, the key is taken over (the first attempt's process is presumed dead).
    idempotency_lease_seconds: int = 60
    #: Run the worker inside the HTTP process (`drexfy serve`); False for API-only replicas.
    run_worker: bool = True
    #: `/ready` degrades when the platform's oldest unconfirmed ledger transaction has waited longer
    #: than this (the relayer or the chain is stuck), or when paid orders have waited this long and
    #: the chain has produced nothing for as long (20 Moonbeam blocks by default).
    ready_max_unconfirmed_s: float = 120.0
    worker: WorkerSettings = attrs.field(factory=WorkerSettings)
    #: Earlier secrets still accepted while they are being rotated out (never used to sign).
    jwt_previous_secrets: tuple[str, ...] = ()
    kyc_previous_secrets: tuple[str, ...] = ()
    aml_previous_secrets: tuple[str, ...] = ()
    payments_previous_secrets: tuple[str, ...] = ()
    #: Operators, OpenID Connect, four-eyes approvals and rate limits (runtime/access.py).
    access: AccessSettings = attrs.field(factory=AccessSettings)

    @property
    def aml_secret(self) -> str:
        return self.aml_webhook_secret or self.kyc_webhook_secret

    @property
    def jwt_secrets(self) -> tuple[str, ...]:
        """Token signing key first (it signs), then the previous ones (they still verify)."""
        return (self.jwt_secret, *self.jwt_previous_secrets)

    @property
    def kyc_secrets(self) -> tuple[str, ...]:
        return (self.kyc_webhook_secret, *self.kyc_previous_secrets)

    @property
    def aml_secrets(self) -> tuple[str, ...]:
        if not self.aml_webhook_secret:
            return self.kyc_secrets  # the same provider signs both
        return (self.aml_webhook_secret, *self.aml_previous_secrets)

    @property
    def payments_secrets(self) -> tuple[str, ...]:
        return (self.payments_webhook_secret, *self.payments_previous_secrets)


# -- from the application settings --------------------------------------------------------------


def http_secrets(settings: Settings, *, create: bool = True) -> dict[str, str]:
    """The HTTP secrets: configured values, else (embedded mode) generated once and kept in the data
    dir. With `create=False` (commands that only use a deployment's secrets, such as `token issue`)
    nothing is generated: a data dir without them is refused, naming its absolute path, because
    secrets invented there would sign tokens the running service refuses."""
    configured = {k: settings.get(f"http.{k}") for k in _SECRET_KEYS}
    if all(configured[k] for k in ("jwt_secret", "kyc_webhook_secret", "stripe_webhook_secret")):
        return configured
    if settings.get("mode") != "embedded":
        raise ConfigurationError("http.jwt_secret, http.kyc_webhook_secret and http.stripe_webhook_secret are required")
    path = settings.data_dir / SECRETS_FILE
    if not create and not path.exists():
        raise ConfigurationError(
            f"data_dir: no deployment's secrets at {path.resolve()} (is this the service's data dir? "
            "set data_dir in the config file, DREXFY_DATA_DIR or --config; `drexfy serve` creates them)"
        )
    # serve, worker and `token issue` may start together: read, fill in and write under one lock
    with files.exclusive(path):
        stored: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
        missing = [key for key in _SECRET_KEYS if not stored.get(key)]
        for key in missing:
            stored[key] = ("whsec_" if key == "stripe_webhook_secret" else "") + secrets.token_hex(24)
        if missing:
            files.replace_atomically(path, json.dumps(stored, indent=2).encode())
    return {k: configured[k] or stored[k] for k in _SECRET_KEYS}


def build_http_settings(settings: Settings, *, run_worker: bool = True, create: bool = True) -> HttpSettings:
    s = http_secrets(settings, create=create)
    return HttpSettings(
        kyc_webhook_secret=s["kyc_webhook_secret"],
        aml_webhook_secret=s["aml_webhook_secret"],
        payments_webhook_secret=s["stripe_webhook_secret"],
        jwt_secret=s["jwt_secret"],
        run_worker=run_worker,
        worker=build_worker_settings(settings),
        ready_max_unconfirmed_s=float(settings.get("http.ready_max_unconfirmed_s")),
        jwt_previous_secrets=_previous(settings, "jwt_previous_secrets"),
        kyc_previous_secrets=_previous(settings, "kyc_webhook_previous_secrets"),
        aml_previous_secrets=_previous(settings, "aml_webhook_previous_secrets"),
        payments_previous_secrets=_previous(settings, "stripe_webhook_previous_secrets"),
        access=build_access_settings(settings),
    )


def _previous(settings: Settings, key: str) -> tuple[str, ...]:
    """A rotation's earlier secrets: a comma-separated string (env friendly) or a TOML list."""
    value = settings.get(f"http.{key}")
    items = value.split(",") if isinstance(value, str) else list(value)
    return tuple(str(item).strip() for item in items if str(item).strip())


def build_worker_settings(settings: Settings) -> WorkerSettings:
    """The `[worker]` section as WorkerSettings (validated by the config loader)."""
    return WorkerSettings(**settings.get("worker"))
