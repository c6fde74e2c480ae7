"""Pure stock arithmetic: no I/O, every rule of the inventory figures in one place.

A product's figures are ``stock`` (units on hand, not yet sold), ``reserved`` (units held
for orders that are not delivered yet), ``sold`` (units delivered) and
``available = stock - reserved``. No operation may make any of them negative.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from shop.errors import BadRequest, Conflict

#: The ``source`` of the events inventory publishes.
SOURCE = "inventory"


class InsufficientStock(Conflict):
    """Fewer units are available than asked for."""

    code = "insufficient_stock"

    def __init__(self, requested: int, available: int, product_id: str = "") -> None:
        super().__init__(
            f"only {available} available, {requested} requested",
            details=[{"productId": product_id, "requested": requested, "available": available}],
        )
        self.requested = requested
        self.available = available


class InvalidQuantity(BadRequest):
    """A quantity or stock figure that can never be applied."""

    code = "invalid_quantity"


@dataclass(frozen=True)
class Stock:
    """The figures of one product."""

    stock: int = 0
    reserved: int = 0
    sold: int = 0

    @property
    def available(self) -> int:
        return self.stock - self.reserved


@dataclass(frozen=True)
class Line:
    """One product and quantity of an order."""

    product_id: str
    quantity: int


def _positive(quantity: int) -> None:
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0:
        raise InvalidQuantity(f"quantity must be a positive integer, got {quantity!r}")


def reserve(s: Stock, quantity: int) -> Stock:
    """Hold ``quantity`` units for an order; :class:`InsufficientStock` if fewer are available."""
    _positive(quantity)
    if quantity > s.available:
        raise InsufficientStock(quantity, max(s.available, 0))
    return Stock(stock=s.stock, reserved=s.reserved + quantity, sold=s.sold)


def release(s: Stock, quantity: int) -> Stock:
    """Give back ``quantity`` held units (order cancelled or reservation compensated)."""
    _positive(quantity)
    if quantity > s.reserved:
        raise InvalidQuantity(f"cannot release {quantity}; only {s.reserved} reserved")
    return Stock(stock=s.stock, reserved=s.reserved - quantity, sold=s.sold)


def commit(s: Stock, quantity: int) -> Stock:
    """Turn ``quantity`` held units into sold ones (order delivered): they leave the stock."""
    _positive(quantity)
    if quantity > s.reserved or quantity > s.stock:
        raise InvalidQuantity(f"cannot commit {quantity}; only {s.reserved} reserved")
    return Stock(stock=s.stock - quantity, reserved=s.reserved - quantity, sold=s.sold + quantity)


def return_sold(s: Stock, quantity: int) -> Stock:
    """Put ``quantity`` sold units back on the shelf (a delivered order came back)."""
    _positive(quantity)
    if quantity > s.sold:
        raise InvalidQuantity(f"cannot return {quantity}; only {s.sold} sold")
    return Stock(stock=s.stock + quantity, reserved=s.reserved, sold=s.sold - quantity)


def adjust(s: Stock, *, delta: int | None = None, stock: int | None = None) -> Stock:
    """Restock (``delta`` > 0), write off (``delta`` < 0) or set the count (``stock``).

    Exactly one of the two is given. Stock may not drop below what is reserved: held units
    are promised to orders.
    """
    if (delta is None) == (stock is None):
        raise InvalidQuantity("give exactly one of delta or stock")
    if stock is not None:
        if stock < 0:
            raise InvalidQuantity(f"stock must not be negative, got {stock}")
        new_stock = stock
    else:
        assert delta is not None
        new_stock = s.stock + delta
        if new_stock < 0:
            raise Conflict(f"cannot remove {-delta}; only {s.stock} in stock", code="insufficient_stock")
    if new_stock < s.reserved:
        raise Conflict(
            f"stock {new_stock} would be below the {s.reserved} units reserved for orders",
            code="stock_below_reserved",
        )
    return Stock(stock=new_stock, reserved=s.reserved, sold=s.sold)


def merge_lines(items: Iterable[tuple[str, int]]) -> list[Line]:
    """One line per product (quantities summed), sorted by product id: the reservation order.

    A fixed order means two orders never hold each other's products in opposite order.
    """
    totals: dict[str, int] = {}
    for product_id, quantity in items:
        _positive(quantity)
        totals[product_id] = totals.get(product_id, 0) + quantity
    return [Line(product_id=p, quantity=q) for p, q in sorted(totals.items())]


def is_low(s: Stock, threshold: int) -> bool:
    """Whether the product should appear in the low-stock listing."""
    return s.available < threshold
