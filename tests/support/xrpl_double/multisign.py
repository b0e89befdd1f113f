"""Multi-signing in the ledger double: SignerListSet, the master key disabled, and multisigned
transactions (https://xrpl.org/docs/concepts/accounts/multi-signing).

Follows rippled (XRPLF/rippled): `SetSignerList.cpp` (the list, its quorum and its reserve),
`STTx::checkMultiSign` (the local checks of the `Signers` array and each signature over the
multisigning serialisation), `Transactor::checkSingleSign` / `checkMultiSign` (who may sign for an
account) and `Transactor::calculateBaseFee` (one base fee more per signer). Regular keys are not
modelled: a signer signs with its master key, or the signer is a phantom (no account root).
Not modelled either: the SignerList ledger entry in metadata and `account_objects`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from xrpl.core import addresscodec, binarycodec, keypairs

from tests.support.xrpl_double.engine import (
    LSF_DISABLE_MASTER,
    Engine,
    InvalidTransaction,
    Result,
    handler,
)

#: 1..32 signers (ExpandedSignerList, enabled on mainnet).
MIN_SIGNERS, MAX_SIGNERS = 1, 32


@dataclass
class SignerList:
    quorum: int
    weights: dict[str, int] = field(default_factory=dict)


def _account_id(address: str) -> bytes:
    return addresscodec.decode_classic_address(address)


def check_local(tx: dict[str, Any]) -> None:
    """STTx::checkMultiSign: what `submit` refuses as "fails local checks" before any ledger."""
    if tx.get("SigningPubKey"):
        raise InvalidTransaction("fails local checks: Cannot both single- and multi-sign.")
    signers = [entry.get("Signer", {}) for entry in tx["Signers"]]
    if not MIN_SIGNERS <= len(signers) <= MAX_SIGNERS:
        raise InvalidTransaction("fails local checks: Invalid Signers array size.")
    previous = b""
    for signer in signers:
        account = signer.get("Account", "")
        if account == tx["Account"]:
            raise InvalidTransaction("fails local checks: Invalid multisigner.")
        ident = _account_id(account)
        if ident == previous:
            raise InvalidTransaction("fails local checks: Duplicate Signers not allowed.")
        if ident < previous:
            raise InvalidTransaction("fails local checks: Unsorted Signers array.")
        previous = ident
        message = bytes.fromhex(binarycodec.encode_for_multisigning(tx, account))
        try:
            ok = keypairs.is_valid_message(message, bytes.fromhex(signer["TxnSignature"]), signer["SigningPubKey"])
        except Exception:
            ok = False
        if not ok:
            raise InvalidTransaction(f"fails local checks: Invalid signature on account {account}.")


def signer_count(tx: dict[str, Any]) -> int:
    return len(tx.get("Signers", []))


def check_authority(engine: Engine, tx: dict[str, Any]) -> None:
    """Transactor::checkSingleSign / checkMultiSign against the open ledger (tef: not applied)."""
    account = tx["Account"]
    root = engine.open.accounts[account]
    if "Signers" not in tx:
        if keypairs.derive_classic_address(tx["SigningPubKey"]) != account:
            # No regular keys in the double: only the master key may single-sign.
            raise Result("tefBAD_AUTH_MASTER")
        if root.flags & LSF_DISABLE_MASTER:
            raise Result("tefMASTER_DISABLED", "the master key is disabled: the signer list signs")
        return
    signer_list = engine.open.signer_lists.get(account)
    if signer_list is None:
        raise Result("tefNOT_MULTI_SIGNING", f"{account} has no signer list")
    weight = 0
    for entry in tx["Signers"]:
        signer = entry["Signer"]
        name = signer["Account"]
        if name not in signer_list.weights:
            raise Result("tefBAD_SIGNATURE", f"{name} is not on {account}'s signer list")
        if keypairs.derive_classic_address(signer["SigningPubKey"]) != name:
            raise Result("tefBAD_SIGNATURE", f"{name} signed with a key that is not its master key")
        signer_root = engine.open.accounts.get(name)
        if signer_root is not None and signer_root.flags & LSF_DISABLE_MASTER:
            raise Result("tefMASTER_DISABLED", f"{name}'s master key is disabled")
        weight += signer_list.weights[name]
    if weight < signer_list.quorum:
        raise Result("tefBAD_QUORUM", f"signers' weight {weight} below the quorum {signer_list.quorum}")


def signed_with_master(tx: dict[str, Any]) -> bool:
    return bool(tx.get("SigningPubKey")) and keypairs.derive_classic_address(tx["SigningPubKey"]) == tx["Account"]


def has_signer_list(engine: Engine, account: str) -> bool:
    return account in engine.open.signer_lists


# ================================================================================================
# SignerListSet — https://xrpl.org/docs/references/protocol/transactions/types/signerlistset
# ================================================================================================


@handler("SignerListSet")
def signer_list_set(engine: Engine, tx: dict[str, Any], prior_balance: int) -> None:
    """rippled SetSignerList.cpp. Quorum > 0 with entries: create or replace (one owner count,
    MultiSignReserve); quorum 0 without entries: delete; anything else temMALFORMED."""
    account = tx["Account"]
    quorum = int(tx.get("SignerQuorum", 0))
    entries = [entry.get("SignerEntry", {}) for entry in tx.get("SignerEntries", [])]
    root = engine.open.accounts[account]
    if quorum and entries:
        if not MIN_SIGNERS <= len(entries) <= MAX_SIGNERS:
            raise Result("temMALFORMED", "too many or too few signers in the signer list")
        weights: dict[str, int] = {}
        for entry in entries:
            name, weight = entry.get("Account", ""), int(entry.get("SignerWeight", 0))
            if name in weights:
                raise Result("temBAD_SIGNER", "duplicate signers in the signer list")
            if weight <= 0:
                raise Result("temBAD_WEIGHT", "every signer must have a positive weight")
            if name == account:
                raise Result("temBAD_SIGNER", "a signer may not be the account itself")
            weights[name] = weight
        if sum(weights.values()) < quorum:
            raise Result("temBAD_QUORUM", "the quorum is unreachable")
        if engine.open.signer_lists.pop(account, None) is not None:
            root.owner_count -= 1  # a replaced list frees its reserve first
        if prior_balance < engine.fees.reserve(root.owner_count + 1):
            raise Result("tecINSUFFICIENT_RESERVE")
        engine.open.signer_lists[account] = SignerList(quorum, weights)
        root.owner_count += 1
    elif quorum == 0 and not entries:
        if root.flags & LSF_DISABLE_MASTER:
            raise Result("tecNO_ALTERNATIVE_KEY", "the signer list is the only way left to sign")
        if engine.open.signer_lists.pop(account, None) is not None:
            root.owner_count -= 1
    else:
        raise Result("temMALFORMED", "invalid signer set list format")
    engine._touch_account(root)
