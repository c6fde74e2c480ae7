"""Product pictures through S3: hand out a presigned upload, process what arrives, show it.

1. ``create_upload`` (admin, HTTP): an ``image_uploads`` record (``waiting``) and a presigned POST
   for ``uploads/<productId>/<uploadId>`` limited to the declared content type and to
   ``images.MAX_UPLOAD_BYTES``; the browser sends the file straight to the bucket.
2. ``process_upload`` (the bucket's ``s3:ObjectCreated:*`` event on ``uploads/``): reads the object,
   makes the renditions (:mod:`shop.catalog.images`), writes them under ``products/<productId>/``,
   records them on the product with ``product.updated`` in its outbox, marks the upload ``ready``
   and deletes the upload. A bad file marks the upload ``rejected`` with the reason; the product is
   unchanged and the upload is deleted. Each step is idempotent, so a retried event does no harm.
3. ``upload_state`` (admin, HTTP): what became of an upload, for the product form.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from botocore.exceptions import ClientError

from shop import clients
from shop.catalog import images, store
from shop.catalog.images import RejectedImage, Rendition
from shop.config import get_settings
from shop.envelope import PRODUCT_UPDATED, make_event, utc_now_iso
from shop.errors import NotFound
from shop.outbox import add_events
from shop.store import Doc

log = logging.getLogger(__name__)

SOURCE = "products"
UPLOAD_PREFIX = "uploads/"
RENDITION_PREFIX = "products/"


def _s3() -> Any:
    return clients.aws_client("s3")


def bucket() -> str:
    return get_settings().product_images_bucket


def images_base_url() -> str:
    """Where browsers read the bucket: ``PRODUCT_IMAGES_URL``, else the bucket's S3 URL."""
    s = get_settings()
    if s.product_images_url:
        return s.product_images_url.rstrip("/")
    if s.aws_endpoint_url:
        return f"{s.aws_endpoint_url.rstrip('/')}/{s.product_images_bucket}"
    return f"https://{s.product_images_bucket}.s3.{s.aws_region}.amazonaws.com"


def public_image(image: dict[str, Any] | None) -> dict[str, Any] | None:
    """A product's stored picture (object keys) as the API shows it (URLs)."""
    if not image:
        return None
    base = images_base_url()
    return {name: {"url": f"{base}/{r['key']}", "width": r["width"], "height": r["height"]}
            for name, r in image["renditions"].items()}


def upload_key(product_id: str, upload_id: str) -> str:
    return f"{UPLOAD_PREFIX}{product_id}/{upload_id}"


def parse_upload_key(key: str) -> tuple[str, str] | None:
    """``(productId, uploadId)`` of an upload key, or None for anything else."""
    if not key.startswith(UPLOAD_PREFIX):
        return None
    parts = key.removeprefix(UPLOAD_PREFIX).split("/")
    return (parts[0], parts[1]) if len(parts) == 2 and all(parts) else None


def _state(doc: Doc) -> dict[str, Any]:
    return {"uploadId": doc["_id"], "productId": doc["productId"], "status": doc["status"],
            "error": doc.get("error"), "createdAt": doc["createdAt"], "updatedAt": doc["updatedAt"]}


# --- 1. hand out an upload ---------------------------------------------------------------------
def create_upload(product_id: str, content_type: str, size: int) -> dict[str, Any]:
    """A presigned POST for one picture of ``product_id`` (the type and size were validated)."""
    if store.products().find_one({"_id": product_id}, {"_id": 1}) is None:
        raise NotFound("product not found")
    upload_id = str(uuid.uuid4())
    ttl = get_settings().image_upload_ttl_seconds
    key = upload_key(product_id, upload_id)
    presigned = _s3().generate_presigned_post(
        Bucket=bucket(), Key=key, Fields={"Content-Type": content_type},
        Conditions=[{"Content-Type": content_type}, ["content-length-range", 1, images.MAX_UPLOAD_BYTES]],
        ExpiresIn=ttl)
    now = utc_now_iso()
    store.image_uploads().insert_one({"_id": upload_id, "productId": product_id, "status": "waiting",
                                      "contentType": content_type, "declaredSize": size, "error": None,
                                      "createdAt": now, "updatedAt": now})
    expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + ttl))
    return {"uploadId": upload_id, "productId": product_id, "url": presigned["url"],
            "fields": {k: str(v) for k, v in presigned["fields"].items()}, "maxBytes": images.MAX_UPLOAD_BYTES,
            "expiresAt": expires, "status": "waiting"}


def upload_state(product_id: str, upload_id: str) -> dict[str, Any]:
    doc = store.image_uploads().find_one({"_id": upload_id, "productId": product_id})
    if doc is None:
        raise NotFound("image upload not found")
    return _state(doc)


# --- 2. process what arrived -------------------------------------------------------------------
def process_upload(bucket_name: str, key: str, size: int) -> str:
    """Turn one uploaded object into the product's picture, or refuse it; the upload is deleted either way."""
    parsed = parse_upload_key(key)
    if parsed is None:
        log.warning("not an upload key; deleted", extra={"key": key})
        _delete(bucket_name, key)
        return "ignored"
    product_id, upload_id = parsed
    upload = store.image_uploads().find_one({"_id": upload_id, "productId": product_id})
    if upload is None or upload["status"] != "waiting":
        # Not handed out by us, or already decided (a retried event): nothing to keep.
        _delete(bucket_name, key)
        return "ignored" if upload is None else str(upload["status"])
    try:
        if size > images.MAX_UPLOAD_BYTES:
            raise RejectedImage(f"the file is {images.mib(size)}; an image may be at most "
                                f"{images.mib(images.MAX_UPLOAD_BYTES)}")
        body = _s3().get_object(Bucket=bucket_name, Key=key)["Body"]
        data = body.read(images.MAX_UPLOAD_BYTES + 1)
        body.close()
        renditions = images.render(data)
    except RejectedImage as exc:
        _finish(upload_id, "rejected", str(exc))
        _delete(bucket_name, key)
        log.info("image upload rejected", extra={"productId": product_id, "uploadId": upload_id, "reason": str(exc)})
        return "rejected"
    if not attach(product_id, upload_id, renditions, bucket_name=bucket_name, correlation_id=upload_id):
        _finish(upload_id, "rejected", "the product no longer exists")
        _delete(bucket_name, key)
        return "rejected"
    _finish(upload_id, "ready", None)
    _delete(bucket_name, key)
    log.info("image upload processed", extra={"productId": product_id, "uploadId": upload_id})
    return "ready"


def attach(product_id: str, upload_id: str, renditions: list[Rendition], *, bucket_name: str | None = None,
           correlation_id: str | None) -> bool:
    """Store ``renditions`` as the product's picture and publish ``product.updated``; False without the product.

    The renditions are written first, then the product points at them in one write with its event;
    the picture it showed before is deleted after that write.
    """
    where = bucket_name or bucket()
    stored: dict[str, Any] = {}
    for r in renditions:
        key = f"{RENDITION_PREFIX}{product_id}/{upload_id}-{r.name}.webp"
        _s3().put_object(Bucket=where, Key=key, Body=r.data, ContentType=r.content_type,
                         CacheControl="public, max-age=31536000, immutable")
        stored[r.name] = {"key": key, "width": r.width, "height": r.height}
    image = {"uploadId": upload_id, "renditions": stored}
    previous: dict[str, Any] = {}

    def step(doc: Doc | None) -> Doc | None:
        if doc is None:
            return None
        previous.clear()
        previous.update(doc.get("image") or {})
        if previous.get("uploadId") == upload_id:
            return None  # already attached (a retried event)
        now = utc_now_iso()
        doc["image"] = image
        doc["updatedAt"] = now
        data = {"productId": product_id, "sku": doc["sku"], "changedFields": ["image"],
                "image": public_image(image), "updatedAt": now}
        return add_events(doc, [make_event(PRODUCT_UPDATED, source=SOURCE, key=product_id, data=data,
                                           correlation_id=correlation_id)])

    doc, written = store.change(product_id, step)
    if doc is None:
        for r in stored.values():
            _delete(where, r["key"])
        return False
    if written and previous.get("renditions"):
        for r in previous["renditions"].values():
            _delete(where, r["key"])
    return True


def _finish(upload_id: str, status: str, error: str | None) -> None:
    store.image_uploads().update_one({"_id": upload_id, "status": "waiting"},
                                     {"$set": {"status": status, "error": error, "updatedAt": utc_now_iso()}})


def _delete(bucket_name: str, key: str) -> None:
    _s3().delete_object(Bucket=bucket_name, Key=key)


def has_stored_image(doc: Doc) -> bool:
    """Whether the product's picture is in the bucket (the local S3 keeps nothing across restarts)."""
    image = doc.get("image")
    if not image:
        return False
    try:
        _s3().head_object(Bucket=bucket(), Key=image["renditions"]["thumbnail"]["key"])
    except ClientError:
        return False
    return True
