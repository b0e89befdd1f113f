"""Transaction result codes the double can return, with rippled's numeric values and messages.

Source: https://xrpl.org/docs/references/protocol/transactions/transaction-results (tes, tec, tef,
tel, tem, ter pages). Clients should rely on the text code, as the pages say. The numbers are
rippled's (`TER.h`, whose enums count on from a first value), checked against the binary codec's
`TRANSACTION_RESULTS` table that xrpl-py ships (tests/unit/test_xrpl_double_codes.py).
"""

from __future__ import annotations

RESULTS: dict[str, tuple[int, str]] = {
    "tesSUCCESS": (0, "The transaction was applied. Only final in a validated ledger."),
    # tec: applied, fee claimed, sequence consumed, nothing else changed.
    "tecPATH_PARTIAL": (101, "Path could not send full amount."),
    "tecINSUF_RESERVE_LINE": (122, "Insufficient reserve to add trust line."),
    "tecUNFUNDED_PAYMENT": (104, "Insufficient XRP balance to send."),
    "tecNO_DST": (124, "Destination does not exist. Send XRP to create it."),
    "tecNO_DST_INSUF_XRP": (125, "Destination does not exist. Too little XRP sent to create it."),
    "tecNO_LINE_INSUF_RESERVE": (126, "No such line. Too little reserve to create it."),
    "tecNO_LINE_REDUNDANT": (127, "Can't set non-existent line to default."),
    "tecPATH_DRY": (128, "Path could not send partial amount."),
    "tecNO_ALTERNATIVE_KEY": (130, "The operation would remove the ability to sign transactions with the account."),
    "tecOWNERS": (132, "Non-zero owner count."),
    "tecNO_AUTH": (134, "Not authorized to hold asset."),
    "tecNO_LINE": (135, "No such line."),
    "tecFROZEN": (137, "Asset is frozen."),
    "tecNO_PERMISSION": (139, "No permission to perform requested operation."),
    "tecNO_ENTRY": (140, "No matching entry found."),
    "tecINSUFFICIENT_RESERVE": (141, "Insufficient reserve to complete requested operation."),
    "tecNEED_MASTER_KEY": (142, "The operation requires the use of the Master Key."),
    "tecDUPLICATE": (149, "Ledger object already exists."),
    "tecHAS_OBLIGATIONS": (151, "The account cannot be deleted since it has obligations."),
    "tecCANT_ACCEPT_OWN_NFTOKEN_OFFER": (158, "An NFToken offer cannot be claimed by its owner."),
    "tecINSUFFICIENT_FUNDS": (159, "Not enough funds available to complete requested transaction."),
    "tecOBJECT_NOT_FOUND": (160, "A requested object could not be located."),
    "tecLOCKED": (192, "Token is locked."),
    # tef: not applied, cannot succeed in this or any later ledger as submitted.
    "tefALREADY": (-198, "The exact transaction was already in this ledger."),
    "tefBAD_AUTH_MASTER": (-183, "Auth for unclaimed account needs correct master key."),
    "tefMAX_LEDGER": (-187, "Ledger sequence too high."),
    "tefNO_AUTH_REQUIRED": (-191, "Auth is not required."),
    "tefPAST_SEQ": (-190, "This sequence number has already passed."),
    "tefMASTER_DISABLED": (-188, "Master key is disabled."),
    "tefBAD_SIGNATURE": (-186, "A signature is provided for a non-signer."),
    "tefBAD_QUORUM": (-185, "Signatures provided do not meet the quorum."),
    "tefNOT_MULTI_SIGNING": (-184, "Account has no appropriate list of multi-signers."),
    "tefNFTOKEN_IS_NOT_TRANSFERABLE": (-179, "The specified NFToken is not transferable."),
    # tel: local error, not applied, not forwarded.
    "telINSUF_FEE_P": (-394, "Fee insufficient."),
    "telWRONG_NETWORK": (-386, "Transaction specifies a Network ID that differs from that of the local node."),
    "telREQUIRES_NETWORK_ID": (
        -385,
        "Transactions submitted to this node/network must include a correct NetworkID field.",
    ),
    "telNETWORK_ID_MAKES_TX_NON_CANONICAL": (
        -384,
        "Transactions submitted to this node/network must NOT include a NetworkID field.",
    ),
    # tem: malformed, never valid.
    "temMALFORMED": (-299, "Malformed transaction."),
    "temBAD_AMOUNT": (-298, "Malformed: Bad amount."),
    "temBAD_CURRENCY": (-297, "Malformed: Bad currency."),
    "temBAD_FEE": (-295, "Invalid fee, negative or not XRP."),
    "temBAD_LIMIT": (-293, "Limits must be non-negative."),
    "temDST_IS_SRC": (-279, "Destination may not be source."),
    "temDST_NEEDED": (-278, "Destination not specified."),
    "temINVALID_FLAG": (-276, "The transaction has an invalid flag."),
    "temREDUNDANT": (-275, "The transaction is redundant."),
    "temDISABLED": (-273, "The transaction requires logic that is currently disabled."),
    "temBAD_SIGNATURE": (-282, "Malformed: Bad signature."),
    "temBAD_SIGNER": (-272, "Malformed: No signer may duplicate account or other signers."),
    "temBAD_QUORUM": (-271, "Malformed: Quorum is unreachable."),
    "temBAD_WEIGHT": (-270, "Malformed: Weight must be a positive value."),
    "temBAD_TRANSFER_FEE": (-251, "Malformed: Transfer fee is outside valid range."),
    "temINVALID_INNER_BATCH": (-250, "Malformed: Invalid inner batch transaction."),
    "temARRAY_EMPTY": (-253, "Malformed: Array is empty."),
    "temARRAY_TOO_LARGE": (-252, "Malformed: Array is too large."),
    "temBAD_NFTOKEN_TRANSFER_FEE": (-262, "Malformed: The NFToken transfer fee must be between 1 and 5000, inclusive."),
    # ter: not applied yet, may apply later.
    "terINSUF_FEE_B": (-97, "Account balance can't pay fee."),
    "terNO_ACCOUNT": (-96, "The source account does not exist."),
    "terPRE_SEQ": (-92, "Missing/inapplicable prior transaction."),
}


def code_of(result: str) -> int:
    return RESULTS[result][0]


def message_of(result: str) -> str:
    return RESULTS[result][1]


def applied(result: str) -> bool:
    """tes and tec results are included in a ledger (the fee is claimed)."""
    return result == "tesSUCCESS" or result.startswith("tec")
