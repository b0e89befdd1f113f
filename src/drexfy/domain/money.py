"""Money as integer minor units with a currency. Never float."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

import attrs

from drexfy.domain.bounds import MAX_MINOR
from drexfy.domain.errors import AmountOutOfRange, CurrencyMismatch, InvalidAmount

# ISO 4217 minor-unit exponents of the currencies we settle in.
MINOR_UNITS: dict[str, int] = {"EUR": 2, "USD": 2, "GBP": 2, "CHF": 2, "JPY": 0}


def _check_currency(instance: Money, attribute: attrs.Attribute[str], value: str) -> None:
    if value not in MINOR_UNITS:
        raise InvalidAmount(f"unsupported currency {value!r}")


def _check_minor(instance: Money, attribute: attrs.Attribute[int], value: int) -> None:
    # bool is an int subclass; float is refused by the type check.
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidAmount(f"amount must be an integer number of minor units, got {type(value).__name__}")
    if not -MAX_MINOR <= value <= MAX_MINOR:
        # Beyond this no store, ledger or frontend holds the amount exactly (drexfy.domain.bounds).
        raise AmountOutOfRange(f"amount must be at most {MAX_MINOR} minor units in size")


@attrs.frozen(order=False)
class Money:
    """An exact amount: `minor` units of `currency` (cents for EUR)."""

    minor: int = attrs.field(validator=_check_minor)
    currency: str = attrs.field(validator=_check_currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    @classmethod
    def parse(cls, text: str, currency: str) -> Money:
        """Parse a decimal string such as "1250.50"; refuses more precision than the currency has."""
        try:
            value = Decimal(text)
        except ArithmeticError as exc:
            raise InvalidAmount(f"not a decimal amount: {text!r}") from exc
        if not value.is_finite():
            raise InvalidAmount(f"not a finite amount: {text!r}")
        exp = MINOR_UNITS.get(currency)
        if exp is None:
            raise InvalidAmount(f"unsupported currency {currency!r}")
        scaled = value.scaleb(exp)
        if scaled != scaled.to_integral_value():
            raise InvalidAmount(f"{text!r} has more than {exp} decimals for {currency}")
        return cls(int(scaled), currency)

    def _same(self, other: Money) -> None:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise CurrencyMismatch(f"{self.currency} vs {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor + other.minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor - other.minor, self.currency)

    def __mul__(self, factor: int) -> Money:
        if not isinstance(factor, int) or isinstance(factor, bool):
            raise TypeError("Money can only be multiplied by an integer")
        return Money(self.minor * factor, self.currency)

    __rmul__ = __mul__

    def __neg__(self) -> Money:
        return Money(-self.minor, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.minor < other.minor

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.minor <= other.minor

    def __gt__(self, other: Money) -> bool:
        self._same(other)
        return self.minor > other.minor

    def __ge__(self, other: Money) -> bool:
        self._same(other)
        return self.minor >= other.minor

    def is_zero(self) -> bool:
        return self.minor == 0

    def is_positive(self) -> bool:
        return self.minor > 0

    def as_decimal(self) -> Decimal:
        return (
            Decimal(self.minor)
            .scaleb(-MINOR_UNITS[self.currency])
            .quantize(Decimal(1).scaleb(-MINOR_UNITS[self.currency]), rounding=ROUND_HALF_EVEN)
        )

    def __str__(self) -> str:
        return f"{self.as_decimal()} {self.currency}"


def allocate(total: int, weights: list[tuple[str, int]]) -> dict[str, int]:
    """Split `total` minor units pro rata by integer weights, exactly (largest remainder method).

    Each key first gets floor(total * w / W); the units left over go one each to the keys with the
    largest remainders, ties broken by the larger weight and then by key, so the result is
    deterministic and always sums to `total`. Keys with zero weight get zero.
    """
    if total < 0:
        raise InvalidAmount("cannot allocate a negative amount")
    keys = [k for k, _ in weights]
    if len(set(keys)) != len(keys):
        raise InvalidAmount("duplicate keys in allocation")
    if any(w < 0 for _, w in weights):
        raise InvalidAmount("negative weight in allocation")
    weight_sum = sum(w for _, w in weights)
    if weight_sum == 0:
        if total:
            raise InvalidAmount("cannot allocate a non-zero amount over zero weight")
        return dict.fromkeys(keys, 0)
    shares: dict[str, int] = {}
    remainders: list[tuple[int, int, str]] = []
    for key, weight in weights:
        quotient, remainder = divmod(total * weight, weight_sum)
        shares[key] = quotient
        remainders.append((remainder, weight, key))
    left = total - sum(shares.values())
    # Largest remainder first; then larger weight; then the smaller key (stable, deterministic).
    remainders.sort(key=lambda r: (-r[0], -r[1], r[2]))
    for _, _, key in remainders[:left]:
        shares[key] += 1
    return shares
