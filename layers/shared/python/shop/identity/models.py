"""Request bodies of the identity routes."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shop.identity.domain import is_valid_email, normalise_email
from shop.text import PlainText


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


def _email(value: str) -> str:
    email = normalise_email(value)
    if not is_valid_email(email):
        raise ValueError("email is not a valid address")
    return email


class RegisterBody(_Body):
    """POST /api/auth/register."""

    email: PlainText = Field(max_length=254)
    password: str = Field(min_length=8, max_length=256)
    name: PlainText = Field(min_length=1, max_length=100)

    _check_email = field_validator("email")(_email)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        name = value.strip()
        if not name:
            raise ValueError("name must not be blank")
        return name


class LoginBody(_Body):
    """POST /api/auth/login (any string is accepted: a bad address simply does not log in)."""

    email: str = Field(min_length=1, max_length=254)
    password: str = Field(min_length=1, max_length=256)

    @field_validator("email")
    @classmethod
    def _normalise(cls, value: str) -> str:
        return normalise_email(value)
