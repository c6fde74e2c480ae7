"""The OpenAPI 3.1 document of the HTTP API, built from the models the handlers validate with."""

from shop.openapi.document import OpenApiDocument, build_document, document

__all__ = ["OpenApiDocument", "build_document", "document"]
