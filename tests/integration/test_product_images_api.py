"""Product pictures through the real stack: presigned uploads, the bucket's event, the processing function."""

from __future__ import annotations

import io
import uuid
from typing import Any

import pytest
import requests
from PIL import Image

from devstack.testing import EVENTUAL, Stack, wait_for
from tests.conftest import product_image_keys

pytestmark = pytest.mark.stack



def ask(stack: Stack, product_id: str, content_type: str, size: int, token: str | None = None) -> Any:
    return stack.http("POST", f"/api/products/{product_id}/image-uploads", token=token or stack.admin_token(),
                      json_body={"contentType": content_type, "size": size})


def send(upload: dict[str, Any], data: bytes, content_type: str) -> requests.Response:
    return requests.post(upload["url"], data=upload["fields"], files={"file": ("f", data, content_type)}, timeout=60)


def outcome(stack: Stack, product_id: str, upload_id: str) -> dict[str, Any]:
    def settled() -> dict[str, Any] | None:
        r = stack.http("GET", f"/api/products/{product_id}/image-uploads/{upload_id}", token=stack.admin_token())
        assert r.status == 200, r
        return None if r.json["status"] == "waiting" else dict(r.json)

    return wait_for(settled, timeout=EVENTUAL, message=f"upload {upload_id} to be processed")


def png(size: tuple[int, int], mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size).save(out, "PNG")
    return out.getvalue()


def test_only_admins_get_uploads_and_only_for_known_products(stack: Stack) -> None:
    product = stack.new_product()
    assert ask(stack, product["id"], "image/png", 10, token=stack.customer_token("pics")).status == 403
    assert stack.http("POST", f"/api/products/{product['id']}/image-uploads",
                      json_body={"contentType": "image/png", "size": 10}).status == 401
    missing = ask(stack, str(uuid.uuid4()), "image/png", 10)
    assert missing.status == 404 and missing.json["error"]["code"] == "not_found"
    r = ask(stack, product["id"], "image/png", 10)
    assert r.status == 201, r
    assert r.json["fields"]["Content-Type"] == "image/png"
    assert r.json["fields"]["key"] == f"uploads/{product['id']}/{r.json['uploadId']}"
    assert r.json["maxBytes"] == 5 * 1024 * 1024 and r.json["status"] == "waiting"


def test_an_upload_larger_than_it_said_is_refused_after_the_fact(stack: Stack) -> None:
    """The API refuses a declared size over 5 MiB; a client that lies about the size and sends more
    is refused by the function (from the event's size), and nothing is kept."""
    product = stack.new_product()
    assert ask(stack, product["id"], "image/png", 6 * 1024 * 1024).status == 400
    upload = ask(stack, product["id"], "image/png", 1000).json
    answer = send(upload, png((10, 10)) + b"\x00" * (6 * 1024 * 1024), "image/png")
    if answer.status_code >= 400:  # S3 enforces the policy's content-length-range (moto does not)
        assert b"EntityTooLarge" in answer.content
    else:
        state = outcome(stack, product["id"], upload["uploadId"])
        assert state["status"] == "rejected" and "may be at most 5.0 MiB" in state["error"]
    assert product_image_keys(stack, product["id"]) == []
    assert stack.http("GET", f"/api/products/{product['id']}").json == {**product, "image": None}


def test_a_decompression_bomb_is_refused_and_changes_nothing(stack: Stack) -> None:
    """A 100-megapixel PNG of a few KB: refused before its pixels are decoded."""
    product = stack.new_product()
    bomb = png((10_000, 10_000), "1")
    upload = ask(stack, product["id"], "image/png", len(bomb)).json
    send(upload, bomb, "image/png").raise_for_status()
    state = outcome(stack, product["id"], upload["uploadId"])
    assert state["status"] == "rejected" and "pixels" in state["error"]
    assert product_image_keys(stack, product["id"]) == []
    after = stack.http("GET", f"/api/products/{product['id']}").json
    assert after["image"] is None and after["updatedAt"] == product["updatedAt"]


def test_a_picture_reaches_the_product_and_the_event_log(stack: Stack) -> None:
    """A processed picture is on the product and in a logged product.updated (the outbox published it)."""
    product = stack.new_product()
    data = png((1000, 500))
    upload = ask(stack, product["id"], "image/png", len(data)).json
    send(upload, data, "image/png").raise_for_status()
    assert outcome(stack, product["id"], upload["uploadId"])["status"] == "ready"
    image = stack.http("GET", f"/api/products/{product['id']}").json["image"]
    assert (image["thumbnail"]["width"], image["thumbnail"]["height"]) == (480, 240)
    assert (image["detail"]["width"], image["detail"]["height"]) == (1000, 500)
    assert requests.get(image["detail"]["url"], timeout=30).headers["Content-Type"] == "image/webp"
    assert sorted(product_image_keys(stack, product["id"])) == sorted(
        f"products/{product['id']}/{upload['uploadId']}-{size}.webp" for size in ("detail", "thumbnail"))

    def logged() -> dict[str, Any] | None:
        found = stack.db()["events"].find({"type": "product.updated", "key": product["id"]})
        return next((d["envelope"] for d in found if d["envelope"]["data"]["changedFields"] == ["image"]), None)

    event = wait_for(logged, timeout=EVENTUAL, message="product.updated in the event log")
    assert event["data"]["image"] == image
