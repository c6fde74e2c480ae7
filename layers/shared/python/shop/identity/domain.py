"""Pure identity rules: email normalisation and the user's public view."""

from __future__ import annotations

import re
from typing import Any

from shop.auth.caller import ROLE_CUSTOMER
from shop.fields import WHITESPACE
from shop.text import UNSAFE_IN_LINE

# Deliberately loose (one "@", a dot in the domain, no spaces, nothing unsafe to show): the mailbox is the proof.
_PART = f"[^@{WHITESPACE}{UNSAFE_IN_LINE}]+"
EMAIL_PATTERN = rf"{_PART}@{_PART}\.{_PART}"
_EMAIL = re.compile(f"^{EMAIL_PATTERN}$")


def normalise_email(email: str) -> str:
    """The canonical form we store and look up: stripped and lower-cased."""
    return email.strip().lower()


def is_valid_email(email: str) -> bool:
    """Whether a normalised email looks like an address."""
    return len(email) <= 254 and _EMAIL.match(email) is not None


def public_user(doc: dict[str, Any]) -> dict[str, Any]:
    """What clients may see of a user document (never the password hash)."""
    return {
        "id": doc["_id"],
        "email": doc["email"],
        "name": doc.get("name", ""),
        "role": doc.get("role", ROLE_CUSTOMER),
        "createdAt": doc.get("createdAt"),
    }
