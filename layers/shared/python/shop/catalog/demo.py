"""Demo products for the local stack, created through the normal use case (events included)."""

from __future__ import annotations

from typing import Any

from shop.catalog.models import ProductCreate
from shop.catalog.service import create_product
from shop.catalog.store import sku_owner
from shop.errors import Conflict

# (name, category, priceCents, stock, sku, description): some low (< 10), one sold out.
DEMO_PRODUCTS: tuple[tuple[str, str, int, int, str, str], ...] = (
    ("Wireless Earbuds", "electronics", 7999, 42, "DEMO-ELEC-001", "Noise-cancelling earbuds, 24 h battery."),
    ("USB-C Charger 65W", "electronics", 3499, 8, "DEMO-ELEC-002", "GaN charger for laptops and phones."),
    ("Mechanical Keyboard", "electronics", 11999, 15, "DEMO-ELEC-003", "Tenkeyless, hot-swappable switches."),
    ("4K Webcam", "electronics", 8999, 0, "DEMO-ELEC-004", "Autofocus webcam with privacy shutter."),
    ("Pour-Over Coffee Dripper", "home", 2499, 30, "DEMO-HOME-001", "Ceramic dripper for one or two cups."),
    ("Linen Throw Blanket", "home", 5999, 5, "DEMO-HOME-002", "Stonewashed linen, 130 x 170 cm."),
    ("Cast Iron Skillet 10in", "home", 3999, 25, "DEMO-HOME-003", "Pre-seasoned, oven safe."),
    ("The Pragmatic Programmer", "books", 4499, 12, "DEMO-BOOK-001", "20th anniversary edition, hardcover."),
    ("Designing Data-Intensive Applications", "books", 5299, 3, "DEMO-BOOK-002",
     "The big ideas behind reliable, scalable systems."),
    ("Clean Architecture", "books", 3799, 20, "DEMO-BOOK-003", "A craftsman's guide to software structure."),
)


def demo_bodies() -> list[ProductCreate]:
    """The demo products as validated create requests."""
    out = []
    for name, category, price, stock, sku, description in DEMO_PRODUCTS:
        payload: dict[str, Any] = {"name": name, "category": category, "priceCents": price, "stock": stock,
                                   "sku": sku, "description": description, "currency": "USD"}
        out.append(ProductCreate.model_validate(payload))
    return out


def seed_demo_products() -> int:
    """Create the demo products that do not exist yet (by SKU); returns how many were created."""
    created = 0
    for body in demo_bodies():
        if sku_owner(body.sku) is not None:
            continue
        try:
            create_product(body, correlation_id="bootstrap-demo-products")
        except Conflict:
            continue  # another bootstrap got there first
        created += 1
    return created
