"""Error answers the routes declare in OpenAPI beside their success, so the API documentation
lists every status a client can get (the dependencies' 401/403 included) with its JSON shape."""

from __future__ import annotations

from typing import Any

from app.schemas import ErrorMessage


def error(description: str) -> dict[str, Any]:
    return {"model": ErrorMessage, "description": description}


SIGNED_IN = {
    401: error("No valid access token: missing, expired or invalid (WWW-Authenticate: Bearer)"),
    403: error("The account is deactivated"),
}
ADMIN = {403: error("Administrators only, or the account is deactivated")}
USER_NOT_FOUND = {404: error("No user with this id")}
FILE_NOT_FOUND = {404: error("No file with this id among the caller's files")}
STORAGE_DOWN = {
    502: error("The storage service answered something unexpected"),
    503: error("The storage service is unavailable: nothing was stored"),
}
