"""Reading camt.053 (account statement) and camt.054 (debit/credit notification) files.

Hand-written on the standard library's ElementTree: the only Python packages for camt are young
single-author releases (0.0.x), and what the platform needs is a few elements of each entry
(`Ntry`): the amount and currency, credit or debit, booked or not, the bank's reference, the
end-to-end id of our own transfers, the remittance text, and whether a credit returns one of our
transfers (`RvslInd`, `TxDtls/RtrInf` with its reason code, or the bank transaction sub-family
`RRTN`, a returned credit transfer). The namespace decides the message and
version (camt.053.001.02 to .13, camt.054.001.02 to .13: `Sts` is a code, or a `Cd` inside it).

A file that is not well-formed is refused naming its line; a missing or invalid element is refused
naming its path (`Stmt[1]/Ntry[2]/Amt`). Nothing is half-read: the caller gets every entry or an
error. `defusedxml` parses it: a file with a DTD or entities is refused.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable

import defusedxml.ElementTree as safe_xml
from defusedxml import DefusedXmlException

from drexfy.domain.errors import DomainError, ValidationFailed
from drexfy.domain.money import Money
from drexfy.domain.ports import BankEntry
from drexfy.domain.provider_events import MAX_PAYMENT_MINOR

_NAMESPACE = re.compile(r"^\{urn:iso:std:iso:20022:tech:xsd:camt\.(053|054)\.001\.\d\d\}Document$")
_CONTAINERS = {"053": ("BkToCstmrStmt", "Stmt"), "054": ("BkToCstmrDbtCdtNtfctn", "Ntfctn")}
#: A statement larger than this is refused before parsing (a day's statement is far smaller).
MAX_BYTES = 20 * 1024 * 1024


def read_camt(data: bytes) -> list[BankEntry]:
    if len(data) > MAX_BYTES:
        raise ValidationFailed(f"statement: larger than {MAX_BYTES // (1024 * 1024)} MiB")
    try:
        root = safe_xml.fromstring(data)
    except ET.ParseError as exc:
        line, column = exc.position
        raise ValidationFailed(f"statement line {line}, column {column}: not well-formed XML") from None
    except DefusedXmlException:
        raise ValidationFailed("statement: DTDs and entities are not allowed in a bank statement") from None
    match = _NAMESPACE.match(root.tag)
    if match is None:
        raise ValidationFailed(f"statement root element: expected a camt.053 or camt.054 Document, got {root.tag}")
    ns = root.tag[1 : root.tag.index("}")]
    message, container = _CONTAINERS[match.group(1)]

    def q(path: str) -> str:
        return "/".join(f"{{{ns}}}{part}" for part in path.split("/"))

    body = root.find(q(message))
    if body is None:
        raise ValidationFailed(f"statement: {message} is required")
    entries: list[BankEntry] = []
    for s, statement in enumerate(body.findall(q(container)), start=1):
        for n, entry in enumerate(statement.findall(q("Ntry")), start=1):
            entries.append(_entry(entry, f"{container}[{s}]/Ntry[{n}]", q))
    return entries


def _text(entry: ET.Element, path: str, q: Callable[[str], str]) -> str | None:
    found = entry.find(q(path))
    return found.text.strip() if found is not None and found.text and found.text.strip() else None


def _entry(entry: ET.Element, where: str, q: Callable[[str], str]) -> BankEntry:
    amount_node = entry.find(q("Amt"))
    if amount_node is None or not (amount_node.text or "").strip():
        raise ValidationFailed(f"{where}/Amt is required")
    currency = amount_node.get("Ccy", "")
    try:
        amount = Money.parse(str(amount_node.text).strip(), currency)
    except DomainError as bad:
        raise ValidationFailed(f"{where}/Amt: {bad.message}") from None
    if amount.minor <= 0 or amount.minor > MAX_PAYMENT_MINOR:
        raise ValidationFailed(f"{where}/Amt: out of range")
    indicator = _text(entry, "CdtDbtInd", q)
    if indicator not in ("CRDT", "DBIT"):
        raise ValidationFailed(f"{where}/CdtDbtInd must be CRDT or DBIT")
    status = _text(entry, "Sts/Cd", q) or _text(entry, "Sts", q)
    if status is None:
        raise ValidationFailed(f"{where}/Sts is required")
    ref = _text(entry, "AcctSvcrRef", q) or _text(entry, "NtryRef", q)
    if ref is None:
        raise ValidationFailed(f"{where}: AcctSvcrRef or NtryRef is required (it identifies the entry)")
    details = "NtryDtls/TxDtls"
    end_to_end = _text(entry, f"{details}/Refs/EndToEndId", q)
    if end_to_end == "NOTPROVIDED":
        end_to_end = None
    reversal = _text(entry, "RvslInd", q)
    if reversal not in (None, "true", "false", "1", "0"):
        raise ValidationFailed(f"{where}/RvslInd must be true or false")
    return_reason = _text(entry, f"{details}/RtrInf/Rsn/Cd", q) or _text(entry, f"{details}/RtrInf/Rsn/Prtry", q)
    returned = (
        reversal in ("true", "1")
        or entry.find(q(f"{details}/RtrInf")) is not None
        or _text(entry, "BkTxCd/Domn/Fmly/SubFmlyCd", q) == "RRTN"
    )
    return BankEntry(
        ref=ref[:140],
        credit=indicator == "CRDT",
        amount=amount,
        booked=status == "BOOK",
        end_to_end_id=end_to_end,
        reference=_text(entry, f"{details}/RmtInf/Ustrd", q),
        returned=returned and indicator == "CRDT",
        return_reason=return_reason[:35] if return_reason else None,
    )
