"""Input no honest client sends gets a 4xx that names the problem, never a 5xx."""

import httpx
import pytest

from app.core.config import settings
from tests.conftest import Member

pytestmark = pytest.mark.anyio


async def test_a_nul_in_a_json_string_is_a_422(client: httpx.AsyncClient, user: Member) -> None:
    response = await client.patch(
        "/api/users/me", headers=user.headers, json={"full_name": "Ada\x00Lovelace"}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["msg"] == "Name: must not contain control characters."
    register = await client.post(
        "/api/auth/register", json={"email": "nul\x00@example.com", "password": "x" * 20}
    )
    assert register.status_code == 422


async def test_a_nul_in_the_login_name_is_an_ordinary_failed_login(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/api/auth/login", data={"username": "admin\x00@example.com", "password": "whatever"}
    )
    assert response.status_code == 401
    assert response.json() == {"detail": "Incorrect e-mail address or password."}


def _multipart(boundary: str, part_type: bytes) -> bytes:
    return (
        f"--{boundary}\r\n".encode()
        + b'Content-Disposition: form-data; name="file"; filename="a.txt"\r\n'
        + b"Content-Type: "
        + part_type
        + b"\r\n\r\nhello\r\n"
        + f"--{boundary}--\r\n".encode()
    )


async def test_a_boundary_longer_than_the_standard_allows_is_a_400(
    client: httpx.AsyncClient, user: Member
) -> None:
    boundary = "b" * 300
    response = await client.post(
        "/api/upload",
        headers={**user.headers, "Content-Type": f"multipart/form-data; boundary={boundary}"},
        content=_multipart(boundary, b"text/plain"),
    )
    assert response.status_code == 400
    assert "boundary" in response.json()["detail"]


@pytest.mark.parametrize(
    "part_type", [b"text/pl\xe9in", b"text/plain\x01", b"text/plain\x7f", b"a" * 300]
)
async def test_an_odd_content_type_of_the_file_part_is_replaced_not_a_5xx(
    client: httpx.AsyncClient, user: Member, part_type: bytes
) -> None:
    boundary = "xyz"
    response = await client.post(
        "/api/upload",
        headers={**user.headers, "Content-Type": f"multipart/form-data; boundary={boundary}"},
        content=_multipart(boundary, part_type),
    )
    assert response.status_code == 201, response.text
    assert response.json()["content_type"] == "application/octet-stream"


@pytest.mark.parametrize("where", ["before", "after"])
async def test_a_large_field_around_the_file_is_a_413(
    client: httpx.AsyncClient, user: Member, where: str
) -> None:
    """The edge lets the upload's body through whole; the backend caps what is not the file."""
    boundary = "xyz"
    other = (
        f"--{boundary}\r\n".encode()
        + b'Content-Disposition: form-data; name="note"\r\n\r\n'
        + b"n" * (65 * 1024)
        + b"\r\n"
    )
    file_part = _multipart(boundary, b"text/plain")
    body = (
        other + file_part
        if where == "before"
        else file_part.replace(f"--{boundary}--".encode(), other + f"--{boundary}--".encode())
    )
    response = await client.post(
        "/api/upload",
        headers={**user.headers, "Content-Type": f"multipart/form-data; boundary={boundary}"},
        content=body,
    )
    assert response.status_code == 413
    assert "besides the file" in response.json()["detail"]


async def test_a_file_of_exactly_the_limit_is_stored_and_one_byte_more_is_not(
    client: httpx.AsyncClient, user: Member
) -> None:
    limit = settings.max_upload_bytes
    exact = await client.post(
        "/api/upload", headers=user.headers, files={"file": ("a.bin", b"x" * limit)}
    )
    assert exact.status_code == 201, exact.text
    assert exact.json()["size"] == limit
    over = await client.post(
        "/api/upload", headers=user.headers, files={"file": ("b.bin", b"x" * (limit + 1))}
    )
    assert over.status_code == 413
