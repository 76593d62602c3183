"""The operator's command line (python -m app.manage) against the test database."""

from __future__ import annotations

import uuid

import httpx
import pytest

from app import manage
from tests.conftest import PASSWORD, Member, login

pytestmark = pytest.mark.anyio


def run(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert manage.main(list(args)) == 0
    return capsys.readouterr().out.strip().rsplit(" ", 1)[-1]  # the password, last on the line


async def test_create_admin_makes_an_account_that_signs_in_as_admin(
    client: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    email = f"ops-{uuid.uuid4().hex[:8]}@example.com"
    password = run(capsys, "create-admin", email)
    headers = await login(client, email, password)
    me = (await client.get("/api/users/me", headers=headers)).json()
    assert (me["role"], me["full_name"]) == ("admin", "Site manager")


async def test_create_admin_promotes_an_existing_account(
    client: httpx.AsyncClient, user: Member, capsys: pytest.CaptureFixture[str]
) -> None:
    password = run(capsys, "create-admin", user.email)
    assert (await client.get("/api/users/me", headers=user.headers)).status_code == 401
    headers = await login(client, user.email, password)
    assert (await client.get("/api/users/me", headers=headers)).json()["role"] == "admin"


async def test_reset_password_replaces_it_and_ends_sessions(
    client: httpx.AsyncClient, user: Member, capsys: pytest.CaptureFixture[str]
) -> None:
    password = run(capsys, "reset-password", user.email.upper())
    assert (await client.get("/api/users/me", headers=user.headers)).status_code == 401
    await login(client, user.email, password)
    old = await client.post("/api/auth/login", data={"username": user.email, "password": PASSWORD})
    assert old.status_code == 401


def test_reset_password_of_an_unknown_account_says_so() -> None:
    with pytest.raises(SystemExit, match="create-admin"):
        manage.main(["reset-password", "nobody-here@example.com"])


def test_a_malformed_email_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        manage.main(["create-admin", "not an address"])
    assert "'not an address'" in capsys.readouterr().err
