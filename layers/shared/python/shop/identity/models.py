"""Request bodies of the identity routes."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from shop.fields import WHITESPACE, Stripped
from shop.identity.domain import EMAIL_PATTERN, is_valid_email, normalise_email
from shop.text import LINE_NOT_BLANK, OneLine


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


def _email(value: str) -> str:
    email = normalise_email(value)
    if not is_valid_email(email):
        raise ValueError("email is not a valid address")
    return email


class RegisterBody(_Body):
    """POST /api/auth/register."""

    # The pattern is what ``_email`` checks, around the whitespace it strips.
    email: str = Field(max_length=254, pattern=rf"^[{WHITESPACE}]*{EMAIL_PATTERN}[{WHITESPACE}]*$")
    password: str = Field(min_length=8, max_length=256)
    name: Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=LINE_NOT_BLANK), OneLine, Stripped]

    _check_email = field_validator("email")(_email)


class LoginBody(_Body):
    """POST /api/auth/login (any string is accepted: a bad address simply does not log in)."""

    email: str = Field(min_length=1, max_length=254)
    password: str = Field(min_length=1, max_length=256)

    @field_validator("email")
    @classmethod
    def _normalise(cls, value: str) -> str:
        return normalise_email(value)


class User(BaseModel):
    """A user as the API shows it (never the password hash)."""

    id: str
    email: str
    name: str
    role: Literal["customer", "admin"]
    createdAt: str


class Session(BaseModel):
    """POST /api/auth/register and /api/auth/login: the user and a bearer token for them."""

    user: User
    token: str
