"""The operator's one-time links (invitations, password resets) used twice, too late or by
another address, an account deleted while it uploads, and the command line of a locked-out
operator; on the session's shared stack, each test with accounts of its own."""

from __future__ import annotations

import os
import socket
import time
import uuid

import httpx
import pytest
from support.api import (
    PASSWORD,
    admin_headers,
    all_users,
    assert_volume_matches_database,
    bearer,
    edge_client,
    login,
    read_head,
    register_and_login,
    sql,
    status_of,
    temp_files,
    tls_context,
    upload,
)
from support.project import Stack, in_site_language
from support.waiting import wait_for

pytestmark = pytest.mark.reliability


def _token_of(issued: httpx.Response) -> str:
    assert issued.status_code == 201, issued.text
    return issued.json()["path"].rsplit("token=", 1)[1]


def test_one_time_links_used_twice_expired_or_by_another_email_are_refused(stack: Stack):
    """Invitations and password resets through the edge; expiry is set in the database (a real
    link waits INVITATION_HOURS), everything else is the running stack as a person meets it."""
    with edge_client(stack) as client:
        admin = admin_headers(client, stack)
        email = f"invited.{uuid.uuid4().hex[:10]}@example.com"
        token = _token_of(client.post("/api/invitations", headers=admin, json={"email": email}))

        def sign_up(address: str, invitation: str) -> httpx.Response:
            body = {"email": address, "password": PASSWORD, "invitation": invitation}
            return client.post("/api/auth/register", json=body)

        refusals = {
            "wrong e-mail": sign_up(f"other.{uuid.uuid4().hex[:6]}@example.com", token),
            "unknown": sign_up(email, token[::-1]),
        }
        assert sign_up(email, token).status_code == 201
        refusals["used twice"] = sign_up(email, token)
        late = f"late.{uuid.uuid4().hex[:10]}@example.com"
        expired = _token_of(client.post("/api/invitations", headers=admin, json={"email": late}))
        # The address is the test's own (hex): nothing to escape.
        sql(stack, f"UPDATE account_links SET expires_at = now() WHERE email = '{late}'")  # noqa: S608
        refusals["expired"] = sign_up(late, expired)

        user = register_and_login(client, "resetting")
        reset = _token_of(client.post(f"/api/users/{user['id']}/password-reset", headers=admin))

        def use_reset(address: str) -> httpx.Response:
            body = {"token": reset, "email": address, "new_password": "quartz heron violin 93"}
            return client.post("/api/auth/reset-password", json=body)

        refusals["reset, wrong e-mail"] = use_reset(email)
        assert use_reset(user["email"]).status_code == 204
        refusals["reset used twice"] = use_reset(user["email"])
        # The reset ended the user's session at once.
        assert client.get("/api/users/me", headers=user["headers"]).status_code == 401
        assert login(client, user["email"], "quartz heron violin 93")

    details = {
        name: (answer.status_code, answer.json()["detail"]) for name, answer in refusals.items()
    }
    assert {status for status, _ in details.values()} == {400}, details
    # Each reason has its own sentence, so the person knows what to do next.
    assert (
        len({details[name][1] for name in ("wrong e-mail", "unknown", "used twice", "expired")})
        == 4
    )
    assert details["reset used twice"][1] == details["used twice"][1]
    assert details["reset, wrong e-mail"][1] == details["wrong e-mail"][1]
    assert details["used twice"][1] == in_site_language(
        stack,
        fr="Ce lien a déjà servi : demandez-en un nouveau à un administrateur.",
        en="This link has already been used: ask an administrator for a new one.",
    )
    assert details["wrong e-mail"][1] == LINK_WRONG_EMAIL[stack.env["UI_LANGUAGE"]]
    assert details["expired"][1] == LINK_EXPIRED[stack.env["UI_LANGUAGE"]]


LINK_WRONG_EMAIL = {
    "fr": "Ce lien a été créé pour une autre adresse e-mail : utilisez celle à laquelle il a "
    "été envoyé.",
    "en": "This link was made for another e-mail address: use the address it was sent to.",
}
LINK_EXPIRED = {
    "fr": "Ce lien a expiré : demandez-en un nouveau à un administrateur.",
    "en": "This link has expired: ask an administrator for a new one.",
}


def test_one_time_links_work_until_their_time_and_are_refused_once_it_has_passed(stack: Stack):
    """A reset link and an invitation, issued through the edge with the lifetimes of settings.env
    (RESET_LINK_MINUTES, INVITATION_HOURS), then shortened to a few seconds in the database (a
    real wait would be half an hour): each is still good a moment before, the clock passes its
    time, and the real code path refuses it with the clear message; nothing changed meanwhile."""
    lifetime = 4  # seconds left after the shortening
    with edge_client(stack) as client:
        admin = admin_headers(client, stack)
        user = register_and_login(client, "expiring-reset")
        issued = client.post(f"/api/users/{user['id']}/password-reset", headers=admin)
        reset = _token_of(issued)
        invited = f"expiring.{uuid.uuid4().hex[:10]}@example.com"
        issued_invitation = client.post("/api/invitations", headers=admin, json={"email": invited})
        invitation = _token_of(issued_invitation)

        # The lifetimes are the settings' (measured on the database's clock, the stack's own).
        def seconds_left(email: str) -> float:
            # The addresses are the test's own (hex): nothing to escape.
            query = f"SELECT extract(epoch FROM expires_at - now()) FROM account_links WHERE email = '{email}'"  # noqa: E501, S608
            return float(sql(stack, query))

        reset_left, invitation_left = seconds_left(user["email"]), seconds_left(invited)
        assert abs(reset_left - int(stack.env["RESET_LINK_MINUTES"]) * 60) < 30, reset_left
        assert abs(invitation_left - int(stack.env["INVITATION_HOURS"]) * 3600) < 30
        sql(
            stack,
            f"UPDATE account_links SET expires_at = now() + interval '{lifetime} seconds' "  # noqa: S608
            f"WHERE email IN ('{user['email']}', '{invited}')",
        )
        shortened = time.monotonic()

        def use_reset(address: str) -> httpx.Response:
            body = {"token": reset, "email": address, "new_password": "pelican marble cove 58"}
            return client.post("/api/auth/reset-password", json=body)

        def sign_up(address: str) -> httpx.Response:
            body = {"email": address, "password": PASSWORD, "invitation": invitation}
            return client.post("/api/auth/register", json=body)

        # Still alive: refused only for the other address (the right one would use it up).
        stranger = f"stranger.{uuid.uuid4().hex[:6]}@example.com"
        alive = [use_reset(stranger), sign_up(stranger)]
        assert time.monotonic() - shortened < lifetime, "too slow to see the links alive"
        for answer in alive:
            assert answer.status_code == 400
            assert answer.json()["detail"] == LINK_WRONG_EMAIL[stack.env["UI_LANGUAGE"]]
        time.sleep(max(0.0, lifetime + 1 - (time.monotonic() - shortened)))
        expired = {"reset": use_reset(user["email"]), "invitation": sign_up(invited)}
        for kind, answer in expired.items():
            assert answer.status_code == 400, (kind, answer.text)
            assert answer.json()["detail"] == LINK_EXPIRED[stack.env["UI_LANGUAGE"]], kind
        # Nothing happened: the old password still works, the invited person has no account.
        assert login(client, user["email"], user["password"])
        assert client.get("/api/users/me", headers=user["headers"]).status_code == 200
        emails = [account["email"] for account in all_users(client, admin)]
        assert invited not in emails


def test_deleting_an_account_while_it_uploads_leaves_nothing_behind(stack: Stack):
    """An upload streams over TLS through the edge; half-way, the admin deletes the account. The
    upload is refused when it ends and neither its bytes nor a row remain."""
    with edge_client(stack) as client:
        admin = admin_headers(client, stack)
        user = register_and_login(client, "deleted-mid-upload")
        assert (
            upload(client, user["headers"], "kept-until-deletion.txt", b"x" * 1000).status_code
            == 201
        )
        boundary = "deletionboundary"
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        tail = f"\r\n--{boundary}--\r\n".encode()
        size = 3 * 1024 * 1024
        request = (
            "POST /api/upload HTTP/1.1\r\nHost: localhost\r\n"
            f"Authorization: Bearer {user['token']}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
            f"Content-Length: {len(head) + size + len(tail)}\r\nConnection: close\r\n\r\n"
        ).encode()
        sock = socket.create_connection(("127.0.0.1", stack.port("nginx")), timeout=30)
        tls = tls_context(stack).wrap_socket(sock, server_hostname="localhost")
        try:
            tls.sendall(request + head)
            chunk = 128 * 1024
            for _ in range(size // chunk // 2):
                tls.sendall(os.urandom(chunk))
            wait_for(
                lambda: bool(temp_files(stack)),
                10,
                interval=0.1,
                what="the upload reaching storage",
            )
            deleted = client.delete(
                f"/api/users/{user['id']}", headers=admin, params={"confirm_email": user["email"]}
            )
            assert deleted.status_code == 204, deleted.text
            for _ in range(size // chunk // 2):
                tls.sendall(os.urandom(chunk))
            tls.sendall(tail)
            answer = read_head(tls)
        finally:
            tls.close()
    assert status_of(answer) == 401, answer[:300]
    wait_for(lambda: not temp_files(stack), 10, interval=0.1, what="the cut upload's bytes gone")
    rows = sql(stack, f"SELECT count(*) FROM files WHERE owner_id = '{user['id']}'")  # noqa: S608
    assert rows == "0"
    assert_volume_matches_database(stack)


def test_a_locked_out_operator_resets_a_password_and_creates_an_admin_from_the_command_line(
    stack: Stack,
):
    """`stack.py manage` runs the backend's `python -m app.manage` against the running stack's
    database, as `docker compose exec backend python -m app.manage` does on a server."""
    with edge_client(stack) as client:
        user = register_and_login(client, "locked-out")
    printed = stack.run("manage", "reset-password", user["email"]).stdout.strip()
    new_password = printed.rsplit(" ", 1)[-1]  # the last word of the line, in either language
    ops = f"ops.{uuid.uuid4().hex[:10]}@example.com"
    ops_password = stack.run("manage", "create-admin", ops).stdout.strip().rsplit(" ", 1)[-1]
    with edge_client(stack) as client:
        assert client.get("/api/users/me", headers=user["headers"]).status_code == 401
        assert login(client, user["email"], new_password)
        ops_headers = bearer(login(client, ops, ops_password))
        audit = client.get("/api/audit", headers=ops_headers)
        assert audit.status_code == 200, audit.text
        latest = audit.json()["items"][:2]
    assert [(e["actor_email"], e["action"], e["target_email"]) for e in latest] == [
        ("command line", "create_admin", ops),
        ("command line", "reset_password", user["email"]),
    ]
    refused = stack.run("manage", "reset-password", "nobody.here@example.com", check=False)
    assert refused.returncode != 0
    assert "create-admin" in refused.stderr
