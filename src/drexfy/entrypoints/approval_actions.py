"""The sensitive actions that wait for a second person (four-eyes), one table entry each.

Each entry names the roles that may request and approve the action and a plain async function
`run(services, subject, params, approver) -> result` that does it once approved
(`drexfy.domain.processes.approvals` guarantees it runs exactly once). To add a kind (a forced
transfer, a wallet recovery): write its function and add one line to `ACTIONS`, plus the kind's name
in `runtime/access.py`'s `APPROVAL_KINDS` if it can be switched off by configuration.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drexfy.domain import processes as p
from drexfy.domain.deposit import DepositStatus
from drexfy.domain.errors import IllegalTransition
from drexfy.domain.money import Money
from drexfy.domain.processes.approvals import Actor, ApprovalAction, ApprovalRefused
from drexfy.domain.processes.audit import record_action
from drexfy.entrypoints.identity.operators import OperatorDirectory
from drexfy.entrypoints.runtime.jobs import queue_repayment

Result = Mapping[str, Any]


async def unblock(svc: p.Services, investor_id: str, params: Mapping[str, Any], approver: Actor) -> Result:
    officers = f"{params['requested_by']}, approved by {approver.subject}"
    investor = await p.unblock_investor(svc, investor_id, str(params["reason"]), officers)
    return {"investor_id": investor.id}


async def dismiss_alert(svc: p.Services, investor_id: str, params: Mapping[str, Any], approver: Actor) -> Result:
    officers = f"{params['requested_by']}, approved by {approver.subject}"
    investor = await p.dismiss_alert(svc, investor_id, str(params["reason"]), officers)
    return {"investor_id": investor.id}


async def close_instrument(svc: p.Services, instrument_id: str, params: Mapping[str, Any], approver: Actor) -> Result:
    instrument = await p.close_instrument(svc, instrument_id)
    return {"instrument_id": instrument.id, "status": instrument.status.value}


async def large_repayment(svc: p.Services, instrument_id: str, params: Mapping[str, Any], approver: Actor) -> Result:
    interest, principal = params["interest"], params["principal"]
    # Recorded and queued only, like an unapproved one: the worker's job snapshots and pays.
    repayment = await p.request_repayment(
        svc,
        p.TriggerRepayment(
            instrument_id,
            str(params["period"]),
            Money(int(interest["minor"]), str(interest["currency"])),
            Money(int(principal["minor"]), str(principal["currency"])),
            bool(params["final"]),
        ),
    )
    await queue_repayment(svc, repayment.id)
    return {"repayment_id": repayment.id}


async def grant_role(svc: p.Services, operator_id: str, params: Mapping[str, Any], approver: Actor) -> Result:
    if approver.subject == operator_id:
        raise ApprovalRefused("nobody approves a role for themselves")
    operator = await OperatorDirectory(svc.store.access, svc.clock, svc.ids, svc.vault).grant(
        operator_id, str(params["role"])
    )
    await record_action(svc, "OperatorRoleGranted", operator_id, "", {"role": str(params["role"])})
    return {"operator_id": operator.id, "roles": list(operator.roles)}


def _agent_actor(params: Mapping[str, Any], approver: Actor) -> str:
    return f"{params['requested_by']}, approved by {approver.subject}"


async def forced_transfer(svc: p.Services, instrument_id: str, params: Mapping[str, Any], approver: Actor) -> Result:
    # The operation id was fixed when the request was made: a retried approval resumes it.
    done = await p.force_transfer(
        svc,
        p.ForceTransfer(
            str(params["operation_id"]),
            instrument_id,
            str(params["from_investor_id"]),
            str(params["to_investor_id"]),
            int(params["units"]),
            str(params["reason"]),
            _agent_actor(params, approver),
        ),
    )
    return {"operation_id": done.operation_id, "tx_ids": list(done.tx_ids)}


async def wallet_recovery(svc: p.Services, investor_id: str, params: Mapping[str, Any], approver: Actor) -> Result:
    cmd = p.RecoverWallet(
        str(params["operation_id"]), investor_id, str(params["reason"]), _agent_actor(params, approver)
    )
    investor = await p.recover_wallet(svc, cmd)
    return {"investor_id": investor.id, "wallet_address": investor.wallet.address if investor.wallet else None}


async def assign_deposit(svc: p.Services, deposit_id: str, params: Mapping[str, Any], approver: Actor) -> Result:
    investor_id, operators = str(params["investor_id"]), _agent_actor(params, approver)
    async with svc.store.unit_of_work() as uow:
        deposit = await uow.deposits.get(deposit_id)
    resumed = (
        deposit.status is not DepositStatus.UNMATCHED
        and deposit.investor_id == investor_id
        and (deposit.assigned_by or "").startswith(f"{params['requested_by']}, approved by ")
    )
    if resumed:  # this request's assignment, interrupted by a ledger outage: finish its mint (once)
        deposit = await p.mint_deposit(svc, deposit_id)
    else:
        deposit = await p.assign_deposit(svc, deposit_id, investor_id, operators)
    if deposit.status is DepositStatus.UNMATCHED:  # the ledger refused the mint: back on the list
        raise IllegalTransition(f"deposit {deposit.id} was not minted: {deposit.reason}")
    return {"deposit_id": deposit.id, "investor_id": investor_id, "status": deposit.status.value}


COMPLIANCE, ADMIN = frozenset({"compliance"}), frozenset({"admin"})

ACTIONS: dict[str, ApprovalAction] = {
    "unblock": ApprovalAction(COMPLIANCE, COMPLIANCE, unblock, "unblock an investor"),
    "dismiss_alert": ApprovalAction(COMPLIANCE, COMPLIANCE, dismiss_alert, "dismiss the alert behind a block"),
    "close_instrument": ApprovalAction(ADMIN, ADMIN, close_instrument, "close an instrument's sale"),
    "large_repayment": ApprovalAction(ADMIN, ADMIN, large_repayment, "a repayment above the threshold"),
    "grant_role": ApprovalAction(ADMIN, ADMIN, grant_role, "grant an operator a role"),
    "forced_transfer": ApprovalAction(ADMIN, ADMIN, forced_transfer, "move units without the holder's consent"),
    "wallet_recovery": ApprovalAction(ADMIN, ADMIN, wallet_recovery, "move an investor's units to a new wallet"),
    "assign_deposit": ApprovalAction(ADMIN, ADMIN, assign_deposit, "give an unmatched bank credit to an investor"),
}
