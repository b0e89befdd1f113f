"""Money and exact pro-rata allocation."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drexfy.domain.errors import CurrencyMismatch, InvalidAmount
from drexfy.domain.money import Money, allocate


def test_parse_and_format_are_exact():
    assert Money.parse("1250.50", "EUR") == Money(125050, "EUR")
    assert str(Money(5, "EUR")) == "0.05 EUR"
    assert Money.parse("7", "JPY") == Money(7, "JPY")


@pytest.mark.parametrize("text", ["1.005", "abc", "NaN", "Infinity"])
def test_parse_refuses_what_is_not_an_exact_amount(text):
    with pytest.raises(InvalidAmount):
        Money.parse(text, "EUR")


def test_float_is_refused():
    with pytest.raises(InvalidAmount):
        Money(1.5, "EUR")  # type: ignore[arg-type]


def test_unknown_currency_is_refused():
    with pytest.raises(InvalidAmount):
        Money(1, "XXX")


def test_mixing_currencies_is_an_error():
    with pytest.raises(CurrencyMismatch):
        Money(1, "EUR") + Money(1, "USD")
    with pytest.raises(CurrencyMismatch):
        assert Money(1, "EUR") < Money(2, "USD")


def test_multiplication_only_by_integers():
    assert Money(250, "EUR") * 3 == Money(750, "EUR")
    with pytest.raises(TypeError):
        Money(250, "EUR") * 1.5  # type: ignore[operator]


def test_largest_remainder_gives_the_spare_cent_to_the_largest_remainder():
    assert allocate(10000, [("ana", 100), ("bob", 200), ("cleo", 33)]) == {"ana": 3003, "bob": 6006, "cleo": 991}


def test_ties_are_broken_by_weight_then_key():
    assert allocate(1, [("b", 1), ("a", 1)]) == {"a": 1, "b": 0}
    assert allocate(2, [("x", 1), ("y", 1), ("z", 1)]) == {"x": 1, "y": 1, "z": 0}


def test_zero_weights_get_nothing_and_bad_input_is_refused():
    assert allocate(0, [("a", 0)]) == {"a": 0}
    with pytest.raises(InvalidAmount):
        allocate(5, [("a", 0)])
    with pytest.raises(InvalidAmount):
        allocate(-1, [("a", 1)])
    with pytest.raises(InvalidAmount):
        allocate(1, [("a", 1), ("a", 2)])


weights = st.lists(
    st.tuples(st.text(min_size=1, max_size=6), st.integers(min_value=0, max_value=10**9)),
    min_size=1,
    max_size=60,
    unique_by=lambda kw: kw[0],
).filter(lambda ws: sum(w for _, w in ws) > 0)


@given(total=st.integers(min_value=0, max_value=10**15), weights=weights)
def test_allocation_sums_exactly_and_is_within_one_unit_of_the_exact_share(total, weights):
    shares = allocate(total, weights)
    assert sum(shares.values()) == total
    weight_sum = sum(w for _, w in weights)
    for key, weight in weights:
        exact = Decimal(total) * weight / weight_sum
        assert exact - 1 < shares[key] < exact + 1
        assert shares[key] >= 0


@given(total=st.integers(min_value=0, max_value=10**12), weights=weights)
def test_allocation_is_deterministic_whatever_the_input_order(total, weights):
    assert allocate(total, weights) == allocate(total, list(reversed(weights)))


@given(a=st.integers(-(10**12), 10**12), b=st.integers(-(10**12), 10**12))
def test_addition_and_subtraction_are_exact(a, b):
    assert (Money(a, "EUR") + Money(b, "EUR")).minor == a + b
    assert (Money(a, "EUR") - Money(b, "EUR") + Money(b, "EUR")) == Money(a, "EUR")
