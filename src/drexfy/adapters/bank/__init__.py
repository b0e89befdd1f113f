"""The platform's bank account as ISO 20022 files: IBANs (schwifty), pain.001 credit transfers
(sepaxml, validated against the ISO schema it ships), camt.053/054 statements (read here)."""

from drexfy.adapters.bank.camt import read_camt
from drexfy.adapters.bank.iso20022 import BankAccount, Iso20022Bank

__all__ = ["BankAccount", "Iso20022Bank", "read_camt"]
