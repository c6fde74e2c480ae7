"""Pure catalog rules: canonical forms of product fields and what an update changes."""

from __future__ import annotations

import re
from typing import Any

#: Fields a client may set on a product (``stock`` lives in inventory and is set once, at creation).
EDITABLE = ("name", "description", "priceCents", "currency", "sku", "category", "active")

_REGEX_SPECIAL = re.compile(r"([.^$*+?()\[\]{}|\\/])")


def normalise_sku(sku: str) -> str:
    """SKUs are unique case-insensitively: we store them stripped and upper-cased."""
    return sku.strip().upper()


def normalise_category(category: str) -> str:
    """Categories are compared stripped and lower-cased."""
    return category.strip().lower()


def name_key(name: str) -> str:
    """The sort key of a product name (case-insensitive order)."""
    return name.casefold()


def search_pattern(text: str) -> str:
    """A regex matching ``text`` literally (only the metacharacters are escaped)."""
    return _REGEX_SPECIAL.sub(r"\\\1", text.strip())


def changed_fields(current: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """The subset of ``changes`` that differs from ``current`` (editable fields only)."""
    return {k: v for k, v in changes.items() if k in EDITABLE and current.get(k) != v}
