"""A throwaway account on the booted stack, registered and signed in through the edge."""

from __future__ import annotations

import secrets
import ssl
from dataclasses import dataclass

import httpx

PASSWORD = "bench password " + secrets.token_hex(4)  # noqa: S105 - throwaway account


@dataclass(frozen=True)
class Account:
    email: str
    password: str
    token: str


def edge_client(base_url: str, cafile: str, timeout: float = 30) -> httpx.Client:
    """An HTTPS client that trusts exactly the stack's self-signed certificate."""
    return httpx.Client(
        base_url=base_url, verify=ssl.create_default_context(cafile=cafile), timeout=timeout
    )


def create_account(base_url: str, cafile: str) -> Account:
    email = f"bench-{secrets.token_hex(6)}@example.com"
    with edge_client(base_url, cafile) as client:
        client.post(
            "/api/auth/register", json={"email": email, "password": PASSWORD}
        ).raise_for_status()
        response = client.post("/api/auth/login", data={"username": email, "password": PASSWORD})
        response.raise_for_status()
    return Account(email=email, password=PASSWORD, token=response.json()["access_token"])
