"""The join page's question before its form: which address an invitation is for, or why not."""

from __future__ import annotations

import pytest

from tests.api.routes.test_admin import invite, new_email, register, registration, sql

__all__ = ["registration"]  # the fixture, used by name below

pytestmark = pytest.mark.anyio


async def lookup(client, token: str):
    return await client.post("/api/auth/invitation", json={"token": token})


async def test_an_invitation_names_its_address_until_it_is_used(
    client, registration, admin_headers
) -> None:
    registration("invite")
    email = new_email("Invited")
    token = await invite(client, admin_headers, email.upper())
    answer = await lookup(client, token)
    assert answer.status_code == 200
    assert answer.json() == {"email": email.lower()}  # as the account will have it
    assert (await register(client, email, token)).status_code == 201
    used = await lookup(client, token)
    assert used.status_code == 400
    assert "already been used" in used.json()["detail"]


async def test_an_expired_or_unknown_invitation_is_named_as_such(
    client, registration, admin_headers
) -> None:
    registration("invite")
    email = new_email()
    token = await invite(client, admin_headers, email)
    sql(
        "UPDATE account_links SET expires_at = now() - interval '1 second' WHERE email = %(e)s",
        {"e": email},
    )
    expired = await lookup(client, token)
    assert expired.status_code == 400
    assert "expired" in expired.json()["detail"]
    unknown = await lookup(client, "not-a-real-token")
    assert unknown.status_code == 400
    assert "not valid" in unknown.json()["detail"]
    assert (await lookup(client, "")).status_code == 422
