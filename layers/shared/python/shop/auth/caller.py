"""Who is calling: the roles of the shop and the caller the authorizer established."""

from __future__ import annotations

from dataclasses import dataclass

ROLE_CUSTOMER = "customer"
ROLE_ADMIN = "admin"
ROLES = (ROLE_CUSTOMER, ROLE_ADMIN)


@dataclass(frozen=True)
class Caller:
    """An authenticated caller (HTTP: from the authorizer's context)."""

    user_id: str
    role: str
    email: str = ""

    @property
    def is_admin(self) -> bool:
        return self.role == ROLE_ADMIN
