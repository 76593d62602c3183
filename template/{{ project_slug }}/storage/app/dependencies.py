"""Dependencies shared by the routers: settings, the file store, the internal token check."""

import secrets
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request, status

from app.config import Settings
from app.messages import say
from app.s3store import S3Store
from app.store import FileStore


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_store(request: Request) -> FileStore | S3Store:
    return request.app.state.store


SettingsDep = Annotated[Settings, Depends(get_settings)]
# The volume or the bucket (STORAGE_BACKEND): the same methods, so routers need not ask which.
StoreDep = Annotated[FileStore | S3Store, Depends(get_store)]


def require_internal_token(
    settings: SettingsDep, authorization: Annotated[str | None, Header()] = None
) -> None:
    """Only the backend holds STORAGE_TOKEN; compared in constant time."""
    scheme, _, token = (authorization or "").partition(" ")
    expected = settings.STORAGE_TOKEN.get_secret_value().encode()
    if scheme.lower() != "bearer" or not secrets.compare_digest(token.strip().encode(), expected):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            say(settings, "internal_only"),
            headers={"WWW-Authenticate": "Bearer"},
        )


InternalOnly = Depends(require_internal_token)
