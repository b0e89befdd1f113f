"""Every setting's type, default and bounds: one attrs class per section of the TOML file.

Adding a setting is one line in its section's class, `name: Type = default`, with its bounds as
`Annotated[...]` metadata (`Range`, `OneOf`, `Matches` from `config_types`); a new section is a class
here and one field of `AppSettings`. Cross-setting rules (required together, production only) live
in `config._validate`. The worker's section is `WorkerSettings` itself (one set of defaults).
"""

from __future__ import annotations

import functools
import typing
from typing import Annotated, Any

import attrs

from drexfy.domain.bounds import MAX_MINOR
from drexfy.entrypoints.config_types import Currency, Matches, OneOf, Port, Range, TextList
from drexfy.entrypoints.runtime.settings import WorkerSettings

#: Largest repayment batch (holders per ledger batch) on any store.
MAX_BATCH = 10_000


@attrs.frozen
class EvmSection:
    # "embedded" runs an in-process EVM (eth-tester + py-evm); else a JSON-RPC URL.
    rpc_url: str = "embedded"
    chain_id: Annotated[int, Range(low=1, high=2**53 - 1)] = 1287
    deployment_file: str = ""
    confirmations: Annotated[int, Range(low=0, high=1000)] = 0
    max_fee_gwei: Annotated[int, Range(low=1, high=1_000_000)] = 200
    # How long an API call or a command waits for its transaction to be included (the worker's jobs
    # wait `worker.ledger_wait_s`), and how often it asks meanwhile.
    receipt_timeout_s: Annotated[float, Range(low=0.1, high=3600.0)] = 60.0
    # ... and how many new blocks it waits (the seconds above are the backstop for a chain that
    # makes no blocks).
    receipt_timeout_blocks: Annotated[int, Range(low=1, high=10_000)] = 10
    poll_interval_s: Annotated[float, Range(low=0.01, high=60.0)] = 0.05
    # The keeper spends a nonce claimed but left unsigned this long on a no-op.
    keeper_grace_s: Annotated[float, Range(low=1.0, high=3600.0)] = 10.0
    # The chain's block time: a job whose transaction is not included within the receipt timeout
    # comes back after one block (Moonbeam: 6 s).
    block_time_s: Annotated[float, Range(low=0.1, high=600.0)] = 6.0


@attrs.frozen
class XrplSection:
    rpc_url: str = ""
    currency_code: str = "EUR"
    batch: bool = False
    # How often and how long an API call or a command waits for a validated result (the worker's
    # jobs wait `worker.ledger_wait_s` and come back after `close_time_s`: one ledger close).
    poll_interval: Annotated[float, Range(low=0.01, high=60.0)] = 0.5
    submit_timeout: Annotated[float, Range(low=0.1, high=3600.0)] = 120.0
    close_time_s: Annotated[float, Range(low=0.1, high=600.0)] = 4.0


@attrs.frozen
class LedgerSection:
    kind: Annotated[str, OneOf(("memory", "evm", "xrpl"))] = "evm"
    currency: Currency = "EUR"
    evm: EvmSection = attrs.field(factory=EvmSection)
    xrpl: XrplSection = attrs.field(factory=XrplSection)


@attrs.frozen
class KmsSection:
    mode: Annotated[str, OneOf(("envelope", "signer"))] = "envelope"
    region: str = "eu-central-1"
    endpoint_url: str = ""
    key_id: str = ""
    table: str = ""
    # signer mode: KMS aliases of wallet keys are <alias_prefix><wallet id>
    alias_prefix: str = "alias/drexfy-wallet/"


@attrs.frozen
class VaultSection:
    kind: Annotated[str, OneOf(("local", "kms"))] = "local"
    directory: str = ""
    master_key_file: str = ""
    kms: KmsSection = attrs.field(factory=KmsSection)


@attrs.frozen
class DynamoSection:
    table: str = "drexfy"
    region: str = "eu-central-1"
    endpoint_url: str = ""
    # Create the table at start-up if missing (development; production runs `drexfy store init` once).
    create_table: bool = False


@attrs.frozen
class StoreSection:
    kind: Annotated[str, OneOf(("sqlite", "dynamodb"))] = "sqlite"
    path: str = ""
    dynamodb: DynamoSection = attrs.field(factory=DynamoSection)


@attrs.frozen
class SumsubSection:
    """kyc.kind = "sumsub": the app token and secret key (from the environment), the verification
    level, the API's address (tests: the local fake), and which questionnaire answer
    (questionnaire.section.item, "yes"/"true") says the investor is accredited."""

    app_token: str = ""
    secret_key: str = ""
    level_name: str = ""
    api_base: str = "https://api.sumsub.com"
    accreditation_item: str = "accreditation.status.accredited"
    token_ttl_s: Annotated[int, Range(low=60, high=86400)] = 1800
    timeout_s: Annotated[float, Range(low=1.0, high=300.0)] = 30.0


@attrs.frozen
class KycSection:
    kind: Annotated[str, OneOf(("sandbox", "sumsub"))] = "sandbox"
    sumsub: SumsubSection = attrs.field(factory=SumsubSection)


@attrs.frozen
class StripeSection:
    """payments.kind = "stripe": the secret key (sk_live_/sk_test_; from the environment,
    DREXFY_PAYMENTS__STRIPE__API_KEY, never a committed file), where Checkout sends the customer
    back, and the API's address (empty: Stripe's own; tests: the local fake)."""

    api_key: str = ""
    success_url: str = ""
    cancel_url: str = ""
    api_base: str = ""
    max_network_retries: Annotated[int, Range(low=0, high=10)] = 2
    timeout_s: Annotated[float, Range(low=1.0, high=300.0)] = 30.0


@attrs.frozen
class PaymentsSection:
    kind: Annotated[str, OneOf(("sandbox", "stripe"))] = "sandbox"
    stripe: StripeSection = attrs.field(factory=StripeSection)


@attrs.frozen
class BankSection:
    """The platform's bank account: the debtor of payout transfers (pain.001) and the account whose
    statements (camt.053/054) are imported. Empty iban: bank payouts are off."""

    name: str = ""
    iban: str = ""
    bic: str = ""
    # The largest bank credit minted to an investor without an operator (minor units: cents); a
    # larger one waits on the operators' list of unmatched deposits.
    max_deposit_minor: Annotated[int, Range(low=1, high=MAX_MINOR)] = 100_000_000


Country = Annotated[str, Matches(r"[A-Z]{2}", "an ISO 3166-1 alpha-2 country code such as CH")]
Region = Annotated[str, OneOf(("US", "EU"))]


@attrs.frozen
class ProcessesSection:
    reservation_minutes: Annotated[int, Range(low=1, high=7 * 24 * 60)] = 30
    # How long one attempt holds an order's settlement before another may take over (the one that
    # held it died): the longest stall a crash can cause. Takeovers are safe (the ledger operation
    # id), so keep it short; about one receipt wait.
    settlement_lease_s: Annotated[float, Range(low=1.0, high=3600.0)] = 45.0
    # Holders per ledger batch of a repayment; 0 = automatic: 45 on DynamoDB (its transactions hold
    # at most 100 items), else 1,500 with the EVM ledger (sent as chunks of 250 in one block) and
    # 200 with the others.
    distribution_batch_size: Annotated[int, Range(low=0, high=MAX_BATCH)] = 0
    # Residences outside the US and EU/EEA mapped explicitly, e.g. {"CH": "EU"}.
    region_overrides: dict[Country, Region] = attrs.field(factory=dict)


@attrs.frozen
class HttpSection:
    host: str = "127.0.0.1"
    port: Port = 8080
    jwt_secret: str = ""
    kyc_webhook_secret: str = ""
    aml_webhook_secret: str = ""
    stripe_webhook_secret: str = ""
    notify_url: str = ""
    # /ready degrades when a platform ledger transaction stays unconfirmed this long (seconds).
    ready_max_unconfirmed_s: Annotated[float, Range(low=1.0, high=86400.0)] = 120.0
    notify_secret: str = ""
    # How notifications to the frontend authenticate: "hmac" (X-Drexfy-Signature with notify_secret)
    # or "bearer" (Authorization: Bearer notify_api_token, the scheme Bubble's API workflows accept).
    notify_auth: Annotated[str, OneOf(("hmac", "bearer"))] = "hmac"
    notify_api_token: str = ""
    # Rotation: earlier secrets still accepted (a TOML array, or comma-separated) while senders and
    # token holders move to the new one; never used to sign. Empty them once the rotation is over.
    jwt_previous_secrets: TextList = ()
    kyc_webhook_previous_secrets: TextList = ()
    aml_webhook_previous_secrets: TextList = ()
    stripe_webhook_previous_secrets: TextList = ()


@attrs.frozen
class OidcSection:
    """The company's OpenID Connect provider (empty issuer: off). Roles come from `role_claim` (role
    names) or from `group_claim` through `group_roles` ({"drexfy-admins": "admin"})."""

    issuer: str = ""
    audience: str = ""
    jwks_url: str = ""
    role_claim: str = "roles"
    group_claim: str = "groups"
    group_roles: dict[str, Annotated[str, OneOf(("admin", "compliance", "auditor"))]] = attrs.field(factory=dict)
    algorithms: str = "RS256"


@attrs.frozen
class OperatorsSection:
    """Operators (people): local sign-in (argon2id password + TOTP) and OpenID Connect."""

    # Lifetime of an operator's token after a local sign-in, and of an investor token minted by the
    # frontend through the API (seconds).
    token_ttl_s: Annotated[int, Range(low=60, high=12 * 3600)] = 3600
    investor_token_ttl_s: Annotated[int, Range(low=60, high=24 * 3600)] = 900
    # After this many failed sign-ins in a row a name is locked for signin_lockout_s, doubling with
    # each further failure up to signin_max_lockout_s.
    signin_max_failures: Annotated[int, Range(low=1, high=100)] = 5
    signin_lockout_s: Annotated[float, Range(low=1.0, high=86400.0)] = 60.0
    signin_max_lockout_s: Annotated[float, Range(low=1.0, high=7 * 86400.0)] = 3600.0
    oidc: OidcSection = attrs.field(factory=OidcSection)


@attrs.frozen
class ApprovalsSection:
    """Four-eyes: which sensitive actions need a second person's approval (comma-separated kinds),
    how long a request waits, and above which amount (minor units, interest + principal) a
    repayment needs one."""

    required: str = "unblock,dismiss_alert,close_instrument,large_repayment,grant_role,forced_transfer,wallet_recovery,assign_deposit"
    ttl_s: Annotated[int, Range(low=60, high=30 * 86400)] = 86400
    repayment_threshold_minor: Annotated[int, Range(low=0, high=MAX_MINOR)] = 100_000_000


_Burst = Annotated[int, Range(low=1, high=1_000_000)]
_Rate = Annotated[float, Range(above=0.0, high=1_000_000.0)]


@attrs.frozen
class RateLimitsSection:
    """Token buckets per process: `burst` requests at once, refilled at `per_s` a second. Per token
    (API calls), per client address (API calls), per address for provider webhooks (generous) and
    for sign-in attempts."""

    enabled: bool = True
    token_burst: _Burst = 300
    token_per_s: _Rate = 50.0
    address_burst: _Burst = 600
    address_per_s: _Rate = 100.0
    webhook_burst: _Burst = 5000
    webhook_per_s: _Rate = 1000.0
    sign_in_burst: _Burst = 10
    sign_in_per_s: _Rate = 0.2
    #: "process": each API process counts its own (token buckets in memory); "store": every process
    #: on the store shares one count (fixed windows in SQLite or DynamoDB), for several replicas.
    kind: Annotated[str, OneOf(("process", "store"))] = "process"
    #: The reverse proxies / load balancers in front of the API (comma-separated addresses or CIDR
    #: networks, e.g. "10.0.0.0/8"). A request from one of them is counted against the client address
    #: it appended to X-Forwarded-For; empty: the header is ignored (anyone could write it).
    trusted_proxies: str = ""


@attrs.frozen
class AppSettings:
    """The whole configuration; the defaults are the embedded mode (SQLite, a local vault, the
    in-process EVM, sandbox providers)."""

    # "embedded" generates what it lacks (vault master key, EVM deployment); "production" refuses.
    mode: Annotated[str, OneOf(("embedded", "production"))] = "embedded"
    data_dir: str = ".drexfy"
    ledger: LedgerSection = attrs.field(factory=LedgerSection)
    vault: VaultSection = attrs.field(factory=VaultSection)
    store: StoreSection = attrs.field(factory=StoreSection)
    kyc: KycSection = attrs.field(factory=KycSection)
    payments: PaymentsSection = attrs.field(factory=PaymentsSection)
    bank: BankSection = attrs.field(factory=BankSection)
    processes: ProcessesSection = attrs.field(factory=ProcessesSection)
    # The worker's pace, retries and retention (`WorkerSettings` documents each).
    worker: WorkerSettings = attrs.field(factory=WorkerSettings)
    http: HttpSection = attrs.field(factory=HttpSection)
    operators: OperatorsSection = attrs.field(factory=OperatorsSection)
    approvals: ApprovalsSection = attrs.field(factory=ApprovalsSection)
    rate_limits: RateLimitsSection = attrs.field(factory=RateLimitsSection)


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, include_extras=True)


def setting_type(dotted: str) -> Any | None:
    """The declared type of a setting (`ledger.evm.chain_id`), or None if there is no such setting."""
    tp: Any = AppSettings
    for part in dotted.split("."):
        if not attrs.has(tp) or part not in _hints(tp):
            return None
        tp = _hints(tp)[part]
    return tp


def is_section(tp: Any) -> bool:
    return attrs.has(tp)
