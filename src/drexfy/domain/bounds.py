"""The bounds of every number and string the domain accepts, and their checks.

One place says what fits everywhere a value goes: an amount of money or a count of units must be
held exactly by the SQLite store (signed 64-bit integers), DynamoDB (38 digits), an XRPL issued
amount (16 significant digits), an EVM uint256, and a JavaScript frontend (integers above 2^53 lose
precision). 10^15 - 1 fits all of them. Text must be encodable as UTF-8: JSON can carry a lone
UTF-16 surrogate (`"\\ud800"`) that no store, log or ledger memo can write.
"""

from __future__ import annotations

from drexfy.domain.errors import ValidationFailed, ValueOutOfRange

#: The largest amount of money, in minor units (9,999,999,999,999.99 EUR).
MAX_MINOR = 10**15 - 1
#: The largest count of units (of an instrument, an order, a repayment's retirement).
MAX_UNITS = 10**15 - 1
#: The longest free text (a name, a reason, a period) in characters.
MAX_TEXT = 1000


def check_units(value: object, what: str = "units") -> int:
    """A count of units: a whole number from 1 to MAX_UNITS."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValidationFailed(f"{what} must be a whole number")
    if not 1 <= value <= MAX_UNITS:
        raise ValueOutOfRange(f"{what} must be from 1 to {MAX_UNITS}, got {value}")
    return value


def is_text(value: str) -> bool:
    """True if the string can be written as UTF-8 (no lone surrogates)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_text(value: str, what: str, *, max_length: int = MAX_TEXT, required: bool = True) -> str:
    """Free text: valid Unicode, at most `max_length` characters, not blank when required."""
    if not is_text(value):
        raise ValidationFailed(f"{what} is not valid Unicode text (it holds a lone surrogate)")
    if len(value) > max_length:
        raise ValueOutOfRange(f"{what} must be at most {max_length} characters")
    if required and not value.strip():
        raise ValidationFailed(f"{what} must not be empty")
    return value
