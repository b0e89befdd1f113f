"""Transaction rules of the ledger double, one handler per supported transaction type.

A handler runs after the fee and sequence are taken. It raises `Result("tec...")` to fail with
the fee claimed (the engine rolls back every other change), or `Result("tem..."/"tef...")` for a
malformed / impossible transaction (not applied). Each handler cites the xrpl.org page it follows.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.support.xrpl_double.engine import (
    ASF_DISABLE_MASTER,
    ASF_TO_LSF,
    LSF_ALLOW_TRUSTLINE_CLAWBACK,
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
    LSF_MPT_AUTHORIZED,
    LSF_MPT_CAN_CLAWBACK,
    LSF_MPT_CAN_LOCK,
    LSF_MPT_CAN_TRANSFER,
    LSF_MPT_LOCKED,
    LSF_MPT_REQUIRE_AUTH,
    LSF_NO_FREEZE,
    LSF_REQUIRE_AUTH,
    TF_CLEAR_DEEP_FREEZE,
    TF_CLEAR_FREEZE,
    TF_CLEAR_NO_RIPPLE,
    TF_MPT_LOCK,
    TF_MPT_UNAUTHORIZE,
    TF_MPT_UNLOCK,
    TF_SELL_NFTOKEN,
    TF_SET_DEEP_FREEZE,
    TF_SET_FREEZE,
    TF_SET_NO_RIPPLE,
    TF_SETF_AUTH,
    TF_TRANSFERABLE,
    AccountRoot,
    Engine,
    MPTIssuance,
    MPToken,
    NFTOffer,
    NFToken,
    Result,
    TrustLine,
    account_id,
    handler,
    iou_text,
    parse_iou,
    sha512half,
)

# ================================================================================================
# Payment — https://xrpl.org/docs/references/protocol/transactions/types/payment
# ================================================================================================


@handler("Payment")
def payment(engine: Engine, tx: dict[str, Any], prior_balance: int) -> dict[str, Any]:
    src = tx["Account"]
    dst = tx.get("Destination")
    if not dst:
        raise Result("temDST_NEEDED")
    amount = tx.get("Amount")
    if isinstance(amount, str):
        return _pay_xrp(engine, src, dst, amount, int(tx["Fee"]), prior_balance)
    if isinstance(amount, dict) and "mpt_issuance_id" in amount:
        return _pay_mpt(engine, src, dst, amount)
    if isinstance(amount, dict) and "currency" in amount:
        return _pay_iou(engine, src, dst, amount)
    raise Result("temBAD_AMOUNT", "unrecognised Amount")


def _pay_xrp(engine: Engine, src: str, dst: str, amount: str, fee: int, prior_balance: int) -> dict[str, Any]:
    """XRP payments; a payment of at least the base reserve to a new address creates the account
    (https://xrpl.org/docs/concepts/accounts/reserves, "Creating accounts")."""
    if not amount.isdigit() or int(amount) <= 0:
        raise Result("temBAD_AMOUNT", "XRP amount must be a positive number of drops")
    if src == dst:
        raise Result("temREDUNDANT", "payment to self")
    drops = int(amount)
    sender = engine.open.accounts[src]
    # The sender keeps its reserve: prior balance must cover amount + max(reserve, fee).
    if prior_balance < drops + max(engine.fees.reserve(sender.owner_count), fee):
        raise Result("tecUNFUNDED_PAYMENT", f"{src} cannot send {drops} drops and keep its reserve")
    receiver = engine.open.accounts.get(dst)
    if receiver is None:
        if drops < engine.fees.reserve_base:
            raise Result("tecNO_DST_INSUF_XRP", f"{drops} drops is below the base reserve {engine.fees.reserve_base}")
        receiver = AccountRoot(dst, 0, engine.current_index)
        engine.open.accounts[dst] = receiver
    sender.balance -= drops
    receiver.balance += drops
    engine._touch_account(sender)
    engine._touch_account(receiver)
    return {"delivered_amount": amount}


def _line_or_dry(engine: Engine, holder: str, issuer: str, currency: str) -> TrustLine:
    line = engine.open.line(holder, issuer, currency)
    if line is None:
        # rippled's payment engine finds no path: tecPATH_DRY (not tecNO_LINE, which belongs to
        # operations on a named line such as Clawback).
        raise Result("tecPATH_DRY", f"no {currency} trust line between {holder} and {issuer}")
    return line


def _check_receive(engine: Engine, line: TrustLine, holder: str, issuer: str, value: Decimal) -> None:
    """The holder may receive: authorised if the issuer requires auth
    (https://xrpl.org/docs/concepts/tokens/fungible-tokens/authorized-trust-lines), not deep-frozen
    (https://xrpl.org/docs/concepts/tokens/fungible-tokens/deep-freeze), within its limit."""
    issuer_root = engine.open.accounts[issuer]
    if issuer_root.flags & LSF_REQUIRE_AUTH and not line.flag(issuer, LSF_LOW_AUTH, LSF_HIGH_AUTH):
        raise Result("tecPATH_DRY", f"{issuer} has not authorised {holder}'s trust line (RequireAuth)")
    if line.flag(issuer, LSF_LOW_DEEP_FREEZE, LSF_HIGH_DEEP_FREEZE):
        raise Result("tecPATH_DRY", f"{holder}'s trust line is deep-frozen")
    headroom = line.limit(holder) - line.holding(holder)
    if headroom <= 0:
        raise Result("tecPATH_DRY", f"{holder}'s trust line limit is reached")
    if headroom < value:
        raise Result("tecPATH_PARTIAL", f"{holder}'s trust line limit allows only {iou_text(headroom)}")


def _check_send(line: TrustLine, holder: str, issuer: str, value: Decimal, to_issuer: bool) -> None:
    """A holder of a frozen line may only send to the issuer
    (https://xrpl.org/docs/concepts/tokens/fungible-tokens/freezes, "Individual Freeze")."""
    if not to_issuer and line.flag(issuer, LSF_LOW_FREEZE, LSF_HIGH_FREEZE):
        raise Result("tecPATH_DRY", f"{holder}'s trust line is frozen by {issuer}")
    held = line.holding(holder)
    if held <= 0:
        raise Result("tecPATH_DRY", f"{holder} holds no {line.currency}")
    if held < value:
        raise Result("tecPATH_PARTIAL", f"{holder} holds only {iou_text(held)} {line.currency}")


def _pay_iou(engine: Engine, src: str, dst: str, amount: dict[str, Any]) -> dict[str, Any]:
    """Direct issued-currency payments: issuing, redeeming, and rippling through the issuer
    (https://xrpl.org/docs/concepts/tokens/fungible-tokens/rippling)."""
    currency = amount["currency"]
    issuer = amount["issuer"]
    value = parse_iou(amount["value"])
    if currency == "XRP":
        raise Result("temBAD_CURRENCY")
    if value <= 0:
        raise Result("temBAD_AMOUNT", "amount must be positive")
    if src == dst:
        raise Result("temREDUNDANT", "payment to self")
    engine.account(dst)
    if issuer not in engine.open.accounts:
        raise Result("tecNO_DST", f"issuer {issuer} does not exist")
    if src == issuer:
        line = _line_or_dry(engine, dst, src, currency)
        _check_receive(engine, line, dst, src, value)
        line.credit(dst, value)
        touched = [line]
    elif dst == issuer:
        line = _line_or_dry(engine, src, dst, currency)
        _check_send(line, src, dst, value, to_issuer=True)
        line.credit(src, -value)
        touched = [line]
    else:
        out_line = _line_or_dry(engine, src, issuer, currency)
        in_line = _line_or_dry(engine, dst, issuer, currency)
        if engine.open.accounts[issuer].flags & LSF_GLOBAL_FREEZE:
            raise Result("tecPATH_DRY", f"{issuer} has frozen all its tokens (global freeze)")
        if out_line.flag(issuer, LSF_LOW_NO_RIPPLE, LSF_HIGH_NO_RIPPLE) or in_line.flag(
            issuer, LSF_LOW_NO_RIPPLE, LSF_HIGH_NO_RIPPLE
        ):
            raise Result("tecPATH_DRY", f"{issuer} does not allow rippling (NoRipple / DefaultRipple unset)")
        _check_send(out_line, src, issuer, value, to_issuer=False)
        _check_receive(engine, in_line, dst, issuer, value)
        out_line.credit(src, -value)
        in_line.credit(dst, value)
        touched = [out_line, in_line]
    for line in touched:
        _update_reserve_flags(engine, line)
        engine._touched[line.index()] = {
            "LedgerEntryType": "RippleState",
            "LedgerIndex": line.index(),
            "FinalFields": line.to_json(),
        }
    return {"delivered_amount": dict(amount)}


def _mpt_locked(engine: Engine, issuance: MPTIssuance, holder: str) -> bool:
    token = engine.open.mptokens.get((issuance.id, holder))
    return bool(issuance.flags & LSF_MPT_LOCKED) or bool(token and token.flags & LSF_MPT_LOCKED)


def _mpt_authorised_holder(engine: Engine, issuance: MPTIssuance, holder: str) -> MPToken:
    token = engine.open.mptokens.get((issuance.id, holder))
    if token is None:
        raise Result("tecNO_AUTH", f"{holder} holds no MPToken for {issuance.id} (MPTokenAuthorize first)")
    if issuance.flags & LSF_MPT_REQUIRE_AUTH and not token.flags & LSF_MPT_AUTHORIZED:
        raise Result("tecNO_AUTH", f"the issuer has not authorised {holder} for {issuance.id}")
    return token


def _pay_mpt(engine: Engine, src: str, dst: str, amount: dict[str, Any]) -> dict[str, Any]:
    """MPT payments (https://xrpl.org/docs/concepts/tokens/fungible-tokens/multi-purpose-tokens):
    holders must hold an MPToken, be authorised under RequireAuth, not be locked, and transfers
    between two holders need CanTransfer."""
    mpt_id = amount["mpt_issuance_id"]
    try:
        value = int(amount["value"])
    except (TypeError, ValueError) as exc:
        raise Result("temBAD_AMOUNT", "MPT amounts are integers") from exc
    if value <= 0:
        raise Result("temBAD_AMOUNT", "amount must be positive")
    if src == dst:
        raise Result("temREDUNDANT", "payment to self")
    engine.account(dst)
    issuance = engine.open.issuances.get(mpt_id)
    if issuance is None:
        raise Result("tecOBJECT_NOT_FOUND", f"no MPT issuance {mpt_id}")
    issuer = issuance.issuer
    if src == issuer:
        token = _mpt_authorised_holder(engine, issuance, dst)
        if _mpt_locked(engine, issuance, dst):
            raise Result("tecLOCKED", f"{dst}'s {mpt_id} balance is locked")
        if issuance.maximum is not None and issuance.outstanding + value > issuance.maximum:
            raise Result("tecPATH_PARTIAL", "payment would exceed the issuance's MaximumAmount")
        token.amount += value
        issuance.outstanding += value
        touched = [token]
    elif dst == issuer:
        token = _mpt_authorised_holder(engine, issuance, src)
        if _mpt_locked(engine, issuance, src):
            raise Result("tecLOCKED", f"{src}'s {mpt_id} balance is locked")
        if token.amount < value:
            raise Result("tecPATH_PARTIAL" if token.amount else "tecPATH_DRY", f"{src} holds {token.amount}")
        token.amount -= value
        issuance.outstanding -= value  # units returned to the issuer are burned
        touched = [token]
    else:
        if not issuance.flags & LSF_MPT_CAN_TRANSFER:
            raise Result("tecNO_AUTH", f"{mpt_id} cannot be transferred between holders (no CanTransfer)")
        out_token = _mpt_authorised_holder(engine, issuance, src)
        in_token = _mpt_authorised_holder(engine, issuance, dst)
        if _mpt_locked(engine, issuance, src) or _mpt_locked(engine, issuance, dst):
            raise Result("tecLOCKED", "a party's balance is locked")
        if out_token.amount < value:
            raise Result("tecPATH_PARTIAL" if out_token.amount else "tecPATH_DRY", f"{src} holds {out_token.amount}")
        out_token.amount -= value
        in_token.amount += value
        touched = [out_token, in_token]
    for token in touched:
        node = token.to_json()
        engine._touched[node["index"]] = {
            "LedgerEntryType": "MPToken",
            "LedgerIndex": node["index"],
            "FinalFields": node,
        }
    return {"delivered_amount": dict(amount)}


# ================================================================================================
# Trust lines — https://xrpl.org/docs/references/protocol/transactions/types/trustset
# ================================================================================================


def _side_is_default(line: TrustLine, account: str) -> bool:
    """A side that has a limit, a positive balance, or its own freeze costs its owner a reserve
    (https://xrpl.org/docs/concepts/tokens/fungible-tokens/trust-line-tokens, reserves)."""
    return (
        line.limit(account) == 0
        and line.holding(account) <= 0
        and not line.flag(account, LSF_LOW_FREEZE, LSF_HIGH_FREEZE)
        and not line.flag(account, LSF_LOW_DEEP_FREEZE, LSF_HIGH_DEEP_FREEZE)
    )


def _update_reserve_flags(engine: Engine, line: TrustLine) -> None:
    for account in (line.low, line.high):
        has_flag = line.flag(account, LSF_LOW_RESERVE, LSF_HIGH_RESERVE)
        needs = not _side_is_default(line, account)
        if needs and not has_flag:
            line.set_flag(account, LSF_LOW_RESERVE, LSF_HIGH_RESERVE, True)
            engine.adjust_owner(account, +1)
        elif has_flag and not needs:
            line.set_flag(account, LSF_LOW_RESERVE, LSF_HIGH_RESERVE, False)
            engine.adjust_owner(account, -1)


@handler("TrustSet")
def trust_set(engine: Engine, tx: dict[str, Any], prior_balance: int) -> None:
    account = tx["Account"]
    limit = tx.get("LimitAmount")
    flags = int(tx.get("Flags", 0))
    if not isinstance(limit, dict) or "currency" not in limit:
        raise Result("temBAD_LIMIT", "LimitAmount must be a token amount")
    currency, peer = limit["currency"], limit["issuer"]
    value = parse_iou(limit["value"])
    if currency == "XRP":
        raise Result("temBAD_CURRENCY")
    if value < 0:
        raise Result("temBAD_LIMIT")
    if peer == account:
        raise Result("temDST_IS_SRC")
    if (flags & TF_SET_FREEZE and flags & TF_CLEAR_FREEZE) or (flags & TF_SET_NO_RIPPLE and flags & TF_CLEAR_NO_RIPPLE):
        raise Result("temINVALID_FLAG")
    root = engine.open.accounts[account]
    if flags & TF_SETF_AUTH and not root.flags & LSF_REQUIRE_AUTH:
        raise Result("tefNO_AUTH_REQUIRED", "tfSetfAuth needs asfRequireAuth on the issuer")
    engine.account(peer)
    if flags & (TF_SET_FREEZE | TF_SET_DEEP_FREEZE) and root.flags & LSF_NO_FREEZE:
        raise Result("tecNO_PERMISSION", f"{account} gave up freezing (NoFreeze)")
    line = engine.open.line(account, peer, currency)
    created = line is None
    if line is None:
        if value == 0 and not flags & (TF_SETF_AUTH | TF_SET_FREEZE | TF_SET_DEEP_FREEZE):
            raise Result("tecNO_LINE_REDUNDANT")
        low, high = sorted((account, peer), key=account_id)
        line = TrustLine(low, high, currency)
        # Each side starts with NoRipple unless its account has DefaultRipple.
        for side in (low, high):
            if not engine.open.accounts[side].flags & LSF_DEFAULT_RIPPLE:
                line.set_flag(side, LSF_LOW_NO_RIPPLE, LSF_HIGH_NO_RIPPLE, True)
    # Apply the changes to this account's side.
    if account == line.low:
        line.low_limit = value
    else:
        line.high_limit = value
    if flags & TF_SETF_AUTH:
        line.set_flag(account, LSF_LOW_AUTH, LSF_HIGH_AUTH, True)  # never revocable
    if flags & TF_SET_NO_RIPPLE:
        line.set_flag(account, LSF_LOW_NO_RIPPLE, LSF_HIGH_NO_RIPPLE, True)
    if flags & TF_CLEAR_NO_RIPPLE:
        line.set_flag(account, LSF_LOW_NO_RIPPLE, LSF_HIGH_NO_RIPPLE, False)
    if flags & TF_SET_FREEZE:
        line.set_flag(account, LSF_LOW_FREEZE, LSF_HIGH_FREEZE, True)
    if flags & TF_CLEAR_FREEZE:
        line.set_flag(account, LSF_LOW_FREEZE, LSF_HIGH_FREEZE, False)
        line.set_flag(account, LSF_LOW_DEEP_FREEZE, LSF_HIGH_DEEP_FREEZE, False)
    if flags & TF_SET_DEEP_FREEZE:
        if not line.flag(account, LSF_LOW_FREEZE, LSF_HIGH_FREEZE):
            raise Result("tecNO_PERMISSION", "a deep freeze needs the line to be frozen too")
        line.set_flag(account, LSF_LOW_DEEP_FREEZE, LSF_HIGH_DEEP_FREEZE, True)
    if flags & TF_CLEAR_DEEP_FREEZE:
        line.set_flag(account, LSF_LOW_DEEP_FREEZE, LSF_HIGH_DEEP_FREEZE, False)
    # Reserve: the first two objects of an account are free for trust lines (rippled SetTrust).
    if not _side_is_default(line, account) and not line.flag(account, LSF_LOW_RESERVE, LSF_HIGH_RESERVE):
        owners = root.owner_count
        needed = 0 if owners < 2 else engine.fees.reserve(owners + 1)
        if prior_balance < needed:
            raise Result(
                "tecNO_LINE_INSUF_RESERVE" if created else "tecINSUF_RESERVE_LINE",
                f"{account} holds {prior_balance} drops, needs {needed}",
            )
    engine.open.lines[(line.low, line.high, currency)] = line
    _update_reserve_flags(engine, line)
    engine._touched[line.index()] = {
        "LedgerEntryType": "RippleState",
        "LedgerIndex": line.index(),
        "FinalFields": line.to_json(),
    }


# ================================================================================================
# AccountSet — https://xrpl.org/docs/references/protocol/transactions/types/accountset
# ================================================================================================


@handler("AccountSet")
def account_set(engine: Engine, tx: dict[str, Any], prior_balance: int) -> None:
    root = engine.open.accounts[tx["Account"]]
    set_flag, clear_flag = tx.get("SetFlag"), tx.get("ClearFlag")
    if set_flag is not None and set_flag == clear_flag:
        raise Result("temINVALID_FLAG", "SetFlag and ClearFlag name the same flag")
    if set_flag == ASF_DISABLE_MASTER:
        raise Result("tecNO_ALTERNATIVE_KEY", "no regular key or signer list to replace the master key")
    if set_flag is not None:
        lsf = ASF_TO_LSF[set_flag]
        if lsf == LSF_REQUIRE_AUTH and engine.owns_anything(root.account):
            # https://xrpl.org/docs/concepts/tokens/fungible-tokens/authorized-trust-lines
            raise Result("tecOWNERS", "RequireAuth can only be enabled before any trust line exists")
        if lsf == LSF_ALLOW_TRUSTLINE_CLAWBACK:
            # https://xrpl.org/docs/concepts/tokens/fungible-tokens/clawing-back-tokens
            if root.flags & LSF_NO_FREEZE:
                raise Result("tecNO_PERMISSION", "clawback cannot be enabled with NoFreeze set")
            if engine.owns_anything(root.account):
                raise Result("tecOWNERS", "clawback can only be enabled with an empty owner directory")
        if lsf == LSF_NO_FREEZE and root.flags & LSF_ALLOW_TRUSTLINE_CLAWBACK:
            raise Result("tecNO_PERMISSION", "NoFreeze cannot be set with clawback enabled")
        root.flags |= lsf
    if clear_flag is not None:
        lsf = ASF_TO_LSF[clear_flag]
        if lsf in (LSF_ALLOW_TRUSTLINE_CLAWBACK, LSF_NO_FREEZE):
            raise Result("tecNO_PERMISSION", "this flag cannot be cleared once set")
        root.flags &= ~lsf
    engine._touch_account(root)


# ================================================================================================
# Clawback — https://xrpl.org/docs/references/protocol/transactions/types/clawback
# ================================================================================================


@handler("Clawback")
def clawback(engine: Engine, tx: dict[str, Any], prior_balance: int) -> None:
    issuer = tx["Account"]
    amount = tx.get("Amount")
    if not isinstance(amount, dict):
        raise Result("temBAD_AMOUNT", "XRP cannot be clawed back")
    if "mpt_issuance_id" in amount:
        holder = tx.get("Holder")
        if not holder or holder == issuer:
            raise Result("temMALFORMED", "MPT clawback needs a Holder other than the issuer")
        value = int(amount["value"])
        if value <= 0:
            raise Result("temBAD_AMOUNT")
        issuance = engine.open.issuances.get(amount["mpt_issuance_id"])
        if issuance is None:
            raise Result("tecOBJECT_NOT_FOUND")
        if issuance.issuer != issuer or not issuance.flags & LSF_MPT_CAN_CLAWBACK:
            raise Result("tecNO_PERMISSION", "the issuance does not allow clawback by this account")
        token = engine.open.mptokens.get((issuance.id, holder))
        if token is None:
            raise Result("tecOBJECT_NOT_FOUND", f"{holder} holds no MPToken")
        if token.amount == 0:
            raise Result("tecINSUFFICIENT_FUNDS", f"{holder} holds nothing to claw back")
        taken = min(value, token.amount)
        token.amount -= taken
        issuance.outstanding -= taken
        return
    if tx.get("Holder"):
        raise Result("temMALFORMED", "Holder is only for MPT clawback")
    holder = amount["issuer"]  # for trust-line tokens, Amount.issuer names the holder
    value = parse_iou(amount["value"])
    if value <= 0 or holder == issuer:
        raise Result("temBAD_AMOUNT")
    if not engine.open.accounts[issuer].flags & LSF_ALLOW_TRUSTLINE_CLAWBACK:
        raise Result("tecNO_PERMISSION", f"{issuer} has not enabled asfAllowTrustLineClawback")
    line = engine.open.line(holder, issuer, amount["currency"])
    if line is None:
        raise Result("tecNO_LINE", f"no {amount['currency']} trust line between {holder} and {issuer}")
    held = line.holding(holder)
    if held <= 0:
        raise Result("tecINSUFFICIENT_FUNDS", f"{holder} holds nothing to claw back")
    line.credit(holder, -min(value, held))
    _update_reserve_flags(engine, line)


# ================================================================================================
# MPT — https://xrpl.org/docs/references/protocol/transactions/types/mptokenissuancecreate etc.
# ================================================================================================


@handler("MPTokenIssuanceCreate")
def mpt_issuance_create(engine: Engine, tx: dict[str, Any], prior_balance: int) -> dict[str, Any]:
    flags = int(tx.get("Flags", 0)) & 0x7F
    maximum = tx.get("MaximumAmount")
    if maximum is not None and (not str(maximum).isdigit() or int(maximum) <= 0):
        raise Result("temMALFORMED", "MaximumAmount must be a positive integer")
    fee = int(tx.get("TransferFee", 0))
    if fee and not flags & LSF_MPT_CAN_TRANSFER:
        raise Result("temMALFORMED", "TransferFee needs tfMPTCanTransfer")
    if fee > 50_000:
        raise Result("temMALFORMED", "TransferFee above 50000")
    metadata = tx.get("MPTokenMetadata")
    if metadata is not None and not 1 <= len(metadata) // 2 <= 1024:
        raise Result("temMALFORMED", "MPTokenMetadata must be 1 to 1024 bytes")
    root = engine.open.accounts[tx["Account"]]
    engine.require_reserve(root, prior_balance)
    issuance = MPTIssuance(
        issuer=root.account,
        sequence=int(tx["Sequence"]),
        flags=flags,
        maximum=int(maximum) if maximum is not None else None,
        asset_scale=int(tx.get("AssetScale", 0)),
        transfer_fee=fee,
        metadata=metadata,
    )
    engine.open.issuances[issuance.id] = issuance
    engine.adjust_owner(root.account, +1)
    return {"mpt_issuance_id": issuance.id}


@handler("MPTokenIssuanceDestroy")
def mpt_issuance_destroy(engine: Engine, tx: dict[str, Any], prior_balance: int) -> None:
    issuance = engine.open.issuances.get(tx.get("MPTokenIssuanceID", ""))
    if issuance is None:
        raise Result("tecOBJECT_NOT_FOUND")
    if issuance.issuer != tx["Account"]:
        raise Result("tecNO_PERMISSION")
    if issuance.outstanding or any(k[0] == issuance.id for k in engine.open.mptokens):
        raise Result("tecHAS_OBLIGATIONS", "holders still have MPToken entries")
    del engine.open.issuances[issuance.id]
    engine.adjust_owner(issuance.issuer, -1)


@handler("MPTokenIssuanceSet")
def mpt_issuance_set(engine: Engine, tx: dict[str, Any], prior_balance: int) -> None:
    """Lock / unlock all balances or one holder's (https://xrpl.org/docs/references/protocol/
    transactions/types/mptokenissuanceset)."""
    flags = int(tx.get("Flags", 0))
    lock, unlock = bool(flags & TF_MPT_LOCK), bool(flags & TF_MPT_UNLOCK)
    if lock and unlock:
        raise Result("temINVALID_FLAG")
    if not lock and not unlock:
        raise Result("temMALFORMED", "nothing to change")
    holder = tx.get("Holder")
    if holder == tx["Account"]:
        raise Result("temMALFORMED")
    issuance = engine.open.issuances.get(tx.get("MPTokenIssuanceID", ""))
    if issuance is None:
        raise Result("tecOBJECT_NOT_FOUND")
    if issuance.issuer != tx["Account"]:
        raise Result("tecNO_PERMISSION")
    if not issuance.flags & LSF_MPT_CAN_LOCK:
        raise Result("tecNO_PERMISSION", "the issuance was created without tfMPTCanLock")
    if holder:
        token = engine.open.mptokens.get((issuance.id, holder))
        if token is None:
            raise Result("tecOBJECT_NOT_FOUND", f"{holder} holds no MPToken")
        token.flags = (token.flags | LSF_MPT_LOCKED) if lock else (token.flags & ~LSF_MPT_LOCKED)
    else:
        issuance.flags = (issuance.flags | LSF_MPT_LOCKED) if lock else (issuance.flags & ~LSF_MPT_LOCKED)


@handler("MPTokenAuthorize")
def mpt_authorize(engine: Engine, tx: dict[str, Any], prior_balance: int) -> None:
    """Holder opt-in / opt-out, and issuer (de)authorisation under RequireAuth
    (https://xrpl.org/docs/references/protocol/transactions/types/mptokenauthorize)."""
    account = tx["Account"]
    flags = int(tx.get("Flags", 0))
    holder = tx.get("Holder")
    issuance = engine.open.issuances.get(tx.get("MPTokenIssuanceID", ""))
    if holder == account:
        raise Result("temMALFORMED")
    if issuance is None:
        raise Result("tecOBJECT_NOT_FOUND", "no such MPT issuance")
    if holder is None:
        if account == issuance.issuer:
            raise Result("tecNO_PERMISSION", "the issuer cannot hold its own MPT")
        key = (issuance.id, account)
        token = engine.open.mptokens.get(key)
        if flags & TF_MPT_UNAUTHORIZE:
            if token is None:
                raise Result("tecOBJECT_NOT_FOUND")
            if token.amount:
                raise Result("tecHAS_OBLIGATIONS", "cannot delete an MPToken with a balance")
            del engine.open.mptokens[key]
            engine.adjust_owner(account, -1)
            return
        if token is not None:
            raise Result("tecDUPLICATE", "MPToken already exists")
        root = engine.open.accounts[account]
        needed = 0 if root.owner_count < 2 else engine.fees.reserve(root.owner_count + 1)
        if prior_balance < needed:
            raise Result("tecINSUFFICIENT_RESERVE", f"{account} holds {prior_balance} drops, needs {needed}")
        engine.open.mptokens[key] = MPToken(account, issuance.id)
        engine.adjust_owner(account, +1)
        return
    if account != issuance.issuer:
        raise Result("tecNO_PERMISSION", "only the issuer authorises holders")
    if not issuance.flags & LSF_MPT_REQUIRE_AUTH:
        raise Result("tecNO_AUTH", "the issuance does not require authorisation")
    engine.account(holder)
    token = engine.open.mptokens.get((issuance.id, holder))
    if token is None:
        raise Result("tecOBJECT_NOT_FOUND", f"{holder} has not opted in (no MPToken)")
    if flags & TF_MPT_UNAUTHORIZE:
        token.flags &= ~LSF_MPT_AUTHORIZED
    else:
        token.flags |= LSF_MPT_AUTHORIZED


# ================================================================================================
# NFTs — https://xrpl.org/docs/concepts/tokens/nfts and the NFToken* transaction pages
# ================================================================================================


def _nft_id(flags: int, fee: int, issuer: str, taxon: int, serial: int) -> str:
    """NFTokenID layout and taxon scrambling (https://xrpl.org/docs/references/protocol/
    data-types/nftoken)."""
    scrambled = taxon ^ ((384160001 * serial + 2459) % 2**32)
    raw = (
        flags.to_bytes(2, "big")
        + fee.to_bytes(2, "big")
        + account_id(issuer)
        + scrambled.to_bytes(4, "big")
        + serial.to_bytes(4, "big")
    )
    return raw.hex().upper()


def _gain_nft(engine: Engine, account: str, prior_balance: int) -> None:
    """Adding an NFT may need a new NFTokenPage, one owner reserve per 32 NFTs."""
    count = len(engine.open.nfts_of(account))
    if engine.nft_pages(account, count + 1) > engine.nft_pages(account, count):
        engine.require_reserve(engine.open.accounts[account], prior_balance)
        engine.adjust_owner(account, +1)


def _lose_nft(engine: Engine, account: str) -> None:
    count = len(engine.open.nfts_of(account))  # after removal
    if engine.nft_pages(account, count) < engine.nft_pages(account, count + 1):
        engine.adjust_owner(account, -1)


@handler("NFTokenMint")
def nftoken_mint(engine: Engine, tx: dict[str, Any], prior_balance: int) -> dict[str, Any]:
    flags = int(tx.get("Flags", 0)) & 0xFFFF
    if "NFTokenTaxon" not in tx:
        raise Result("temMALFORMED", "NFTokenTaxon is required")
    fee = int(tx.get("TransferFee", 0))
    if fee and not flags & TF_TRANSFERABLE:
        raise Result("temMALFORMED", "TransferFee needs tfTransferable")
    if fee > 50_000:
        raise Result("temBAD_NFTOKEN_TRANSFER_FEE")
    uri = tx.get("URI")
    if uri is not None and not 1 <= len(uri) // 2 <= 256:
        raise Result("temMALFORMED", "URI must be 1 to 256 bytes")
    root = engine.open.accounts[tx["Account"]]
    serial = root.minted_nftokens
    nft = NFToken(
        id=_nft_id(flags, fee, root.account, int(tx["NFTokenTaxon"]), serial),
        owner=root.account,
        issuer=root.account,
        flags=flags,
        taxon=int(tx["NFTokenTaxon"]),
        serial=serial,
        uri=uri,
    )
    _gain_nft(engine, root.account, prior_balance)
    engine.open.nfts[nft.id] = nft
    root.minted_nftokens += 1
    return {"nftoken_id": nft.id}


def _drop_offers_for(engine: Engine, nft_id: str) -> None:
    for index, offer in list(engine.open.nft_offers.items()):
        if offer.nftoken_id == nft_id:
            del engine.open.nft_offers[index]
            engine.adjust_owner(offer.owner, -1)


@handler("NFTokenBurn")
def nftoken_burn(engine: Engine, tx: dict[str, Any], prior_balance: int) -> None:
    """The owner burns, or the issuer if the NFT was minted with tfBurnable
    (https://xrpl.org/docs/references/protocol/transactions/types/nftokenburn)."""
    account = tx["Account"]
    owner = tx.get("Owner", account)
    nft = engine.open.nfts.get(tx.get("NFTokenID", ""))
    if nft is None or nft.owner != owner:
        raise Result("tecNO_ENTRY", "no such NFToken held by that owner")
    if account != owner and not (account == nft.issuer and nft.flags & 0x0001):
        raise Result("tecNO_PERMISSION", "only the owner, or the issuer of a burnable NFToken, may burn it")
    del engine.open.nfts[nft.id]
    _lose_nft(engine, owner)
    engine.open.accounts[nft.issuer].burned_nftokens += 1
    _drop_offers_for(engine, nft.id)


def _transferable_between(nft: NFToken, a: str, b: str | None) -> bool:
    """A non-transferable NFToken may only move to or from its issuer."""
    return bool(nft.flags & TF_TRANSFERABLE) or nft.issuer in (a, b)


@handler("NFTokenCreateOffer")
def nftoken_create_offer(engine: Engine, tx: dict[str, Any], prior_balance: int) -> dict[str, Any]:
    """(https://xrpl.org/docs/references/protocol/transactions/types/nftokencreateoffer)."""
    account = tx["Account"]
    sell = bool(int(tx.get("Flags", 0)) & TF_SELL_NFTOKEN)
    amount = tx.get("Amount")
    if not isinstance(amount, str) or not amount.isdigit():
        raise Result("temBAD_AMOUNT", "the double supports XRP-priced NFT offers only")
    if not sell and int(amount) == 0:
        raise Result("temBAD_AMOUNT", "a buy offer needs a price")
    owner_field = tx.get("Owner")
    if sell and owner_field:
        raise Result("temMALFORMED", "a sell offer has no Owner")
    if not sell and (not owner_field or owner_field == account):
        raise Result("temMALFORMED", "a buy offer names another Owner")
    destination = tx.get("Destination")
    if destination == account:
        raise Result("temMALFORMED", "Destination may not be the offer's account")
    nft = engine.open.nfts.get(tx.get("NFTokenID", ""))
    holder = account if sell else owner_field
    if nft is None or nft.owner != holder:
        raise Result("tecNO_ENTRY", "no such NFToken held by the expected owner")
    counterparty = destination if sell else owner_field
    if not _transferable_between(nft, account, counterparty):
        raise Result("tefNFTOKEN_IS_NOT_TRANSFERABLE", "a non-transferable NFToken can only go to or from its issuer")
    if destination:
        engine.account(destination)
    root = engine.open.accounts[account]
    engine.require_reserve(root, prior_balance)
    index = sha512half(b"\x00q" + account_id(account) + int(tx["Sequence"]).to_bytes(4, "big")).hex().upper()
    engine.open.nft_offers[index] = NFTOffer(index, account, nft.id, amount, 1 if sell else 0, destination)
    engine.adjust_owner(account, +1)
    return {"offer_id": index}


@handler("NFTokenAcceptOffer")
def nftoken_accept_offer(engine: Engine, tx: dict[str, Any], prior_balance: int) -> dict[str, Any]:
    """Direct mode, sell offers only (https://xrpl.org/docs/references/protocol/transactions/
    types/nftokenacceptoffer)."""
    account = tx["Account"]
    if tx.get("NFTokenBuyOffer") or tx.get("NFTokenBrokerFee"):
        raise Result("temMALFORMED", "the double accepts sell offers only (no buy/brokered mode)")
    offer = engine.open.nft_offers.get(tx.get("NFTokenSellOffer", ""))
    if offer is None:
        raise Result("tecOBJECT_NOT_FOUND", "no such offer")
    if offer.owner == account:
        raise Result("tecCANT_ACCEPT_OWN_NFTOKEN_OFFER")
    if offer.destination and offer.destination != account:
        raise Result("tecNO_PERMISSION", "the offer is reserved for another account")
    nft = engine.open.nfts.get(offer.nftoken_id)
    if nft is None or nft.owner != offer.owner:
        raise Result("tecNO_ENTRY", "the seller no longer holds the NFToken")
    if not _transferable_between(nft, offer.owner, account):
        raise Result("tefNFTOKEN_IS_NOT_TRANSFERABLE")
    price = int(offer.amount)
    buyer = engine.open.accounts[account]
    if prior_balance - int(tx["Fee"]) - price < engine.fees.reserve(buyer.owner_count):
        raise Result("tecINSUFFICIENT_FUNDS", "the buyer cannot pay the price and keep its reserve")
    _gain_nft(engine, account, prior_balance)
    seller = engine.open.accounts[offer.owner]
    buyer.balance -= price
    seller.balance += price
    nft.owner = account
    _lose_nft(engine, offer.owner)
    _drop_offers_for(engine, nft.id)
    return {"nftoken_id": nft.id}


@handler("NFTokenCancelOffer")
def nftoken_cancel_offer(engine: Engine, tx: dict[str, Any], prior_balance: int) -> None:
    for index in tx.get("NFTokenOffers", []):
        offer = engine.open.nft_offers.get(index)
        if offer is None:
            continue
        if tx["Account"] not in (offer.owner, offer.destination):
            raise Result("tecNO_PERMISSION", "only the offer's owner or destination may cancel it")
        del engine.open.nft_offers[index]
        engine.adjust_owner(offer.owner, -1)


__all__ = ["LSF_MPT_AUTHORIZED"]


@handler("Batch")
def batch(engine: Engine, tx: dict[str, Any], prior_balance: int) -> None:
    """XLS-56 Batch in all-or-nothing mode (https://xrpl.org/docs/concepts/transactions/
    batch-transactions); only reachable when the double is started with the Batch amendment."""
    engine.apply_batch(tx)
