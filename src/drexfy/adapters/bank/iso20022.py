"""BankFiles over ISO 20022: IBANs checked by `schwifty`, pain.001.001.03 credit transfers built
by `sepaxml` and validated by it against the ISO schema it ships (through `xmlschema`), camt
statements read by `camt.read_camt`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import attrs
from schwifty import IBAN
from schwifty.exceptions import SchwiftyException
from sepaxml import SepaTransfer

from drexfy.adapters.bank.camt import read_camt
from drexfy.domain.errors import ConfigurationError, ProviderError, ValidationFailed
from drexfy.domain.ports import BankEntry, CreditTransfer


@attrs.frozen
class BankAccount:
    """`bank.*`: the platform's own account, the debtor of every payout."""

    name: str
    iban: str = attrs.field(repr=False)
    bic: str = ""


#: What was wrong, by schwifty's exception: its own messages may quote the account number, which
#: must not reach an error, a response or a log.
_WHY = {
    "InvalidChecksumDigits": "the check digits do not match",
    "InvalidLength": "wrong length for its country",
    "InvalidCountryCode": "unknown country code",
    "InvalidStructure": "the account part does not match its country's format",
    "InvalidBankCode": "unknown bank code",
    "InvalidAccountCode": "invalid account number",
}


def _iban(text: str, field: str) -> IBAN:
    try:
        return IBAN(text)
    except SchwiftyException as bad:
        why = _WHY.get(type(bad).__name__, "not in IBAN form")
        raise ValidationFailed(f"{field}: not a valid IBAN ({why})") from None


class Iso20022Bank:
    def __init__(self, account: BankAccount) -> None:
        if not account.name:
            raise ConfigurationError("bank.name: required to pay withdrawals out")
        try:
            _iban(account.iban, "bank.iban")
        except ValidationFailed as bad:
            raise ConfigurationError(bad.message) from None
        self._account = account

    def normalize_iban(self, text: str) -> str:
        if not isinstance(text, str) or len(text) > 64:
            raise ValidationFailed("iban: not a valid IBAN")
        return str(_iban(text, "iban").compact)

    def credit_transfers(self, batch_id: str, transfers: Sequence[CreditTransfer], execution: date) -> bytes:
        config = {
            "name": self._account.name,
            "IBAN": str(_iban(self._account.iban, "bank.iban").compact),
            "batch": True,
            "currency": "EUR",
        }
        if self._account.bic:
            config["BIC"] = self._account.bic
        sepa = SepaTransfer(config, schema="pain.001.001.03", clean=True)
        for transfer in transfers:
            if transfer.amount.currency != "EUR":
                raise ValidationFailed(f"{transfer.end_to_end_id}: SEPA transfers are in EUR")
            sepa.add_payment(
                {
                    "name": transfer.creditor_name,
                    "IBAN": self.normalize_iban(transfer.iban),
                    "amount": transfer.amount.minor,
                    "execution_date": execution,
                    "description": f"Drexfy payout {transfer.end_to_end_id}",
                    "endtoend_id": transfer.end_to_end_id,
                }
            )
        try:
            return bytes(sepa.export(validate=True))
        except Exception as exc:  # sepaxml raises plain exceptions when the schema refuses the file
            raise ProviderError(
                f"the pain.001 file does not validate: {type(exc).__name__}: {str(exc)[:200]}"
            ) from None

    def read_statement(self, data: bytes) -> list[BankEntry]:
        return read_camt(data)
