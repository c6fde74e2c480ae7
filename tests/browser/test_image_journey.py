"""Product pictures: the admin uploads them from the product form, open storefronts show them live,
bad files are refused with a message and change nothing; README screenshots at two widths."""

from __future__ import annotations

import io
import urllib.request
from typing import Any

import pytest
from PIL import Image
from playwright.sync_api import expect

from devstack.testing import Stack
from tests.browser.conftest import LIVE, Shots, customer_account, make_product, readme_image
from tests.conftest import product_image_keys

pytestmark = [pytest.mark.browser, pytest.mark.stack]

ORIENTATION = 0x0112


def png_bytes() -> bytes:
    out = io.BytesIO()
    picture = Image.new("RGB", (900, 600), (20, 110, 190))
    picture.paste((250, 200, 40), (300, 150, 600, 450))
    picture.save(out, "PNG")
    return out.getvalue()


def rotated_jpeg_bytes() -> bytes:
    """A 800x400 landscape JPEG whose EXIF says "rotate 90° clockwise" (a phone held upright)."""
    picture = Image.new("RGB", (800, 400), (200, 40, 40))
    picture.paste((30, 160, 60), (0, 0, 400, 400))
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    exif[0x010F] = "Test Camera"
    out = io.BytesIO()
    picture.save(out, "JPEG", exif=exif.tobytes(), quality=90)
    return out.getvalue()


def fetch(url: str) -> Image.Image:
    with urllib.request.urlopen(url, timeout=30) as resp:
        assert resp.headers["Content-Type"] == "image/webp"
        picture = Image.open(io.BytesIO(resp.read()))
        picture.load()
        return picture


def product(stack: Stack, product_id: str) -> dict[str, Any]:
    r = stack.http("GET", f"/api/products/{product_id}")
    assert r.status == 200, r
    return dict(r.json)


def upload(page: Any, name: str, mime: str, data: bytes) -> None:
    page.get_by_label("Picture file").set_input_files({"name": name, "mimeType": mime, "buffer": data})
    page.get_by_role("button", name="Upload picture").click()


def test_storefront_shows_pictures_at_both_widths(stack: Stack, people: Any, shot: Shots) -> None:
    """The demo products' pictures (drawn at bootstrap) load under the site's CSP at 1280 and 375 px;
    a product without one shows the placeholder, and every picture's alt text is the product's name."""
    for width, height in ((1280, 900), (375, 812)):
        visitor = people(f"visitor {width}", width=width, height=height)
        visitor.go("/?category=electronics")
        cards = visitor.page.locator(".card")
        expect(cards.first).to_be_visible()
        expect(cards).to_have_count(4)
        for i in range(4):
            card = cards.nth(i)
            image = card.locator("img.product-image")
            expect(image).to_have_attribute("data-placeholder", "false")
            expect(image).to_have_attribute("alt", card.locator("h2").inner_text())
            visitor.page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
        visitor.go("/")
        expect(visitor.page.locator(".card img.product-image[data-placeholder=false]").first).to_be_visible()
        visitor.page.wait_for_function(
            "() => [...document.querySelectorAll('.card img')].every((i) => i.complete && i.naturalWidth > 0)")
        readme_image(visitor.page, f"storefront-{width}")
        shot(visitor.page, f"storefront {width}")
        assert visitor.errors() == []


def test_admin_uploads_a_png_and_a_rotated_jpeg_and_storefronts_follow_live(
        stack: Stack, people: Any, shot: Shots, tag: str) -> None:
    item = make_product(stack, f"Desk Lamp {tag}")
    email, password, _ = customer_account(stack, "looker")
    shopper = people("shopper")
    shopper.sign_in(email, password, then="/")
    shopper.nav(f"/?search={tag}")
    card = shopper.page.locator(".card", has_text=item["name"])
    expect(card).to_be_visible()
    card_image = card.locator("img.product-image")
    expect(card_image).to_have_attribute("data-placeholder", "true")
    expect(card_image).to_have_attribute("alt", item["name"])
    shopper.mark()
    shot(shopper.page, "storefront placeholder")

    admin = people("admin")
    admin.sign_in(stack.admin_email, stack.admin_password, then=f"/admin/products/{item['id']}")
    page = admin.page
    expect(page.get_by_label("Name")).to_have_value(item["name"])
    upload(page, "lamp.png", "image/png", png_bytes())
    expect(page.locator("[data-image-status]")).to_contain_text("Picture saved: lamp.png", timeout=LIVE)
    shot(page, "png saved")

    after_png = product(stack, item["id"])["image"]
    assert after_png is not None
    assert (after_png["thumbnail"]["width"], after_png["thumbnail"]["height"]) == (480, 320)
    expect(card_image).to_have_attribute("src", after_png["thumbnail"]["url"], timeout=LIVE)  # live
    shopper.page.wait_for_function("img => img.complete && img.naturalWidth === 480", arg=card_image.element_handle())
    shot(shopper.page, "storefront shows the png")

    upload(page, "upright.jpg", "image/jpeg", rotated_jpeg_bytes())
    expect(page.locator("[data-image-status]")).to_contain_text("Picture saved: upright.jpg", timeout=LIVE)
    after_jpeg = product(stack, item["id"])["image"]
    for size in ("thumbnail", "detail"):
        processed = fetch(after_jpeg[size]["url"])
        assert processed.format == "WEBP"
        assert processed.height == 2 * processed.width  # the EXIF rotation was applied: portrait
        assert dict(processed.getexif()) == {} and "exif" not in processed.info
        top_middle = processed.getpixel((processed.width // 2, 5))
        assert top_middle[1] > 120 and top_middle[0] < 90  # rotated clockwise: the green left half is on top
    expect(card_image).to_have_attribute("src", after_jpeg["thumbnail"]["url"], timeout=LIVE)
    assert product_image_keys(stack, item["id"]) == sorted(
        f"products/{item['id']}/{r['url'].rsplit('/', 1)[1]}" for r in after_jpeg.values())  # the png is gone
    assert shopper.not_reloaded()
    shot(shopper.page, "storefront shows the jpeg")

    shopper.nav(f"/product/{item['id']}")
    detail = shopper.page.locator("article.detail img.product-image")
    expect(detail).to_have_attribute("src", after_jpeg["detail"]["url"])
    expect(detail).to_have_attribute("alt", item["name"])
    shopper.page.wait_for_function("img => img.complete && img.naturalHeight === 2 * img.naturalWidth",
                                   arg=detail.element_handle())
    shot(shopper.page, "detail page shows the jpeg upright")
    assert shopper.errors() == []
    assert admin.errors() == []


def test_bad_files_are_refused_with_a_message_and_change_nothing(
        stack: Stack, people: Any, shot: Shots, tag: str) -> None:
    item = make_product(stack, f"Plain Mug {tag}")
    before = product(stack, item["id"])
    admin = people("admin")
    admin.sign_in(stack.admin_email, stack.admin_password, then=f"/admin/products/{item['id']}")
    page = admin.page
    status = page.locator("[data-image-status]")
    expect(page.get_by_label("Name")).to_have_value(item["name"])

    upload(page, "notes.png", "image/png", b"these are my notes, not a picture\n" * 20)
    expect(status).to_contain_text("notes.png was refused: the file is not an image: upload a JPEG, PNG or WebP image."
                                   " The product is unchanged.", timeout=LIVE)
    expect(status.locator("[role=alert]")).to_be_visible()
    shot(page, "not an image refused")

    upload(page, "huge.jpg", "image/jpeg", b"\xff\xd8\xff" + b"\x00" * (6 * 1024 * 1024))
    expect(status).to_contain_text("huge.jpg was refused: the file is 6.0 MiB; an image may be at most 5.0 MiB.")
    expect(page.get_by_label("Picture file")).to_have_attribute("aria-invalid", "true")
    shot(page, "oversized refused")

    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>'
    upload(page, "logo.svg", "image/svg+xml", svg)
    expect(status).to_contain_text("logo.svg was refused: image/svg+xml is not accepted: upload a JPEG, PNG or WebP image.")
    shot(page, "svg refused")

    assert product(stack, item["id"]) == before  # no picture, same updatedAt: unchanged
    assert product_image_keys(stack, item["id"]) == []  # the refused upload was deleted; nothing else was stored
    assert admin.errors(r"status of 400") == []  # the API's refusals of the oversized file and the SVG
