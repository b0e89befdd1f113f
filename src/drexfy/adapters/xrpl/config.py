"""Settings of the XRPL adapter."""

from __future__ import annotations

import attrs

#: Reserved vault wallet ids of the platform's XRPL accounts.
ISSUER_WALLET = "platform:xrpl-issuer"
INSTRUMENT_ISSUER_WALLET = "platform:xrpl-instrument-issuer"
FUNDING_WALLET = "platform:xrpl-funding"
REGISTRAR_WALLET = "platform:xrpl-registrar"


@attrs.frozen
class XrplConfig:
    """What the XRPL adapter needs.

    - `rpc_url`: a rippled (or Clio) JSON-RPC endpoint.
    - `currency`: the stablecoin's currency as the domain names it (Money.currency, e.g. "EUR");
      `currency_code` the XRPL currency code it is issued under (3 letters or 40 hex digits).
    - `*_wallet`: KeyVault wallet ids of the platform accounts: the stablecoin issuer, the instrument
      issuer (the securitization company: it issues the MPTs and receives purchase payments), the
      funding account (pays reserves and fee allowances of investor wallets) and the registrar
      (mints classification NFTs).
    - `batch`: settle purchases as one all-or-nothing XLS-56 Batch. Off by default: Batch is not
      enabled on mainnet (a Batch there is refused with temDISABLED and nothing moves).
    - `ledger_offset`: LastLedgerSequence = last validated ledger + this.
    - `fee_cap_drops`: never pay more than this per transaction (the open ledger fee is used up to it).
    - `investor_fee_allowance_drops`: XRP kept in investor wallets above their reserve, for the
      fees of the transactions they must sign; topped up by the funding account when it runs low.
    - `trust_limit`: the limit investors set on their stablecoin trust line.
    - `poll_interval`, `submit_timeout`: how often and how long to wait for a validated result
      (an API call or a command; the worker's jobs wait `worker.ledger_wait_s` and hand back).
    - `close_time_s`: the network's ledger close interval (mainnet 3-5 s): a worker job whose
      transaction is not validated yet comes back after this long.
    """

    rpc_url: str
    currency: str = "EUR"
    currency_code: str = "EUR"
    issuer_wallet: str = ISSUER_WALLET
    instrument_issuer_wallet: str = INSTRUMENT_ISSUER_WALLET
    funding_wallet: str = FUNDING_WALLET
    registrar_wallet: str = REGISTRAR_WALLET
    batch: bool = False
    ledger_offset: int = 20
    fee_cap_drops: int = 5_000
    investor_fee_allowance_drops: int = 100_000
    trust_limit: str = "1000000000000"
    poll_interval: float = 0.5
    submit_timeout: float = 120.0
    close_time_s: float = 4.0
