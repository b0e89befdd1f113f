"""Trust lines in the ledger double: TrustSet, issued-currency payments and the line bookkeeping
they share (reserve flags, owner counts, deletion in the default state).

Each rule names the rippled source it follows (paths as in XRPLF/rippled, `develop` in 2025):
- src/xrpld/app/tx/detail/SetTrust.cpp (preflight, preclaim incl. the freeze / deep-freeze
  invariants, doApply incl. the per-side reserve test and the deletion of a default line);
- src/libxrpl/ledger/View.cpp `trustCreate`, `trustDelete`, `rippleCreditIOU` / `updateTrustLine`;
- src/xrpld/app/paths/detail/DirectStep.cpp `check` and StepChecks.h `checkFreeze` /
  `checkNoRipple` (what the payment engine refuses; Payment.cpp turns those ter codes into
  tecPATH_DRY because a Payment that reached doApply must claim its fee).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.support.xrpl_double.engine import (
    LSF_DEFAULT_RIPPLE,
    LSF_GLOBAL_FREEZE,
    LSF_HIGH_AUTH,
    LSF_HIGH_DEEP_FREEZE,
    LSF_HIGH_FREEZE,
    LSF_HIGH_NO_RIPPLE,
    LSF_HIGH_RESERVE,
    LSF_LOW_AUTH,
    LSF_LOW_DEEP_FREEZE,
    LSF_LOW_FREEZE,
    LSF_LOW_NO_RIPPLE,
    LSF_LOW_RESERVE,
    LSF_NO_FREEZE,
    LSF_REQUIRE_AUTH,
    TF_CLEAR_DEEP_FREEZE,
    TF_CLEAR_FREEZE,
    TF_CLEAR_NO_RIPPLE,
    TF_SET_DEEP_FREEZE,
    TF_SET_FREEZE,
    TF_SET_NO_RIPPLE,
    TF_SETF_AUTH,
    Engine,
    Result,
    TrustLine,
    account_id,
    handler,
    iou_text,
    parse_iou,
)

# ------------------------------------------------------------------------------------------------
# Line bookkeeping
# ------------------------------------------------------------------------------------------------


def touch_line(engine: Engine, line: TrustLine, node: str = "ModifiedNode") -> None:
    engine._touched[line.index()] = {
        "_node": node,
        "LedgerEntryType": "RippleState",
        "LedgerIndex": line.index(),
        "FinalFields": line.to_json(),
    }


def side_needs_reserve(engine: Engine, line: TrustLine, account: str) -> bool:
    """SetTrust.cpp doApply `bLowReserveSet` / `bHighReserveSet`: a side costs its owner a reserve
    while it has a limit, a positive balance, its own freeze, a NoRipple flag that differs from its
    account's default (NoRipple set exactly when the account lacks DefaultRipple), or qualities
    (the double refuses QualityIn/QualityOut). A deep freeze alone does not count: it cannot exist
    without the freeze it sits on."""
    default_ripple = bool(engine.open.accounts[account].flags & LSF_DEFAULT_RIPPLE)
    no_ripple = line.flag(account, LSF_LOW_NO_RIPPLE, LSF_HIGH_NO_RIPPLE)
    return (
        line.limit(account) != 0
        or line.holding(account) > 0
        or line.flag(account, LSF_LOW_FREEZE, LSF_HIGH_FREEZE)
        or (not no_ripple) != default_ripple
    )


def delete_line(engine: Engine, line: TrustLine) -> None:
    """View.cpp `trustDelete`: the line leaves both owner directories. Owner counts were already
    released with the reserve flags."""
    del engine.open.lines[(line.low, line.high, line.currency)]
    touch_line(engine, line, "DeletedNode")


def ripple_credit(engine: Engine, line: TrustLine, sender: str, value: Decimal) -> None:
    """View.cpp `rippleCreditIOU` on an existing line: `sender` gives `value` to the other party.
    When the sender's balance falls from positive to zero or below and its side is otherwise in the
    default state, its reserve is released; a line left at zero with the other side's reserve clear
    is deleted (`updateTrustLine`)."""
    before = line.holding(sender)
    line.credit(sender, -value)
    after = line.holding(sender)
    other = line.high if sender == line.low else line.low
    if (
        before > 0
        and after <= 0
        and line.flag(sender, LSF_LOW_RESERVE, LSF_HIGH_RESERVE)
        and not side_needs_reserve(engine, line, sender)
    ):
        engine.adjust_owner(sender, -1)
        line.set_flag(sender, LSF_LOW_RESERVE, LSF_HIGH_RESERVE, False)
        if after == 0 and not line.flag(other, LSF_LOW_RESERVE, LSF_HIGH_RESERVE):
            delete_line(engine, line)
            return
    touch_line(engine, line)


# ------------------------------------------------------------------------------------------------
# Issued-currency payments (direct issue, direct redeem, rippling through the issuer)
# ------------------------------------------------------------------------------------------------


def _line_or_dry(engine: Engine, holder: str, issuer: str, currency: str) -> TrustLine:
    line = engine.open.line(holder, issuer, currency)
    if line is None:
        # DirectStep.cpp: terNO_LINE, which Payment.cpp turns into tecPATH_DRY (tecNO_LINE belongs
        # to transactions that name a line, such as Clawback).
        raise Result("tecPATH_DRY", f"no {currency} trust line between {holder} and {issuer}")
    return line


def _issue_step(engine: Engine, line: TrustLine, holder: str, issuer: str, value: Decimal) -> None:
    """DirectStep.cpp `DirectIPaymentStep::check` + `maxPaymentFlow` for issuer -> holder: under the
    issuer's RequireAuth an unauthorised line with a zero balance is refused (terNO_AUTH ->
    tecPATH_DRY); the holder's limit bounds what it can receive."""
    if (
        engine.open.accounts[issuer].flags & LSF_REQUIRE_AUTH
        and not line.flag(issuer, LSF_LOW_AUTH, LSF_HIGH_AUTH)
        and line.balance == 0
    ):
        raise Result("tecPATH_DRY", f"{issuer} has not authorised {holder}'s trust line (RequireAuth)")
    headroom = line.limit(holder) - line.holding(holder)
    if headroom <= 0:
        raise Result("tecPATH_DRY", f"{holder}'s trust line limit is reached")
    if headroom < value:
        raise Result("tecPATH_PARTIAL", f"{holder}'s trust line limit allows only {iou_text(headroom)}")


def _redeem_step(line: TrustLine, holder: str, value: Decimal) -> None:
    held = line.holding(holder)
    if held <= 0:
        raise Result("tecPATH_DRY", f"{holder} holds no {line.currency}")
    if held < value:
        raise Result("tecPATH_PARTIAL", f"{holder} holds only {iou_text(held)} {line.currency}")


def _check_freeze(engine: Engine, line: TrustLine, src: str, dst: str) -> None:
    """StepChecks.h `checkFreeze` for a step src -> dst that is not a pure issue or redeem: dst's
    global freeze, dst's own freeze of the line, or a deep freeze by either side (terNO_LINE ->
    tecPATH_DRY)."""
    if engine.open.accounts[dst].flags & LSF_GLOBAL_FREEZE:
        raise Result("tecPATH_DRY", f"{dst} has frozen all its tokens (global freeze)")
    if line.flag(dst, LSF_LOW_FREEZE, LSF_HIGH_FREEZE):
        raise Result("tecPATH_DRY", f"the {line.currency} line between {src} and {dst} is frozen by {dst}")
    if line.flags & (LSF_LOW_DEEP_FREEZE | LSF_HIGH_DEEP_FREEZE):
        raise Result("tecPATH_DRY", f"the {line.currency} line between {src} and {dst} is deep-frozen")


def pay_iou(engine: Engine, src: str, dst: str, amount: dict[str, Any]) -> dict[str, Any]:
    """Issued-currency payments without paths. A one-step payment between a holder and its issuer
    (issuing or redeeming) is never stopped by a freeze: DirectStep.cpp skips `checkFreeze` when
    the step is both first and last ("pure issue/redeem can't be frozen"), so an issuer can pay a
    frozen or even deep-frozen holder and the holder can pay it back. Rippling through the issuer
    (two steps) checks freezes on both lines and NoRipple on the issuer's side of both
    (StepChecks.h `checkNoRipple`: refused only when both lines have it)."""
    currency = amount["currency"]
    issuer = amount["issuer"]
    value = parse_iou(amount["value"])
    if currency == "XRP":
        raise Result("temBAD_CURRENCY")
    if value <= 0:
        raise Result("temBAD_AMOUNT", "amount must be positive")
    if src == dst:
        raise Result("temREDUNDANT", "payment to self")
    engine.account(dst)  # Payment.cpp preclaim: tecNO_DST for a token payment to a missing account
    if issuer not in engine.open.accounts:
        raise Result("tecPATH_DRY", f"issuer {issuer} does not exist")
    if src == issuer:
        line = _line_or_dry(engine, dst, src, currency)
        _issue_step(engine, line, dst, src, value)
        ripple_credit(engine, line, src, value)
    elif dst == issuer:
        line = _line_or_dry(engine, src, dst, currency)
        _redeem_step(line, src, value)
        ripple_credit(engine, line, src, value)
    else:
        out_line = _line_or_dry(engine, src, issuer, currency)
        in_line = _line_or_dry(engine, dst, issuer, currency)
        _check_freeze(engine, out_line, src, issuer)
        if out_line.flag(issuer, LSF_LOW_NO_RIPPLE, LSF_HIGH_NO_RIPPLE) and in_line.flag(
            issuer, LSF_LOW_NO_RIPPLE, LSF_HIGH_NO_RIPPLE
        ):
            raise Result("tecPATH_DRY", f"{issuer} does not allow rippling (NoRipple on both lines)")
        _check_freeze(engine, in_line, issuer, dst)
        _redeem_step(out_line, src, value)
        _issue_step(engine, in_line, dst, issuer, value)
        ripple_credit(engine, out_line, src, value)
        ripple_credit(engine, in_line, issuer, value)
    return {"delivered_amount": dict(amount)}


# ------------------------------------------------------------------------------------------------
# TrustSet — SetTrust.cpp
# ------------------------------------------------------------------------------------------------


def _freeze_preclaim(engine: Engine, tx: dict[str, Any], account: str, peer: str, currency: str) -> None:
    """SetTrust.cpp preclaim, DeepFreeze enabled: NoFreeze forbids setting either freeze; setting
    and clearing in one transaction is refused; and the resulting flags may not leave a deep freeze
    without a freeze (so clearing only the freeze of a deep-frozen line fails). All tecNO_PERMISSION:
    the fee is claimed and the sequence used."""
    flags = int(tx.get("Flags", 0))
    root = engine.open.accounts[account]
    setting = flags & (TF_SET_FREEZE | TF_SET_DEEP_FREEZE)
    clearing = flags & (TF_CLEAR_FREEZE | TF_CLEAR_DEEP_FREEZE)
    if setting and root.flags & LSF_NO_FREEZE:
        raise Result("tecNO_PERMISSION", f"{account} gave up freezing (NoFreeze)")
    if setting and clearing:
        raise Result("tecNO_PERMISSION", "freezing and unfreezing in the same transaction")
    line = engine.open.line(account, peer, currency)
    frozen = bool(line and line.flag(account, LSF_LOW_FREEZE, LSF_HIGH_FREEZE))
    deep = bool(line and line.flag(account, LSF_LOW_DEEP_FREEZE, LSF_HIGH_DEEP_FREEZE))
    frozen = (frozen or bool(flags & TF_SET_FREEZE)) and not flags & TF_CLEAR_FREEZE
    deep = (deep or bool(flags & TF_SET_DEEP_FREEZE)) and not flags & TF_CLEAR_DEEP_FREEZE
    if deep and not frozen:
        raise Result("tecNO_PERMISSION", "a deep freeze needs the line to be frozen too")


@handler("TrustSet")
def trust_set(engine: Engine, tx: dict[str, Any], prior_balance: int) -> None:
    account = tx["Account"]
    limit = tx.get("LimitAmount")
    flags = int(tx.get("Flags", 0))
    # preflight (tem: not applied, no fee)
    if not isinstance(limit, dict) or "currency" not in limit:
        raise Result("temBAD_LIMIT", "LimitAmount must be a token amount")
    currency, peer = limit["currency"], limit["issuer"]
    value = parse_iou(limit["value"])
    if currency == "XRP":
        raise Result("temBAD_CURRENCY")
    if value < 0:
        raise Result("temBAD_LIMIT")
    # preclaim
    root = engine.open.accounts[account]
    if flags & TF_SETF_AUTH and not root.flags & LSF_REQUIRE_AUTH:
        raise Result("tefNO_AUTH_REQUIRED", "tfSetfAuth needs asfRequireAuth on the issuer")
    if peer == account:
        raise Result("temDST_IS_SRC")  # fixTrustLinesToSelf: checked in preclaim, still a tem
    if peer not in engine.open.accounts:
        raise Result("tecNO_DST", f"{peer} does not exist")
    _freeze_preclaim(engine, tx, account, peer, currency)
    # doApply
    owners = root.owner_count
    # Reserve for a new line or side, enforced only beyond two owned objects (SetTrust.cpp).
    reserve_create = 0 if owners < 2 else engine.fees.reserve(owners + 1)
    set_no_ripple = bool(flags & TF_SET_NO_RIPPLE) and not flags & TF_CLEAR_NO_RIPPLE
    clear_no_ripple = bool(flags & TF_CLEAR_NO_RIPPLE) and not flags & TF_SET_NO_RIPPLE
    line = engine.open.line(account, peer, currency)
    if line is None:
        if value == 0 and not flags & TF_SETF_AUTH:
            raise Result("tecNO_LINE_REDUNDANT")
        if prior_balance < reserve_create:
            raise Result("tecNO_LINE_INSUF_RESERVE", f"{account} holds {prior_balance} drops, needs {reserve_create}")
        _create_line(engine, account, peer, currency, value, flags, set_no_ripple)
        return
    if account == line.low:
        line.low_limit = value
    else:
        line.high_limit = value
    if set_no_ripple:
        if line.holding(account) < 0:
            raise Result("tecNO_PERMISSION", "NoRipple cannot be set on a negative balance")  # fix1578
        line.set_flag(account, LSF_LOW_NO_RIPPLE, LSF_HIGH_NO_RIPPLE, True)
    elif clear_no_ripple:
        line.set_flag(account, LSF_LOW_NO_RIPPLE, LSF_HIGH_NO_RIPPLE, False)
    if flags & TF_SET_FREEZE:
        line.set_flag(account, LSF_LOW_FREEZE, LSF_HIGH_FREEZE, True)
    elif flags & TF_CLEAR_FREEZE:
        line.set_flag(account, LSF_LOW_FREEZE, LSF_HIGH_FREEZE, False)
    if flags & TF_SET_DEEP_FREEZE:
        line.set_flag(account, LSF_LOW_DEEP_FREEZE, LSF_HIGH_DEEP_FREEZE, True)
    elif flags & TF_CLEAR_DEEP_FREEZE:
        line.set_flag(account, LSF_LOW_DEEP_FREEZE, LSF_HIGH_DEEP_FREEZE, False)
    if flags & TF_SETF_AUTH:
        line.set_flag(account, LSF_LOW_AUTH, LSF_HIGH_AUTH, True)  # no flag clears it
    reserve_increase = False
    default = True
    for side in (line.low, line.high):
        needs = side_needs_reserve(engine, line, side)
        default = default and not needs
        has = line.flag(side, LSF_LOW_RESERVE, LSF_HIGH_RESERVE)
        if needs and not has:
            engine.adjust_owner(side, +1)
            line.set_flag(side, LSF_LOW_RESERVE, LSF_HIGH_RESERVE, True)
            reserve_increase = reserve_increase or side == account
        elif has and not needs:
            engine.adjust_owner(side, -1)
            line.set_flag(side, LSF_LOW_RESERVE, LSF_HIGH_RESERVE, False)
    if default:
        delete_line(engine, line)  # both sides back to the default state: the line goes
    elif reserve_increase and prior_balance < reserve_create:
        raise Result("tecINSUF_RESERVE_LINE", f"{account} holds {prior_balance} drops, needs {reserve_create}")
    else:
        touch_line(engine, line)


def _create_line(
    engine: Engine, account: str, peer: str, currency: str, value: Decimal, flags: int, no_ripple: bool
) -> None:
    """View.cpp `trustCreate`: the creator's side always takes a reserve; NoRipple is set on the
    creator's side only on tfSetNoRipple, and on the peer's side unless the peer has DefaultRipple."""
    low, high = sorted((account, peer), key=account_id)
    line = TrustLine(low, high, currency)
    if account == low:
        line.low_limit = value
    else:
        line.high_limit = value
    line.set_flag(account, LSF_LOW_RESERVE, LSF_HIGH_RESERVE, True)
    if flags & TF_SETF_AUTH:
        line.set_flag(account, LSF_LOW_AUTH, LSF_HIGH_AUTH, True)
    if no_ripple:
        line.set_flag(account, LSF_LOW_NO_RIPPLE, LSF_HIGH_NO_RIPPLE, True)
    if flags & TF_SET_FREEZE and not flags & TF_CLEAR_FREEZE:
        line.set_flag(account, LSF_LOW_FREEZE, LSF_HIGH_FREEZE, True)
    if flags & TF_SET_DEEP_FREEZE:
        line.set_flag(account, LSF_LOW_DEEP_FREEZE, LSF_HIGH_DEEP_FREEZE, True)
    if not engine.open.accounts[peer].flags & LSF_DEFAULT_RIPPLE:
        line.set_flag(peer, LSF_LOW_NO_RIPPLE, LSF_HIGH_NO_RIPPLE, True)
    engine.open.lines[(low, high, currency)] = line
    engine.adjust_owner(account, +1)
    touch_line(engine, line, "CreatedNode")
