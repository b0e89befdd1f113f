"""From the application's settings to each adapter's own typed config: adapters never read the
settings tree. The container (and the operator commands that build one adapter) call these."""

from __future__ import annotations

from typing import Any

from drexfy.adapters.evm.config import DEFAULT_BATCH_SIZE, EvmConfig
from drexfy.adapters.kyc.sumsub import SumsubConfig
from drexfy.adapters.payments.stripe import StripeConfig
from drexfy.adapters.xrpl.config import XrplConfig
from drexfy.domain.errors import ConfigurationError
from drexfy.entrypoints.config import Settings


def evm_config(settings: Settings) -> EvmConfig:
    """`ledger.evm.*` and `processes.distribution_batch_size` (0 = automatic); an empty deployment
    file means `<data_dir>/evm-deployment.json`."""
    return EvmConfig(
        rpc_url=settings.get("ledger.evm.rpc_url"),
        chain_id=int(settings.get("ledger.evm.chain_id")),
        deployment_file=settings.path("ledger.evm.deployment_file", "evm-deployment.json"),
        # 0 and 1 both mean "included in a block"; anvil and the embedded EVM mine at once.
        confirmations=max(1, int(settings.get("ledger.evm.confirmations"))),
        max_fee_per_gas_wei=int(settings.get("ledger.evm.max_fee_gwei")) * 10**9,
        receipt_timeout_s=float(settings.get("ledger.evm.receipt_timeout_s")),
        receipt_timeout_blocks=int(settings.get("ledger.evm.receipt_timeout_blocks")),
        poll_interval_s=float(settings.get("ledger.evm.poll_interval_s")),
        keeper_grace_s=float(settings.get("ledger.evm.keeper_grace_s")),
        block_time_s=float(settings.get("ledger.evm.block_time_s")),
        # 0 means "automatic": the adapter's own default, which fits the contract's cap.
        batch_size=int(settings.get("processes.distribution_batch_size")) or DEFAULT_BATCH_SIZE,
    )


#: XrplConfig fields that a settings file may set under `ledger.xrpl.` beside the required ones.
_XRPL_OPTIONAL = (
    "issuer_wallet",
    "instrument_issuer_wallet",
    "funding_wallet",
    "registrar_wallet",
    "ledger_offset",
    "fee_cap_drops",
    "investor_fee_allowance_drops",
    "trust_limit",
    "poll_interval",
    "submit_timeout",
    "close_time_s",
)


def xrpl_config(settings: Settings) -> XrplConfig:
    """`ledger.currency` and `ledger.xrpl.*` (`rpc_url` required)."""

    def get(key: str, default: Any) -> Any:
        try:
            return settings.get(key)
        except (ConfigurationError, KeyError, TypeError):
            return default

    rpc_url = get("ledger.xrpl.rpc_url", "")
    if not rpc_url:
        raise ConfigurationError("ledger.xrpl.rpc_url: required when ledger.kind = xrpl")
    currency = get("ledger.currency", "EUR")
    values: dict[str, Any] = {
        "rpc_url": rpc_url,
        "currency": currency,
        "currency_code": get("ledger.xrpl.currency_code", currency) or currency,
        "batch": bool(get("ledger.xrpl.batch", False)),
    }
    for name in _XRPL_OPTIONAL:
        value = get(f"ledger.xrpl.{name}", None)
        if value not in (None, ""):
            values[name] = value
    return XrplConfig(**values)


def stripe_config(settings: Settings) -> StripeConfig:
    """`payments.stripe.*`."""
    return StripeConfig(
        api_key=settings.get("payments.stripe.api_key"),
        success_url=settings.get("payments.stripe.success_url"),
        cancel_url=settings.get("payments.stripe.cancel_url"),
        api_base=settings.get("payments.stripe.api_base"),
        max_network_retries=int(settings.get("payments.stripe.max_network_retries")),
        timeout_s=float(settings.get("payments.stripe.timeout_s")),
    )


def sumsub_config(settings: Settings) -> SumsubConfig:
    """`kyc.sumsub.*`."""
    return SumsubConfig(
        app_token=settings.get("kyc.sumsub.app_token"),
        secret_key=settings.get("kyc.sumsub.secret_key"),
        level_name=settings.get("kyc.sumsub.level_name"),
        api_base=settings.get("kyc.sumsub.api_base"),
        accreditation_item=settings.get("kyc.sumsub.accreditation_item"),
        token_ttl_s=int(settings.get("kyc.sumsub.token_ttl_s")),
        timeout_s=float(settings.get("kyc.sumsub.timeout_s")),
    )
