"""The dependency-injector container: the only place that knows which adapter serves which port.

    container = build_container(load_settings())
    services = await container.services()      # initialises store, vault, ledger (async resources)
    ...
    await container.shutdown_resources()

Adapters with a lifecycle (the store's connection, the ledger's RPC session) are `Resource`s; each
port is a `Selector` over the configured kind. Adapter modules are imported inside the factories so
a deployment that never selects, say, DynamoDB does not import boto3's DynamoDB code at start-up.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any, cast

from dependency_injector import containers, providers

from drexfy.adapters.sandbox import SandboxKyc, SandboxPayments
from drexfy.adapters.system import SystemClock, UuidIds
from drexfy.domain.errors import ConfigurationError
from drexfy.domain.ports import BankFiles, KeyVault, KycProvider, Ledger, Notifier, PaymentGateway, Store
from drexfy.domain.processes import ProcessSettings, Services
from drexfy.entrypoints.adapter_config import evm_config, stripe_config, sumsub_config, xrpl_config
from drexfy.entrypoints.config import (
    DEFAULT_BATCH,
    DEFAULT_EVM_BATCH,
    MAX_DYNAMODB_BATCH,
    Settings,
    process_local_ledger,
)

log = logging.getLogger("drexfy.container")


async def _sqlite_store(settings: Settings) -> AsyncIterator[Store]:
    from drexfy.adapters.sqlite import open_sqlite_store

    path = settings.path("store.path", "drexfy.sqlite")
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700)  # the data dir: the owner's only
        path.parent.chmod(0o700)  # (mkdir's mode is cut by the umask; this is not)
    store = await open_sqlite_store(path)
    try:
        yield store
    finally:
        await store.close()


async def _dynamodb_store(settings: Settings) -> AsyncIterator[Store]:
    from drexfy.adapters.dynamodb import open_dynamodb_store

    store = await open_dynamodb_store(
        table=settings.get("store.dynamodb.table"),
        region=settings.get("store.dynamodb.region"),
        endpoint_url=settings.get("store.dynamodb.endpoint_url") or None,
        create_table=settings.get("store.dynamodb.create_table"),
    )
    try:
        # Structurally a Store; its repositories are typed as their concrete classes, which mypy's
        # invariant attribute check does not accept without the cast (the contract tests prove it).
        yield cast(Store, store)
    finally:
        await store.close()


async def _local_vault(settings: Settings) -> AsyncIterator[KeyVault]:
    from drexfy.adapters.local_vault import LocalVault, load_master_key

    key_file = settings.path("vault.master_key_file", "vault-master.key")
    master = load_master_key(key_file, allow_generate=settings.get("mode") == "embedded")
    yield LocalVault(settings.path("vault.directory", "keys"), master)


def warn_if_master_key_beside_keys(settings: Settings) -> bool:
    """Log (loudly) that the local vault's master key is kept in clear beside the encrypted wallet
    keys, when it is: whoever copies the data dir (a backup, a stolen disk) holds every wallet's
    private key. `serve` and `worker` call it at start-up. True if it warned."""
    from drexfy.adapters.local_vault import MASTER_KEY_ENV

    if settings.get("vault.kind") != "local" or os.environ.get(MASTER_KEY_ENV):
        return False
    key_file = settings.path("vault.master_key_file", "vault-master.key").resolve()
    keys_dir = settings.path("vault.directory", "keys").resolve()
    if key_file.parent not in (keys_dir, keys_dir.parent):
        return False
    log.warning(
        "INSECURE: the vault master key is kept in clear beside the encrypted wallet keys "
        "(%s); set %s or vault.master_key_file to a place outside the data dir, or use vault.kind = kms",
        key_file,
        MASTER_KEY_ENV,
    )
    return True


async def _kms_vault(settings: Settings) -> AsyncIterator[KeyVault]:
    from drexfy.adapters.kms import KeyBlobStore, KmsConfig, SqliteKeyBlobStore, open_kms_vault

    config = KmsConfig(
        mode=settings.get("vault.kms.mode"),
        region=settings.get("vault.kms.region"),
        endpoint_url=settings.get("vault.kms.endpoint_url") or None,
        key_id=settings.get("vault.kms.key_id") or None,
        alias_prefix=settings.get("vault.kms.alias_prefix"),
    )
    blobs: KeyBlobStore | None = None
    if config.mode == "envelope":
        # The envelope vault's ciphertexts: in a DynamoDB table (`vault.kms.table`, else the
        # store's table name, reached where the store's DynamoDB is), else in the data dir.
        table = settings.get("vault.kms.table") or settings.get("store.dynamodb.table")
        if table:
            from drexfy.adapters.aws import AwsSettings
            from drexfy.adapters.dynamodb.key_blobs import DynamoKeyBlobStore

            dynamodb = AwsSettings(config.region, settings.get("store.dynamodb.endpoint_url") or None)
            blobs = DynamoKeyBlobStore(dynamodb.client("dynamodb"), table)
        else:
            blobs = SqliteKeyBlobStore(settings.data_dir / "kms-key-blobs.sqlite")
    vault = await open_kms_vault(config, blobs)
    try:
        yield vault
    finally:
        close = getattr(vault, "close", None)
        if close is not None:
            await close()


async def _memory_ledger(settings: Settings, store: Store) -> AsyncIterator[Ledger]:
    from drexfy.adapters.memory import MemoryLedger

    await _refuse_earlier_ledger_state(settings, store)
    yield MemoryLedger(settings.get("ledger.currency"))


async def _refuse_earlier_ledger_state(settings: Settings, store: Store) -> None:
    """A ledger that lives in this process starts empty each run. A store that already records
    ledger state (issued instruments, activated wallets) from an earlier run would point at contracts
    and classifications that no longer exist, and every purchase would fail on chain (then be
    refunded). Refuse that at start-up, naming the way out."""
    ledger = process_local_ledger(settings)
    if ledger is None:
        return  # a node keeps its state
    async with store.unit_of_work() as uow:
        instruments = await uow.instruments.list(limit=1)
        investors = [] if instruments else await uow.investors.list(limit=500)
    found = (
        f"instrument {instruments[0].symbol}"
        if instruments
        else next((f"investor {i.id}'s activated wallet" for i in investors if i.wallet_activated), None)
    )
    if found is not None:
        raise ConfigurationError(
            f"{ledger} starts empty every run, but the store in {settings.data_dir} holds ledger state from an"
            f" earlier run ({found}); start with a fresh data_dir (DREXFY_DATA_DIR, or remove"
            f" {settings.data_dir}), or use a ledger that keeps its state (a node such as `anvil --state FILE`"
            " with `drexfy contracts deploy`, or the XRPL)"
        )


async def _close(ledger: Ledger) -> None:
    """Release a chain ledger's RPC session (the memory ledger has none)."""
    close = getattr(ledger, "close", None)
    if close is not None:
        await close()


async def _evm_ledger(settings: Settings, vault: KeyVault, store: Store) -> AsyncIterator[Ledger]:
    from drexfy.adapters.evm import build_evm_ledger
    from drexfy.adapters.evm.memory_journal import MemoryJournal

    await _refuse_earlier_ledger_state(settings, store)
    config = evm_config(settings)
    # The embedded chain does not outlive the process, so neither does its journal.
    journal = MemoryJournal() if config.embedded else store.journal
    production = settings.get("mode") == "production"
    ledger = await build_evm_ledger(config, vault, journal, require_duty_keys=production)
    try:
        yield ledger
    finally:
        await _close(ledger)


async def _xrpl_ledger(settings: Settings, vault: KeyVault, store: Store) -> AsyncIterator[Ledger]:
    from drexfy.adapters.xrpl import build_xrpl_ledger

    ledger = await build_xrpl_ledger(xrpl_config(settings), vault, store.journal)
    try:
        yield ledger
    finally:
        await _close(ledger)


async def _notifier(settings: Settings) -> AsyncIterator[Notifier]:
    """The frontend's webhook when `http.notify_url` names one; else notifications are recorded
    (embedded defaults, tests)."""
    from drexfy.adapters.notify import HttpNotifier, RecordingNotifier
    from drexfy.entrypoints.runtime.settings import http_secrets

    url = settings.get("http.notify_url")
    notifier: Notifier
    if not url:
        notifier = RecordingNotifier()
    elif settings.get("http.notify_auth") == "bearer":  # Bubble API workflows' own scheme
        notifier = HttpNotifier(url, "", bearer_token=settings.get("http.notify_api_token"))
    else:
        notifier = HttpNotifier(url, http_secrets(settings)["notify_secret"])
    try:
        yield notifier
    finally:
        await notifier.close()


async def _sumsub_kyc(settings: Settings) -> AsyncIterator[KycProvider]:
    """Sumsub applicants, WebSDK tokens and verified results (`kyc.sumsub.*`)."""
    from drexfy.adapters.kyc import SumsubKyc

    kyc = SumsubKyc(sumsub_config(settings))
    try:
        yield kyc
    finally:
        await kyc.close()


async def _stripe_payments(settings: Settings) -> AsyncIterator[PaymentGateway]:
    """Stripe Checkout and refunds (`payments.stripe.*`); its HTTP session closes with the container."""
    from drexfy.adapters.payments import StripeGateway

    gateway = StripeGateway(stripe_config(settings))
    try:
        yield gateway
    finally:
        await gateway.close()


def _bank(settings: Settings) -> BankFiles | None:
    """ISO 20022 files of the platform's account (`bank.*`); None while no IBAN is configured."""
    if not settings.get("bank.iban"):
        return None
    from drexfy.adapters.bank import BankAccount, Iso20022Bank

    return Iso20022Bank(BankAccount(settings.get("bank.name"), settings.get("bank.iban"), settings.get("bank.bic")))


def _process_settings(settings: Settings) -> ProcessSettings:
    batch = settings.get("processes.distribution_batch_size") or (
        MAX_DYNAMODB_BATCH
        if settings.get("store.kind") == "dynamodb"
        else DEFAULT_EVM_BATCH
        if settings.get("ledger.kind") == "evm"
        else DEFAULT_BATCH
    )
    return ProcessSettings(
        reservation=timedelta(minutes=settings.get("processes.reservation_minutes")),
        settlement_lease=timedelta(seconds=settings.get("processes.settlement_lease_s")),
        region_overrides=dict(settings.get("processes.region_overrides")),
        distribution_batch_size=batch,
        max_deposit_minor=settings.get("bank.max_deposit_minor"),
    )


class Container(containers.DeclarativeContainer):
    """Adapters per port, picked by configuration."""

    config = providers.Configuration(strict=True)
    settings = providers.Dependency(instance_of=Settings)

    clock = providers.Singleton(SystemClock)
    ids = providers.Singleton(UuidIds)

    store = providers.Selector(
        config.store.kind,
        sqlite=providers.Resource(_sqlite_store, settings),
        dynamodb=providers.Resource(_dynamodb_store, settings),
    )
    vault = providers.Selector(
        config.vault.kind,
        local=providers.Resource(_local_vault, settings),
        kms=providers.Resource(_kms_vault, settings),
    )
    ledger = providers.Selector(
        config.ledger.kind,
        memory=providers.Resource(_memory_ledger, settings, store),
        evm=providers.Resource(_evm_ledger, settings, vault, store),
        xrpl=providers.Resource(_xrpl_ledger, settings, vault, store),
    )
    kyc = providers.Selector(
        config.kyc.kind,
        sandbox=providers.Singleton(SandboxKyc),
        sumsub=providers.Resource(_sumsub_kyc, settings),
    )
    payments = providers.Selector(
        config.payments.kind,
        sandbox=providers.Singleton(SandboxPayments),
        stripe=providers.Resource(_stripe_payments, settings),
    )
    notifier = providers.Resource(_notifier, settings)
    process_settings = providers.Singleton(_process_settings, settings)
    bank = providers.Singleton(_bank, settings)

    services = providers.Singleton(
        Services,
        store=store,
        ledger=ledger,
        vault=vault,
        kyc=kyc,
        payments=payments,
        clock=clock,
        ids=ids,
        settings=process_settings,
        bank=bank,
    )


def build_container(settings: Settings, **overrides: Any) -> Container:
    """A container for these settings; `overrides` replace providers by name (tests: a fake clock)."""
    container = Container(settings=settings)
    container.config.from_dict(settings.as_dict())
    for name, value in overrides.items():
        provider = getattr(container, name, None)
        if provider is None:
            raise ConfigurationError(f"no provider named {name}")
        provider.override(providers.Object(value))
    return container
