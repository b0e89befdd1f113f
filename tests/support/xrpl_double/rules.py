"""Transaction rules of the ledger double: Payment (XRP and MPT; issued currencies in
trustlines.py), AccountSet, Clawback, the MPT transactions and Batch (NFTs in nfts.py).

A handler runs after the fee and sequence are taken. It raises `Result("tec...")` to fail with
the fee claimed (the engine rolls back every other change), or `Result("tem..."/"tef...")` for a
malformed / impossible transaction (not applied). Each handler cites the rippled source (XRPLF/rippled)
or the xrpl.org page it follows.
"""

from __future__ import annotations

from typing import Any

from tests.support.xrpl_double.engine import (
    ASF_DISABLE_MASTER,
    ASF_TO_LSF,
    LSF_ALLOW_TRUSTLINE_CLAWBACK,
    LSF_DISABLE_MASTER,
    LSF_MPT_AUTHORIZED,
    LSF_MPT_CAN_CLAWBACK,
    LSF_MPT_CAN_LOCK,
    LSF_MPT_CAN_TRANSFER,
    LSF_MPT_LOCKED,
    LSF_MPT_REQUIRE_AUTH,
    LSF_NO_FREEZE,
    LSF_REQUIRE_AUTH,
    MAX_MPT_AMOUNT,
    TF_MPT_LOCK,
    TF_MPT_UNAUTHORIZE,
    TF_MPT_UNLOCK,
    AccountRoot,
    Engine,
    MPTIssuance,
    MPToken,
    Result,
    handler,
    parse_iou,
)
from tests.support.xrpl_double.multisign import has_signer_list, signed_with_master
from tests.support.xrpl_double.trustlines import pay_iou, ripple_credit

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
        return pay_iou(engine, src, dst, amount)
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


def _mpt_require_auth(engine: Engine, issuance: MPTIssuance, account: str) -> MPToken | None:
    """rippled View.cpp `requireAuth` (MPT): the issuer is always authorised; anyone else needs an
    MPToken, and under lsfMPTRequireAuth one the issuer authorised (tecNO_AUTH otherwise)."""
    if account == issuance.issuer:
        return None
    token = engine.open.mptokens.get((issuance.id, account))
    if token is None:
        raise Result("tecNO_AUTH", f"{account} holds no MPToken for {issuance.id} (MPTokenAuthorize first)")
    if issuance.flags & LSF_MPT_REQUIRE_AUTH and not token.flags & LSF_MPT_AUTHORIZED:
        raise Result("tecNO_AUTH", f"the issuer has not authorised {account} for {issuance.id}")
    return token


def _mpt_locked(engine: Engine, issuance: MPTIssuance, holder: str) -> bool:
    """rippled View.cpp `isFrozen` (MPT): a global lock on the issuance or the holder's own lock."""
    token = engine.open.mptokens.get((issuance.id, holder))
    return bool(issuance.flags & LSF_MPT_LOCKED) or bool(token and token.flags & LSF_MPT_LOCKED)


def _pay_mpt(engine: Engine, src: str, dst: str, amount: dict[str, Any]) -> dict[str, Any]:
    """The MPT branch of rippled's Payment transactor (Payment.cpp `doApply`, `mptDirect`), in its
    order: requireAuth for the sender, then the receiver (View.cpp; the issuer is exempt); canTransfer
    (no lsfMPTCanTransfer: one party must be the issuer, tecNO_AUTH); the lock (tecLOCKED) is checked
    **only between two holders**: a locked holder still receives from and pays back the issuer, under
    a global or a per-holder lock (MPToken_test.cpp asserts both). accountSend's shortfalls
    (tecINSUFFICIENT_FUNDS, tecPATH_DRY above MaximumAmount) become tecPATH_PARTIAL."""
    mpt_id = amount["mpt_issuance_id"]
    try:
        value = int(amount["value"])
    except (TypeError, ValueError) as exc:
        raise Result("temBAD_AMOUNT", "MPT amounts are integers") from exc
    if value <= 0:
        raise Result("temBAD_AMOUNT", "amount must be positive")
    if src == dst:
        raise Result("temREDUNDANT", "payment to self")
    engine.account(dst)  # Payment.cpp preclaim: tecNO_DST for a missing destination of a token
    issuance = engine.open.issuances.get(mpt_id)
    if issuance is None:
        raise Result("tecOBJECT_NOT_FOUND", f"no MPT issuance {mpt_id}")
    out_token = _mpt_require_auth(engine, issuance, src)
    in_token = _mpt_require_auth(engine, issuance, dst)
    issuer = issuance.issuer
    if not issuance.flags & LSF_MPT_CAN_TRANSFER and issuer not in (src, dst):
        raise Result("tecNO_AUTH", f"{mpt_id} cannot be transferred between holders (no CanTransfer)")
    if issuer not in (src, dst) and (_mpt_locked(engine, issuance, src) or _mpt_locked(engine, issuance, dst)):
        raise Result("tecLOCKED", "a holder's balance is locked (between holders only)")
    if out_token is None:  # issuing: rippleSendMPT refuses to exceed MaximumAmount
        maximum = issuance.maximum if issuance.maximum is not None else MAX_MPT_AMOUNT
        if issuance.outstanding + value > maximum:
            raise Result("tecPATH_PARTIAL", "payment would exceed the issuance's MaximumAmount")
        issuance.outstanding += value
    else:
        if out_token.amount < value:
            raise Result("tecPATH_PARTIAL", f"{src} holds {out_token.amount}")
        out_token.amount -= value
    if in_token is None:
        issuance.outstanding -= value  # units paid back to the issuer are burned
    else:
        in_token.amount += value
    for token in (out_token, in_token):
        if token is None:
            continue
        node = token.to_json()
        engine._touched[node["index"]] = {
            "LedgerEntryType": "MPToken",
            "LedgerIndex": node["index"],
            "FinalFields": node,
        }
    return {"delivered_amount": dict(amount)}


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
        # SetAccount.cpp: only the master key may disable itself, and only with another way to sign.
        if not root.flags & LSF_DISABLE_MASTER:
            if not signed_with_master(tx):
                raise Result("tecNEED_MASTER_KEY", "only the master key can disable the master key")
            if not has_signer_list(engine, root.account):
                raise Result("tecNO_ALTERNATIVE_KEY", "no regular key or signer list to replace the master key")
            root.flags |= LSF_DISABLE_MASTER
    elif set_flag is not None:
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
    if clear_flag == ASF_DISABLE_MASTER:
        root.flags &= ~LSF_DISABLE_MASTER
    elif clear_flag is not None:
        lsf = ASF_TO_LSF[clear_flag]
        # SetAccount.cpp has no clear branch for NoFreeze ("anyone may set no freeze; no one may
        # clear it") nor for AllowTrustLineClawback: the ClearFlag succeeds and changes nothing.
        if lsf not in (LSF_ALLOW_TRUSTLINE_CLAWBACK, LSF_NO_FREEZE):
            root.flags &= ~lsf
    engine._touch_account(root)


# ================================================================================================
# Clawback — https://xrpl.org/docs/references/protocol/transactions/types/clawback
# ================================================================================================


@handler("Clawback")
def clawback(engine: Engine, tx: dict[str, Any], prior_balance: int) -> None:
    """rippled Clawback.cpp. Preflight (tem): no XRP, a positive amount, for an MPT a Holder other
    than the issuer, for a trust-line token no Holder (Amount.issuer names the holder). Preclaim:
    a holder account that does not exist is terNO_ACCOUNT (not applied, no fee). Trust-line tokens:
    lsfAllowTrustLineClawback and not lsfNoFreeze (tecNO_PERMISSION), the line (tecNO_LINE), the
    balance held the right way round (tecNO_PERMISSION) and positive (tecINSUFFICIENT_FUNDS).
    MPTs: the issuance (tecOBJECT_NOT_FOUND), lsfMPTCanClawback then the issuer (tecNO_PERMISSION),
    the MPToken (tecOBJECT_NOT_FOUND), a positive balance (tecINSUFFICIENT_FUNDS). Freezes, locks
    and authorisation are ignored; at most the balance is taken."""
    issuer = tx["Account"]
    amount = tx.get("Amount")
    if not isinstance(amount, dict):
        raise Result("temBAD_AMOUNT", "XRP cannot be clawed back")
    is_mpt = "mpt_issuance_id" in amount
    if is_mpt:
        holder = tx.get("Holder")
        if not holder or holder == issuer:
            raise Result("temMALFORMED", "MPT clawback needs a Holder other than the issuer")
        try:
            mpt_value = int(amount["value"])
        except (TypeError, ValueError) as exc:
            raise Result("temBAD_AMOUNT", "MPT amounts are integers") from exc
        if not 0 < mpt_value <= MAX_MPT_AMOUNT:
            raise Result("temBAD_AMOUNT")
    else:
        if tx.get("Holder"):
            raise Result("temMALFORMED", "Holder is only for MPT clawback")
        holder = amount["issuer"]
        iou_value = parse_iou(amount["value"])
        if iou_value <= 0 or holder == issuer:
            raise Result("temBAD_AMOUNT")
    if holder not in engine.open.accounts:
        raise Result("terNO_ACCOUNT", f"{holder} does not exist")
    if is_mpt:
        issuance = engine.open.issuances.get(amount["mpt_issuance_id"])
        if issuance is None:
            raise Result("tecOBJECT_NOT_FOUND")
        if not issuance.flags & LSF_MPT_CAN_CLAWBACK or issuance.issuer != issuer:
            raise Result("tecNO_PERMISSION", "the issuance does not allow clawback by this account")
        token = engine.open.mptokens.get((issuance.id, holder))
        if token is None:
            raise Result("tecOBJECT_NOT_FOUND", f"{holder} holds no MPToken")
        if token.amount == 0:
            raise Result("tecINSUFFICIENT_FUNDS", f"{holder} holds nothing to claw back")
        taken = min(mpt_value, token.amount)
        token.amount -= taken
        issuance.outstanding -= taken
        node = token.to_json()
        engine._touched[node["index"]] = {
            "LedgerEntryType": "MPToken",
            "LedgerIndex": node["index"],
            "FinalFields": node,
        }
        return
    issuer_flags = engine.open.accounts[issuer].flags
    if not issuer_flags & LSF_ALLOW_TRUSTLINE_CLAWBACK or issuer_flags & LSF_NO_FREEZE:
        raise Result("tecNO_PERMISSION", f"{issuer} has not enabled asfAllowTrustLineClawback")
    line = engine.open.line(holder, issuer, amount["currency"])
    if line is None:
        raise Result("tecNO_LINE", f"no {amount['currency']} trust line between {holder} and {issuer}")
    held = line.holding(holder)
    if held < 0:
        raise Result("tecNO_PERMISSION", f"{holder} is the issuer of this balance, not its holder")
    if held == 0:
        raise Result("tecINSUFFICIENT_FUNDS", f"{holder} holds nothing to claw back")
    ripple_credit(engine, line, holder, min(iou_value, held))


# ================================================================================================
# MPT — https://xrpl.org/docs/references/protocol/transactions/types/mptokenissuancecreate etc.
# ================================================================================================


@handler("MPTokenIssuanceCreate")
def mpt_issuance_create(engine: Engine, tx: dict[str, Any], prior_balance: int) -> dict[str, Any]:
    """rippled MPTokenIssuanceCreate.cpp preflight: TransferFee above 50000 is temBAD_TRANSFER_FEE, a
    TransferFee without tfMPTCanTransfer temMALFORMED, metadata of 0 or more than 1024 bytes and a
    MaximumAmount of 0 or above maxMPTokenAmount temMALFORMED. The issuance is an owned object
    (reserve, tecINSUFFICIENT_RESERVE) and its id is the issuer's sequence then account id."""
    flags = int(tx.get("Flags", 0)) & 0x7F
    fee = int(tx.get("TransferFee", 0))
    if fee > 50_000:
        raise Result("temBAD_TRANSFER_FEE", "TransferFee above 50000")
    if fee and not flags & LSF_MPT_CAN_TRANSFER:
        raise Result("temMALFORMED", "TransferFee needs tfMPTCanTransfer")
    metadata = tx.get("MPTokenMetadata")
    if metadata is not None and not 1 <= len(metadata) // 2 <= 1024:
        raise Result("temMALFORMED", "MPTokenMetadata must be 1 to 1024 bytes")
    maximum = tx.get("MaximumAmount")
    if maximum is not None and (not str(maximum).isdigit() or not 0 < int(maximum) <= MAX_MPT_AMOUNT):
        raise Result("temMALFORMED", "MaximumAmount must be a positive integer up to maxMPTokenAmount")
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
    """Lock / unlock all balances or one holder's, in the order of rippled's MPTokenIssuanceSet.cpp.
    Preflight: tfMPTLock with tfMPTUnlock is temINVALID_FLAG, Holder = Account temMALFORMED, and no
    change at all temMALFORMED (with SingleAssetVault / DynamicMPT enabled, as on mainnet today).
    Preclaim: the issuance (tecOBJECT_NOT_FOUND), lsfMPTCanLock (tecNO_PERMISSION), the submitter is
    its issuer (tecNO_PERMISSION), then a named Holder must exist (tecNO_DST) and hold an MPToken
    (tecOBJECT_NOT_FOUND). All preclaim refusals are tec: the fee is claimed."""
    flags = int(tx.get("Flags", 0))
    lock, unlock = bool(flags & TF_MPT_LOCK), bool(flags & TF_MPT_UNLOCK)
    if lock and unlock:
        raise Result("temINVALID_FLAG")
    holder = tx.get("Holder")
    if holder == tx["Account"]:
        raise Result("temMALFORMED", "Holder may not be the issuer")
    if not lock and not unlock:
        raise Result("temMALFORMED", "nothing to change")
    issuance = engine.open.issuances.get(tx.get("MPTokenIssuanceID", ""))
    if issuance is None:
        raise Result("tecOBJECT_NOT_FOUND")
    if not issuance.flags & LSF_MPT_CAN_LOCK:
        raise Result("tecNO_PERMISSION", "the issuance was created without tfMPTCanLock")
    if issuance.issuer != tx["Account"]:
        raise Result("tecNO_PERMISSION")
    if holder:
        if holder not in engine.open.accounts:
            raise Result("tecNO_DST", f"{holder} does not exist")
        token = engine.open.mptokens.get((issuance.id, holder))
        if token is None:
            raise Result("tecOBJECT_NOT_FOUND", f"{holder} holds no MPToken")
        token.flags = (token.flags | LSF_MPT_LOCKED) if lock else (token.flags & ~LSF_MPT_LOCKED)
    else:
        issuance.flags = (issuance.flags | LSF_MPT_LOCKED) if lock else (issuance.flags & ~LSF_MPT_LOCKED)


@handler("MPTokenAuthorize")
def mpt_authorize(engine: Engine, tx: dict[str, Any], prior_balance: int) -> None:
    """Holder opt-in / opt-out, and issuer (de)authorisation under RequireAuth, in the order of
    rippled's MPTokenAuthorize.cpp preclaim. Without Holder (the holder itself): opting out needs
    the MPToken (tecOBJECT_NOT_FOUND, checked before the issuance) and a zero balance
    (tecHAS_OBLIGATIONS); opting in needs the issuance (tecOBJECT_NOT_FOUND), a non-issuer
    (tecNO_PERMISSION), no MPToken yet (tecDUPLICATE) and the reserve beyond two objects
    (tecINSUFFICIENT_RESERVE). With Holder (the issuer): the holder must exist (tecNO_DST), then the
    issuance (tecOBJECT_NOT_FOUND), the submitter must be its issuer (tecNO_PERMISSION), the issuance
    must have lsfMPTRequireAuth (tecNO_AUTH) and the holder an MPToken (tecOBJECT_NOT_FOUND).
    tfMPTUnauthorize from the issuer clears lsfMPTAuthorized: the holder can then neither receive
    nor send the token, not even to the issuer (Payment.cpp `requireAuth` on both parties)."""
    account = tx["Account"]
    flags = int(tx.get("Flags", 0))
    holder = tx.get("Holder")
    if holder == account:
        raise Result("temMALFORMED")
    issuance_id = tx.get("MPTokenIssuanceID", "")
    if holder is None:
        key = (issuance_id, account)
        token = engine.open.mptokens.get(key)
        if flags & TF_MPT_UNAUTHORIZE:
            if token is None:
                raise Result("tecOBJECT_NOT_FOUND")
            if token.amount:
                raise Result("tecHAS_OBLIGATIONS", "cannot delete an MPToken with a balance")
            del engine.open.mptokens[key]
            engine.adjust_owner(account, -1)
            return
        issuance = engine.open.issuances.get(issuance_id)
        if issuance is None:
            raise Result("tecOBJECT_NOT_FOUND", "no such MPT issuance")
        if account == issuance.issuer:
            raise Result("tecNO_PERMISSION", "the issuer cannot hold its own MPT")
        if token is not None:
            raise Result("tecDUPLICATE", "MPToken already exists")
        root = engine.open.accounts[account]
        needed = 0 if root.owner_count < 2 else engine.fees.reserve(root.owner_count + 1)
        if prior_balance < needed:
            raise Result("tecINSUFFICIENT_RESERVE", f"{account} holds {prior_balance} drops, needs {needed}")
        engine.open.mptokens[key] = MPToken(account, issuance.id)
        engine.adjust_owner(account, +1)
        return
    if holder not in engine.open.accounts:
        raise Result("tecNO_DST", f"{holder} does not exist")
    issuance = engine.open.issuances.get(issuance_id)
    if issuance is None:
        raise Result("tecOBJECT_NOT_FOUND", "no such MPT issuance")
    if account != issuance.issuer:
        raise Result("tecNO_PERMISSION", "only the issuer authorises holders")
    if not issuance.flags & LSF_MPT_REQUIRE_AUTH:
        raise Result("tecNO_AUTH", "the issuance does not require authorisation")
    token = engine.open.mptokens.get((issuance.id, holder))
    if token is None:
        raise Result("tecOBJECT_NOT_FOUND", f"{holder} has not opted in (no MPToken)")
    if flags & TF_MPT_UNAUTHORIZE:
        token.flags &= ~LSF_MPT_AUTHORIZED
    else:
        token.flags |= LSF_MPT_AUTHORIZED


__all__ = ["LSF_MPT_AUTHORIZED"]


@handler("Batch")
def batch(engine: Engine, tx: dict[str, Any], prior_balance: int) -> None:
    """XLS-56 Batch in all-or-nothing mode (https://xrpl.org/docs/concepts/transactions/
    batch-transactions); only reachable when the double is started with the Batch amendment."""
    engine.apply_batch(tx)
