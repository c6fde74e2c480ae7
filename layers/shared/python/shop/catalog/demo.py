"""Demo products for the local stack, created through the normal use case (events included), and
their pictures, drawn here with Pillow and stored through the same steps as an admin's upload."""

from __future__ import annotations

import io
import uuid
import zlib
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from shop.catalog import images
from shop.catalog.image_uploads import attach, has_stored_image
from shop.catalog.models import ProductCreate
from shop.catalog.service import create_product
from shop.catalog.store import products, sku_owner
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


#: category → (background, accent) colours of its demo pictures.
_PALETTE: dict[str, tuple[tuple[int, int, int], tuple[int, int, int]]] = {
    "electronics": ((38, 70, 83), (42, 157, 143)),
    "home": ((233, 196, 106), (231, 111, 81)),
    "books": ((69, 123, 157), (230, 57, 70)),
}


def draw_picture(name: str, category: str, size: tuple[int, int] = (640, 480)) -> bytes:
    """A PNG for a demo product: its category's colours, a shape and the product's initials."""
    back, accent = _PALETTE.get(category, ((120, 120, 120), (200, 200, 200)))
    w, h = size
    picture = Image.new("RGB", size, back)
    draw = ImageDraw.Draw(picture)
    seed = zlib.crc32(name.encode())
    for i in range(6):  # a few soft stripes, placed by the name so each product looks its own
        x = (seed >> (i * 4)) % w
        draw.rectangle((x, 0, x + w // 12, h), fill=tuple(min(255, c + 12 * (i % 3)) for c in back))
    r = min(w, h) // 3
    draw.ellipse((w // 2 - r, h // 2 - r, w // 2 + r, h // 2 + r), fill=accent)
    initials = "".join(word[0] for word in name.split()[:2]).upper()
    font = ImageFont.load_default(size=min(w, h) // 4)
    draw.text((w // 2, h // 2), initials, fill=(255, 255, 255), font=font, anchor="mm")
    out = io.BytesIO()
    picture.save(out, "PNG")
    return out.getvalue()


def seed_demo_images() -> int:
    """Give every demo product without a stored picture one; returns how many were drawn."""
    drawn = 0
    for _name, _category, _price, _stock, sku, _description in DEMO_PRODUCTS:
        doc = products().find_one({"sku": sku})
        if doc is None or has_stored_image(doc):
            continue
        renditions = images.render(draw_picture(doc["name"], doc["category"]))
        attach(doc["_id"], str(uuid.uuid4()), renditions, correlation_id="bootstrap-demo-images")
        drawn += 1
    return drawn
