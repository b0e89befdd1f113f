"""camt.053 and camt.054 samples built from the ISO 20022 message definitions (BkToCstmrStmt /
BkToCstmrDbtCdtNtfctn; Ntry with Amt, CdtDbtInd, Sts, BookgDt, ValDt, AcctSvcrRef, BkTxCd,
NtryDtls/TxDtls with Refs/EndToEndId, RmtInf/Ustrd and, for a returned transfer, RvslInd and
RtrInf/Rsn/Cd), as a bank would send them. TxDtls/Amt exists from version .03 on (version .02 has
only AmtDtls there), so it is left out of .02 files."""

from __future__ import annotations

from xml.sax.saxutils import escape

import attrs


@attrs.frozen
class Line:
    ref: str
    amount: str  # decimal, e.g. "150.00"
    credit: bool = False
    booked: bool = True
    end_to_end_id: str | None = None
    remittance: str | None = None
    currency: str = "EUR"
    #: A returned transfer (a credit): the ISO return reason code (AC04: account closed).
    return_reason: str | None = None


def _entry(line: Line, version: str) -> str:
    status_code_inside = int(version) >= 8
    status = "BOOK" if line.booked else "PDNG"
    sts = f"<Sts><Cd>{status}</Cd></Sts>" if status_code_inside else f"<Sts>{status}</Sts>"
    refs = f"<Refs><EndToEndId>{escape(line.end_to_end_id)}</EndToEndId></Refs>" if line.end_to_end_id else ""
    rmt = f"<RmtInf><Ustrd>{escape(line.remittance)}</Ustrd></RmtInf>" if line.remittance else ""
    returned = line.return_reason is not None
    reversal = "<RvslInd>true</RvslInd>" if returned else ""
    # A returned SEPA credit transfer: family ICDT (issued credit transfers), sub-family RRTN.
    family = "<Cd>ICDT</Cd><SubFmlyCd>RRTN</SubFmlyCd>" if returned else "<Cd>ICDT</Cd><SubFmlyCd>ESCT</SubFmlyCd>"
    rtr = f"<RtrInf><Rsn><Cd>{escape(str(line.return_reason))}</Cd></Rsn></RtrInf>" if returned else ""
    tx_amount = f'<Amt Ccy="{line.currency}">{line.amount}</Amt>' if int(version) >= 3 else ""
    return (
        f'<Ntry><Amt Ccy="{line.currency}">{line.amount}</Amt><CdtDbtInd>{"CRDT" if line.credit else "DBIT"}</CdtDbtInd>'
        f"{reversal}{sts}<BookgDt><Dt>2026-12-03</Dt></BookgDt><ValDt><Dt>2026-12-03</Dt></ValDt>"
        f"<AcctSvcrRef>{escape(line.ref)}</AcctSvcrRef>"
        f"<BkTxCd><Domn><Cd>PMNT</Cd><Fmly>{family}</Fmly></Domn></BkTxCd>"
        f"<NtryDtls><TxDtls>{refs}{tx_amount}{rmt}{rtr}</TxDtls></NtryDtls></Ntry>"
    )


_ACCOUNT = "<Acct><Id><IBAN>DE02120300000000202051</IBAN></Id></Acct>"


def camt054(lines: list[Line], version: str = "08") -> bytes:
    entries = "".join(_entry(line, version) for line in lines)
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>'
        f'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.{version}"><BkToCstmrDbtCdtNtfctn>'
        "<GrpHdr><MsgId>NTF-20261203-1</MsgId><CreDtTm>2026-12-03T18:00:00</CreDtTm></GrpHdr>"
        f"<Ntfctn><Id>NTF-1</Id><CreDtTm>2026-12-03T18:00:00</CreDtTm>{_ACCOUNT}{entries}</Ntfctn>"
        "</BkToCstmrDbtCdtNtfctn></Document>"
    ).encode()


def camt053(lines: list[Line], version: str = "02") -> bytes:
    entries = "".join(_entry(line, version) for line in lines)
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>'
        f'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.{version}"><BkToCstmrStmt>'
        "<GrpHdr><MsgId>STMT-20261203</MsgId><CreDtTm>2026-12-03T23:00:00</CreDtTm></GrpHdr>"
        f"<Stmt><Id>STMT-1</Id><CreDtTm>2026-12-03T23:00:00</CreDtTm>{_ACCOUNT}{entries}</Stmt>"
        "</BkToCstmrStmt></Document>"
    ).encode()
