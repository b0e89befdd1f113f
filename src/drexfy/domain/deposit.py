"""Deposit: one credit on the platform's bank account (a camt statement entry), and the stablecoin
minted for it.

A deposit's id is derived from the bank's own reference of the entry (`deposit_id`), so the same
entry imported again (the same statement twice, or a camt.054 notification and the evening's
camt.053) is the same deposit: it is minted at most once, under the ledger operation
`deposit:<id>`. Its life:

- MATCHED: the entry names an investor who may receive stablecoin; the mint is due (a ledger that
  was down is retried by the next import or `drexfy bank deposits --retry`);
- UNMATCHED: nobody is named, the investor cannot receive now, or the entry is out of bounds; an
  operator looks at the list (`reason`) and may assign it to an investor (then MATCHED);
- MINTED: the stablecoin is on the investor's wallet (`tx_ids`).

A RETURN deposit is a payout the bank sent back (`withdrawal_id`): the money is minted back to the
investor who withdrew it.
"""

from __future__ import annotations

import enum
import hashlib
from datetime import datetime

import attrs

from drexfy.domain import events as ev
from drexfy.domain.errors import IllegalTransition
from drexfy.domain.money import Money


class DepositStatus(enum.Enum):
    MATCHED = "MATCHED"
    UNMATCHED = "UNMATCHED"
    MINTED = "MINTED"


class DepositKind(enum.Enum):
    #: An investor wired money in.
    TRANSFER = "TRANSFER"
    #: A payout came back (wrong or closed account): the withdrawn money goes back to the investor.
    RETURN = "RETURN"


def deposit_id(bank_ref: str) -> str:
    """The deposit id of a bank entry: the same entry always gives the same id (exactly once)."""
    return "dep_" + hashlib.sha256(bank_ref.encode("utf-8")).hexdigest()[:32]


@attrs.define
class Deposit:
    id: str
    bank_ref: str
    amount: Money
    received_at: datetime
    kind: DepositKind = DepositKind.TRANSFER
    status: DepositStatus = DepositStatus.UNMATCHED
    investor_id: str | None = None
    #: The remittance text of the entry (what the payer wrote), for the operator.
    reference: str | None = None
    #: Why it is UNMATCHED (for operators only: it may name a compliance state).
    reason: str | None = None
    withdrawal_id: str | None = None
    #: Who assigned an unmatched deposit to an investor.
    assigned_by: str | None = None
    minted_at: datetime | None = None
    tx_ids: tuple[str, ...] = ()
    version: int = 0
    events: list[ev.DomainEvent] = attrs.field(factory=list, eq=False, repr=False)

    @property
    def op_id(self) -> str:
        """The ledger operation of its mint: one per bank entry."""
        return f"deposit:{self.id}"

    def received(self, now: datetime) -> None:
        self.events.append(
            ev.DepositReceived(
                self.id, now, self.kind.value, self.status.value, self.amount.minor, self.amount.currency
            )
        )

    def assign(self, investor_id: str, operator: str, now: datetime) -> None:
        if self.status is not DepositStatus.UNMATCHED:
            raise IllegalTransition(f"deposit {self.id} is {self.status.value}, not UNMATCHED")
        self.status = DepositStatus.MATCHED
        self.investor_id = investor_id
        self.assigned_by = operator
        self.reason = None
        self.events.append(ev.DepositAssigned(self.id, now, investor_id, operator))

    def hold(self, reason: str) -> None:
        """The mint cannot happen (the investor cannot receive now): back to the operator's list."""
        if self.status is DepositStatus.MINTED:
            raise IllegalTransition(f"deposit {self.id} is already MINTED")
        self.status = DepositStatus.UNMATCHED
        self.reason = reason

    def minted(self, tx_ids: tuple[str, ...], now: datetime) -> None:
        if self.status is not DepositStatus.MATCHED or self.investor_id is None:
            raise IllegalTransition(f"deposit {self.id} is {self.status.value}, not MATCHED")
        self.status = DepositStatus.MINTED
        self.minted_at = now
        self.tx_ids = tx_ids
        self.events.append(
            ev.DepositMinted(
                self.investor_id,
                now,
                self.id,
                self.kind.value,
                self.amount.minor,
                self.amount.currency,
                self.withdrawal_id,
                tx_ids,
            )
        )
