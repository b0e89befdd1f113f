"""The processes (use cases), written against the ports; one module per process.

Every process is safe to run again after a crash or a duplicate delivery: it reads the persisted
state, skips the steps already done, and calls the ledger with operation ids derived from that state,
so a step that reached the ledger but not the store is recognised by the ledger (at-most-once per id)
instead of being done twice. Store writes come before ledger calls where the domain must refuse at
once (a block), and after them where the ledger is the source of truth (a settlement).

| module | processes |
| --- | --- |
| `base` | `ProcessSettings`, `Services` (what every process may use), `in_uow` |
| `registration` | register an investor, start KYC, handle the KYC result |
| `instruments` | create, issue, open and close an instrument |
| `buying` | create, cancel and expire orders; handle the payment; settle |
| `balance_payment` | pay a CREATED order from the stablecoin balance (settled without a mint) |
| `kyc_review` | the KYC provider's applicant events: GREEN read from the provider, RETRY, FINAL, re-checks |
| `refunds` | refund REFUND_DUE orders through the gateway; its answers; the retry sweep |
| `repayment` | trigger and continue a repayment (batches, hold-backs, automatic cash-out) |
| `compliance` | AML alert, block, unblock, release held-back shares; on-chain wallet helpers |
| `agent` | the agent's forced transfer of units and the recovery of a lost wallet |
| `withdrawal` | cash stablecoin out |
| `register` | the store's positions follow the ledger's unit transfers (holder to holder) |
| `payouts` | payout IBANs, pain.001 files of withdrawals, camt statements confirming them (PAID_OUT) |
| `deposits` | bank credits minted to the investor they name, returned payouts minted back, once per entry |
| `read_models` | the investor's view, reconciliation |
| `queries` | the query side the API and the CLI read (filtered listings, an investor's orders, ...) |
"""

from drexfy.domain.processes.agent import ForceTransfer, RecoverWallet, force_transfer, recover_wallet
from drexfy.domain.processes.balance_payment import pay_from_balance
from drexfy.domain.processes.base import ProcessSettings, Services
from drexfy.domain.processes.buying import (
    CreateOrder,
    cancel_order,
    create_order,
    expire_orders,
    handle_payment,
    settle_order,
)
from drexfy.domain.processes.compliance import (
    block_investor,
    confirm_sanctions,
    dismiss_alert,
    handle_aml_alert,
    release_held_back,
    unblock_investor,
)
from drexfy.domain.processes.deposits import assign_deposit, list_deposits, mint_deposit, retry_deposits
from drexfy.domain.processes.instruments import (
    CreateInstrument,
    close_instrument,
    create_instrument,
    issue_instrument,
    open_instrument,
)
from drexfy.domain.processes.kyc_review import handle_kyc_review
from drexfy.domain.processes.payouts import (
    PayoutFile,
    StatementImport,
    export_payouts,
    import_statement,
    register_payout_iban,
)
from drexfy.domain.processes.read_models import (
    Drift,
    HeldBackShare,
    Holding,
    InvestorView,
    Reconciliation,
    investor_view,
    reconcile,
    reconcile_all,
)
from drexfy.domain.processes.refunds import handle_refund_event, request_refund, retry_refunds
from drexfy.domain.processes.register import sync_register, sync_registers
from drexfy.domain.processes.registration import RegisterInvestor, handle_kyc_result, register_investor, start_kyc
from drexfy.domain.processes.repayment import (
    PayRepayment,
    TriggerRepayment,
    check_repayment,
    continue_repayment,
    request_repayment,
    take_snapshot,
    trigger_repayment,
)
from drexfy.domain.processes.withdrawal import Withdraw, withdraw

__all__ = [
    "CreateInstrument",
    "CreateOrder",
    "Drift",
    "ForceTransfer",
    "HeldBackShare",
    "Holding",
    "InvestorView",
    "PayRepayment",
    "PayoutFile",
    "ProcessSettings",
    "Reconciliation",
    "RecoverWallet",
    "RegisterInvestor",
    "Services",
    "StatementImport",
    "TriggerRepayment",
    "Withdraw",
    "assign_deposit",
    "block_investor",
    "cancel_order",
    "check_repayment",
    "close_instrument",
    "confirm_sanctions",
    "continue_repayment",
    "create_instrument",
    "create_order",
    "dismiss_alert",
    "expire_orders",
    "export_payouts",
    "force_transfer",
    "handle_aml_alert",
    "handle_kyc_result",
    "handle_kyc_review",
    "handle_payment",
    "handle_refund_event",
    "import_statement",
    "investor_view",
    "issue_instrument",
    "list_deposits",
    "mint_deposit",
    "open_instrument",
    "pay_from_balance",
    "reconcile",
    "reconcile_all",
    "recover_wallet",
    "register_investor",
    "register_payout_iban",
    "release_held_back",
    "request_refund",
    "request_repayment",
    "retry_deposits",
    "retry_refunds",
    "settle_order",
    "start_kyc",
    "sync_register",
    "sync_registers",
    "take_snapshot",
    "trigger_repayment",
    "unblock_investor",
    "withdraw",
]
