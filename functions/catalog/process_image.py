"""On s3:ObjectCreated under uploads/: make the product's picture sizes, or refuse the file (aws:s3 event)."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.data_classes import S3Event, event_source

from shop.catalog import image_uploads
from shop.observability import observe


@observe
@event_source(data_class=S3Event)
def handler(event: S3Event, context: Any) -> dict[str, Any]:
    # S3 sends object keys URL-encoded (a space as "+").
    return {"outcomes": [
        image_uploads.process_upload(r.s3.bucket.name, unquote_plus(r.s3.get_object.key), r.s3.get_object.size)
        for r in event.records]}
