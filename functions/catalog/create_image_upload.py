"""POST /api/products/{id}/image-uploads (admin): a short-lived presigned S3 POST for one picture."""

from __future__ import annotations

from typing import Any

from shop.catalog import image_uploads
from shop.catalog.models import ImageUpload, ImageUploadBody, ProductPath
from shop.http import Request, api_handler, validate
from shop.paging import NoQuery


@api_handler
def handler(request: Request) -> tuple[int, Any]:
    request.require_admin()
    path = validate(ProductPath, {"id": request.path_param("id")})
    request.parse_query(NoQuery)
    body = request.parse(ImageUploadBody)
    return 201, ImageUpload.model_validate(image_uploads.create_upload(path.id, body.contentType, body.size))
