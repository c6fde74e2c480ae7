"""Product pictures, pure: what an upload may be and the renditions made of it (shop.catalog.images)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from devstack.s3_events import encode_key, event_record
from devstack.template import load_app
from shop.catalog import images
from shop.catalog.images import RejectedImage, render
from shop.catalog.models import ImageUploadBody
from shop.errors import BadRequest
from shop.http import validate

ROOT = Path(__file__).resolve().parents[2]
ORIENTATION = 0x0112


def encoded(image: Image.Image, kind: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, kind, **options)
    return out.getvalue()


def opened(data: bytes) -> Image.Image:
    picture = Image.open(io.BytesIO(data))
    picture.load()
    return picture


def test_png_gives_a_thumbnail_and_a_detail_webp_within_their_boxes() -> None:
    out = render(encoded(Image.new("RGB", (2400, 1200), (10, 120, 200)), "PNG"))
    assert [r.name for r in out] == ["thumbnail", "detail"]
    for r, box in zip(out, [images.RENDITIONS["thumbnail"], images.RENDITIONS["detail"]], strict=True):
        picture = opened(r.data)
        assert picture.format == "WEBP" and r.content_type == "image/webp"
        assert (picture.width, picture.height) == (r.width, r.height)
        assert r.width == box[0] and r.height == box[0] // 2  # aspect ratio kept
    assert opened(out[0].data).getpixel((10, 10))[:3] == pytest.approx((10, 120, 200), abs=6)


def test_a_small_picture_is_never_enlarged() -> None:
    out = render(encoded(Image.new("RGB", (300, 200), "white"), "WEBP"))
    assert [(r.width, r.height) for r in out] == [(300, 200), (300, 200)]


def test_exif_orientation_is_applied_and_no_metadata_is_kept() -> None:
    """A 400x200 JPEG whose EXIF says "rotate 90° clockwise" becomes portrait, and nothing of its
    EXIF, ICC profile or comment survives."""
    source = Image.new("RGB", (400, 200), (255, 0, 0))
    source.paste((0, 0, 255), (0, 0, 200, 200))  # left half blue, so the rotation's direction shows
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    exif[0x010F] = "Camera Maker"
    icc = b"\x00" * 128
    data = encoded(source, "JPEG", exif=exif.tobytes(), icc_profile=icc, comment=b"secret")
    assert opened(data).getexif()[ORIENTATION] == 6
    for r in render(data):
        picture = opened(r.data)
        assert picture.height > picture.width  # upright: portrait
        assert dict(picture.getexif()) == {}
        assert not {"exif", "icc_profile", "xmp", "comment"} & set(picture.info)
        top = picture.getpixel((picture.width // 2, 2))
        assert top[2] > 200 and top[0] < 60  # rotated clockwise: the blue left half is now on top


def test_transparency_is_kept() -> None:
    source = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    picture = opened(render(encoded(source, "PNG"))[0].data)
    assert picture.mode == "RGBA" and picture.getpixel((5, 5))[3] == 0


@pytest.mark.parametrize(("data", "reason"), [
    (b"this is a text file, not a picture", "not an image"),
    (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "not an image"),
    (b"", "empty"),
    (encoded(Image.new("RGB", (20, 20)), "GIF"), "GIF"),
    (encoded(Image.new("RGB", (20, 20)), "BMP"), "BMP"),
    (encoded(Image.new("RGB", (200, 200)), "PNG")[:120], "could not be read"),
])
def test_what_is_not_a_jpeg_png_or_webp_is_refused(data: bytes, reason: str) -> None:
    with pytest.raises(RejectedImage, match=reason):
        render(data)


def test_more_bytes_than_the_limit_are_refused() -> None:
    with pytest.raises(RejectedImage, match=r"at most 5\.0 MiB"):
        render(b"\x89PNG" + b"\x00" * images.MAX_UPLOAD_BYTES)


@pytest.mark.parametrize("size", [(7000, 7000), (10000, 10000)])  # above the limit; above twice the limit
def test_decompression_bombs_are_refused_before_their_pixels_are_decoded(size: tuple[int, int]) -> None:
    bomb = encoded(Image.new("1", size), "PNG")
    assert len(bomb) < 200_000
    with pytest.raises(RejectedImage, match="pixels"):
        render(bomb)


def test_upload_request_names_what_is_wrong() -> None:
    assert validate(ImageUploadBody, {"contentType": "image/png", "size": 1000}).size == 1000
    with pytest.raises(BadRequest) as svg:
        validate(ImageUploadBody, {"contentType": "image/svg+xml", "size": 1000})
    assert svg.value.details[0]["message"] == "image/svg+xml is not accepted: upload a JPEG, PNG or WebP image"
    with pytest.raises(BadRequest) as big:
        validate(ImageUploadBody, {"contentType": "image/jpeg", "size": 6 * 1024 * 1024})
    assert big.value.details[0]["message"] == "the file is 6.0 MiB; an image may be at most 5.0 MiB"
    with pytest.raises(BadRequest):
        validate(ImageUploadBody, {"contentType": "image/jpeg", "size": 0})


def test_template_declares_the_bucket_notification_the_runtime_emulates() -> None:
    app = load_app(ROOT / "template.yaml")
    (n,) = app.s3
    assert (n.function, n.bucket, n.events, n.prefix) == (
        "ProcessProductImageFunction", "shop-local-000000000000-product-images", ("s3:ObjectCreated:*",), "uploads/")
    assert n.max_retry_attempts == 2 and n.on_failure == "arn:aws:sqs:us-east-1:000000000000:shop-image-events-dlq"
    policy = app.bucket_policies[n.bucket]["Statement"][0]
    assert policy["Resource"] == f"arn:aws:s3:::{n.bucket}/products/*" and policy["Action"] == "s3:GetObject"
    # Every function reads the same bucket name the notification names.
    assert {f.environment["PRODUCT_IMAGES_BUCKET"] for f in app.functions.values()} == {n.bucket}


def test_s3_event_keys_are_url_encoded_as_s3_does() -> None:
    assert encode_key("uploads/a b+c=d/é.png") == "uploads/a+b%2Bc%3Dd/%C3%A9.png"
    record = event_record(region="us-east-1", event_name="s3:ObjectCreated:Post", event_time="2026-01-01T00:00:00.000Z",
                          configuration_id="F-E", bucket="b", key="k 1", size=3, etag="e", sequencer="01")
    assert record["eventName"] == "ObjectCreated:Post" and record["s3"]["object"]["key"] == "k+1"
