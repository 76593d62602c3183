"""Cross-site state-changing requests are refused; API answers are never cached."""

import httpx
import pytest

from tests.conftest import PASSWORD, Member

pytestmark = pytest.mark.anyio

REFUSED = {
    "detail": "Cross-site request refused: this action can only be sent from the site's own "
    "pages. Open the site and try again there."
}


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Sec-Fetch-Site": "cross-site", "Origin": "https://testserver"},
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Origin": "http://testserver"},  # another scheme is another origin
        {"Origin": "https://testserver:8443"},  # and so is another port
    ],
)
@pytest.mark.parametrize(
    "path", ["/api/auth/login", "/api/auth/logout", "/api/auth/register", "/api/upload"]
)
async def test_a_cross_site_request_is_refused_with_a_clear_403(
    client: httpx.AsyncClient, user: Member, headers: dict[str, str], path: str
) -> None:
    response = await client.post(
        path,
        headers={**user.headers, **headers},
        data={"username": user.email, "password": PASSWORD},
    )
    assert response.status_code == 403
    assert response.json() == REFUSED
    assert "set-cookie" not in response.headers  # not logged in, not logged out


async def test_the_sites_own_pages_and_non_browser_clients_go_through(
    client: httpx.AsyncClient, user: Member
) -> None:
    form = {"username": user.email, "password": PASSWORD}
    for headers in (
        {"Sec-Fetch-Site": "same-origin", "Origin": "https://testserver"},
        {"Origin": "https://testserver"},  # an older browser: no Sec-Fetch-Site
        {},  # curl, scripts
    ):
        response = await client.post("/api/auth/login", headers=headers, data=form)
        assert response.status_code == 200, headers
    # Reading is never refused: a link from another site may open the app.
    response = await client.get(
        "/api/users/me", headers={**user.headers, "Sec-Fetch-Site": "cross-site"}
    )
    assert response.status_code == 200


async def test_a_same_origin_request_on_a_non_default_port_goes_through(app) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://localhost:8443") as client:
        response = await client.post(
            "/api/auth/login",
            headers={"Origin": "https://localhost:8443"},
            data={"username": "nobody@example.com", "password": "wrong"},
        )
    assert response.status_code == 401


async def test_every_api_answer_is_no_store(client: httpx.AsyncClient, user: Member) -> None:
    for response in (
        await client.get("/api/users/me", headers=user.headers),
        await client.get("/api/files", headers=user.headers),
        await client.get("/api/users/me"),
        await client.get("/api/nothing-here"),
        await client.get("/api/health"),
    ):
        assert response.headers["cache-control"] == "no-store", response.request.url
