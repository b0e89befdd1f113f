"""XRPL result codes in domain terms.

The classes of codes (https://xrpl.org/docs/references/protocol/transactions/transaction-results):
- tes: success; tec: included in a ledger, fee claimed, nothing else done — a final failure once
  validated; tef: failed, not applied, cannot succeed as signed; tel: refused locally, not applied;
  tem: malformed, never valid; ter: not applied yet, may apply later.
Only a validated result is final (https://xrpl.org/docs/concepts/transactions/finality-of-results).
"""

from __future__ import annotations

from drexfy.domain.errors import ComplianceRejected, LedgerError, LedgerRejected, LedgerUnavailable

#: Results after which a transaction can never be included as signed (not applied, sequence unused).
PERMANENT_PREFIXES = ("tem",)
PERMANENT_TEF = {"tefBAD_AUTH_MASTER", "tefNO_AUTH_REQUIRED", "tefNFTOKEN_IS_NOT_TRANSFERABLE", "tefBAD_AUTH"}


def refused_for_good(preliminary: str) -> bool:
    """A submission refused for good: its sequence stays unused and must be filled."""
    return preliminary.startswith(PERMANENT_PREFIXES) or preliminary in PERMANENT_TEF


#: Refusals by the ledger's own compliance rules: authorisation, freezes, locks, permissions.
COMPLIANCE_CODES = {
    "tecNO_AUTH": "the holder is not authorised for this token (RequireAuth / MPT authorisation)",
    "tecFROZEN": "the trust line is frozen",
    "tecLOCKED": "the MPT balance is locked",
    "tecNO_PERMISSION": "the account may not do this (flags or permissions)",
    "tefNFTOKEN_IS_NOT_TRANSFERABLE": "the classification NFT is not transferable",
    "tefNO_AUTH_REQUIRED": "the issuer does not require authorisation (asfRequireAuth unset)",
}

MEANINGS = {
    "tecPATH_DRY": "no liquidity on the path: missing, unauthorised or frozen trust line, or no balance",
    "tecPATH_PARTIAL": "only part of the amount could be delivered (balance or trust limit too low)",
    "tecUNFUNDED_PAYMENT": "not enough XRP above the reserve",
    "tecINSUFFICIENT_RESERVE": "the account cannot pay the owner reserve for a new object",
    "tecNO_LINE_INSUF_RESERVE": "the account cannot pay the reserve for a new trust line",
    "tecINSUF_RESERVE_LINE": "the account cannot pay the reserve for the trust line",
    "tecNO_DST": "the destination account does not exist",
    "tecNO_DST_INSUF_XRP": "too little XRP sent to create the destination account",
    "tecNO_LINE": "no such trust line",
    "tecNO_ENTRY": "no such ledger entry (NFT or offer)",
    "tecOBJECT_NOT_FOUND": "a ledger object the transaction names does not exist",
    "tecOWNERS": "the account already owns objects (flag must be set before any trust line)",
    "tecDUPLICATE": "the object already exists",
    "tecINSUFFICIENT_FUNDS": "not enough funds",
    "tecHAS_OBLIGATIONS": "the object still holds a balance",
    "tefMAX_LEDGER": "LastLedgerSequence passed before the transaction was included",
    "tefPAST_SEQ": "the sequence number was already used",
    "tefBAD_AUTH_MASTER": "the signing key does not control the account",
    "telINSUF_FEE_P": "the fee is below the current open ledger cost",
    "terINSUF_FEE_B": "the account cannot pay the fee",
    "terNO_ACCOUNT": "the sending account does not exist (not activated)",
    "temDISABLED": "the feature (amendment) is not enabled on this network",
    "temMALFORMED": "the transaction is malformed",
    "batch-rolled-back": "an inner transaction of the all-or-nothing Batch failed, so none was applied",
}


def meaning(code: str) -> str:
    return COMPLIANCE_CODES.get(code) or MEANINGS.get(code) or "see xrpl.org transaction results"


def to_domain_error(code: str, what: str, tx_id: str | None = None, detail: str = "") -> LedgerError:
    """A final failure result as a domain error: ComplianceRejected for compliance refusals,
    LedgerUnavailable for the transient ones, LedgerRejected otherwise."""
    message = f"{what}: {code} ({meaning(code)})" + (f" — {detail}" if detail else "")
    if code in COMPLIANCE_CODES:
        return ComplianceRejected(message, reason=code, tx_id=tx_id)
    if code.startswith(("tel", "ter")):
        return LedgerUnavailable(message)
    return LedgerRejected(message, reason=code, tx_id=tx_id)
