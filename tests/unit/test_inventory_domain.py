"""Pure stock arithmetic of shop.inventory.domain (no services)."""

from __future__ import annotations

import random

import pytest

from shop.errors import Conflict
from shop.inventory import domain
from shop.inventory.domain import InsufficientStock, InvalidQuantity, Line, Stock


def test_available_is_stock_minus_reserved() -> None:
    """available = stock - reserved."""
    assert Stock(stock=10, reserved=3, sold=7).available == 7


def test_reserve_holds_units() -> None:
    """Reserving moves units from available to reserved without touching stock."""
    s = domain.reserve(Stock(stock=5), 3)
    assert (s.stock, s.reserved, s.available, s.sold) == (5, 3, 2, 0)


def test_reserve_last_unit_then_shortage() -> None:
    """The last unit can be reserved once; the next request is a shortage naming the figures."""
    s = domain.reserve(Stock(stock=1), 1)
    with pytest.raises(InsufficientStock) as info:
        domain.reserve(s, 1)
    assert (info.value.requested, info.value.available, info.value.status) == (1, 0, 409)


@pytest.mark.parametrize("quantity", [0, -1, True, 1.5])
def test_quantities_must_be_positive_integers(quantity: object) -> None:
    """Zero, negative, boolean and fractional quantities are rejected."""
    with pytest.raises(InvalidQuantity):
        domain.reserve(Stock(stock=5), quantity)  # type: ignore[arg-type]


def test_release_gives_units_back() -> None:
    """Releasing undoes a reservation."""
    assert domain.release(domain.reserve(Stock(stock=4), 4), 4) == Stock(stock=4)


def test_release_more_than_reserved_is_refused() -> None:
    """One cannot release units that were never held."""
    with pytest.raises(InvalidQuantity):
        domain.release(Stock(stock=4, reserved=1), 2)


def test_commit_moves_reserved_to_sold() -> None:
    """Committing removes units from stock and reserved and counts them as sold."""
    s = domain.commit(Stock(stock=10, reserved=4), 3)
    assert (s.stock, s.reserved, s.sold, s.available) == (7, 1, 3, 6)


def test_commit_more_than_reserved_is_refused() -> None:
    """Only held units can be sold."""
    with pytest.raises(InvalidQuantity):
        domain.commit(Stock(stock=10, reserved=1), 2)


def test_return_sold_puts_units_back() -> None:
    """Returning sold units puts them back on the shelf."""
    s = domain.return_sold(Stock(stock=7, reserved=0, sold=3), 3)
    assert (s.stock, s.sold, s.available) == (10, 0, 10)


def test_adjust_delta_and_absolute() -> None:
    """A delta restocks or writes off; an absolute stock sets the count."""
    assert domain.adjust(Stock(stock=5), delta=10).stock == 15
    assert domain.adjust(Stock(stock=5), delta=-5).stock == 0
    assert domain.adjust(Stock(stock=5, reserved=2), stock=2).stock == 2


def test_adjust_needs_exactly_one_of_delta_or_stock() -> None:
    """Both or neither of delta/stock is a 400."""
    with pytest.raises(InvalidQuantity):
        domain.adjust(Stock(stock=5))
    with pytest.raises(InvalidQuantity):
        domain.adjust(Stock(stock=5), delta=1, stock=1)


def test_adjust_never_below_zero_or_reserved() -> None:
    """Stock may not go negative nor below the units promised to orders."""
    with pytest.raises(Conflict) as short:
        domain.adjust(Stock(stock=5), delta=-6)
    assert short.value.code == "insufficient_stock"
    with pytest.raises(InvalidQuantity):
        domain.adjust(Stock(stock=5), stock=-1)
    with pytest.raises(Conflict) as info:
        domain.adjust(Stock(stock=5, reserved=3), stock=2)
    assert info.value.code == "stock_below_reserved"


def test_merge_lines_sums_and_sorts() -> None:
    """Duplicate products are summed and lines come out in product-id order."""
    lines = domain.merge_lines([("b", 1), ("a", 2), ("b", 3)])
    assert lines == [Line("a", 2), Line("b", 4)]


def test_merge_lines_rejects_bad_quantities() -> None:
    """A zero quantity anywhere rejects the whole order."""
    with pytest.raises(InvalidQuantity):
        domain.merge_lines([("a", 1), ("b", 0)])


def test_is_low() -> None:
    """Low stock means available strictly below the threshold."""
    assert domain.is_low(Stock(stock=9), 10)
    assert not domain.is_low(Stock(stock=10), 10)
    assert domain.is_low(Stock(stock=20, reserved=15), 10)


def test_random_operations_keep_invariants() -> None:
    """Any sequence of operations keeps every figure >= 0 and available = stock - reserved."""
    rng = random.Random(1234)
    for _ in range(200):
        s = Stock(stock=rng.randint(0, 20))
        total = s.stock  # units that ever entered: stock + sold stays equal to it plus restocks
        for _ in range(50):
            op = rng.choice(["reserve", "release", "commit", "return", "restock", "writeoff"])
            qty = rng.randint(1, 6)
            try:
                if op == "reserve":
                    s = domain.reserve(s, qty)
                elif op == "release":
                    s = domain.release(s, qty)
                elif op == "commit":
                    s = domain.commit(s, qty)
                elif op == "return":
                    s = domain.return_sold(s, qty)
                elif op == "restock":
                    s = domain.adjust(s, delta=qty)
                    total += qty
                else:
                    before = s.stock
                    s = domain.adjust(s, delta=-qty)
                    total -= before - s.stock
            except (InsufficientStock, InvalidQuantity, Conflict):
                pass
            assert s.stock >= 0 and s.reserved >= 0 and s.sold >= 0
            assert s.available == s.stock - s.reserved >= 0
            assert s.stock + s.sold == total
