"""GET /api/products/{id}/image-uploads/{uploadId} (admin): waiting, ready or rejected (and why)."""

from __future__ import annotations

from typing import Any

from shop.catalog import image_uploads
from shop.catalog.models import ImageUploadPath, ImageUploadState
from shop.http import Request, api_handler, validate
from shop.paging import NoQuery


@api_handler
def handler(request: Request) -> tuple[int, Any]:
    request.require_admin()
    path = validate(ImageUploadPath, {"id": request.path_param("id"), "uploadId": request.path_param("uploadId")})
    request.parse_query(NoQuery)
    return 200, ImageUploadState.model_validate(image_uploads.upload_state(path.id, path.uploadId))
