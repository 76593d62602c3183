"""Request and response bodies of the public API (see docs/CONTRACTS.md of the template)."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, computed_field

from app.models import Role

_EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
PASSWORD_MIN_LENGTH, PASSWORD_MAX_LENGTH = 8, 128
ItemT = TypeVar("ItemT")


def normalise_email(value: str) -> str:
    value = value.strip().lower()
    if not _EMAIL_PATTERN.match(value):
        raise ValueError("must be an e-mail address such as ada@example.com")
    return value


# Lower-cased once here, so every comparison and the unique index are case-insensitive.
Email = Annotated[str, Field(max_length=254), AfterValidator(normalise_email)]
Password = Annotated[str, Field(min_length=PASSWORD_MIN_LENGTH, max_length=PASSWORD_MAX_LENGTH)]
FullName = Annotated[str, Field(max_length=255)]


class RequestBody(BaseModel):
    # An unknown field (e.g. "role") is refused rather than silently ignored.
    model_config = ConfigDict(extra="forbid")


class UserCreate(RequestBody):
    email: Email
    password: Password
    full_name: FullName | None = None


class UserUpdate(RequestBody):
    email: Email | None = None
    full_name: FullName | None = None


class UserAdminUpdate(RequestBody):
    is_active: bool


class PasswordChange(RequestBody):
    current_password: Annotated[str, Field(max_length=PASSWORD_MAX_LENGTH)]
    new_password: Password


class ErrorMessage(BaseModel):
    """Every error the API answers: a sentence a person understands (422: a list of problems)."""

    detail: str


class UserPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    full_name: str | None
    role: Role
    is_active: bool
    created_at: datetime


class Token(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth2 scheme name, not a secret
    expires_in: int  # seconds


class FilePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    size: int
    sha256: str
    content_type: str
    created_at: datetime
    stored_name: str = Field(exclude=True)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def url(self) -> str:
        return f"/storage/files/{self.stored_name}"


class Page(BaseModel, Generic[ItemT]):
    items: list[ItemT]
    total: int
