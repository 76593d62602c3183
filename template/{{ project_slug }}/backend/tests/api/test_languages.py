"""A French site answers in French and an English one in English, for each family of error.

The expected sentences are written out here, as a person reads them: a message that falls back to
English on a French site (or loses its fix) fails. UI_LANGUAGE is switched per test by the
`site_language` fixture, as settings.env would set it; everything else is the real app on the
suite's PostgreSQL.
"""

from __future__ import annotations

import httpx
import pytest

from app.api.routes import auth as auth_routes
from app.core.config import settings
from tests.conftest import PASSWORD, Member, create_user
from tests.storage_fake import FakeStorage

pytestmark = pytest.mark.anyio
LANGUAGES = ["fr", "en"]


def expected(language: str, *, fr: str, en: str) -> str:
    return {"fr": fr, "en": en}[language]


async def upload(client: httpx.AsyncClient, user: Member, content: bytes) -> httpx.Response:
    return await client.post(
        "/api/upload", headers=user.headers, files={"file": ("a.bin", content, "a/b")}
    )


@pytest.fixture(params=LANGUAGES)
def language(request: pytest.FixtureRequest, site_language) -> str:
    site_language(request.param)
    return request.param


# --- signing in and signing up


async def test_a_wrong_password_and_an_unknown_token_are_answered_in_the_sites_language(
    client: httpx.AsyncClient, user: Member, language: str
) -> None:
    wrong = await client.post(
        "/api/auth/login", data={"username": user.email, "password": "not the password"}
    )
    assert wrong.status_code == 401
    assert wrong.json()["detail"] == expected(
        language,
        fr="Adresse e-mail ou mot de passe incorrect.",
        en="Incorrect e-mail address or password.",
    )
    forged = await client.get("/api/users/me", headers={"Authorization": "Bearer forged"})
    assert forged.status_code == 401
    assert forged.json()["detail"] == expected(
        language,
        fr="Jeton d'accès non valide : reconnectez-vous.",
        en="Invalid access token: log in again.",
    )
    client.cookies.clear()  # as a browser that never signed in
    no_cookie = await client.post("/api/auth/refresh")
    assert no_cookie.status_code == 401, no_cookie.text
    assert no_cookie.json()["detail"] == expected(
        language, fr="Vous n'êtes pas connecté.", en="You are not logged in."
    )


async def test_sign_up_refusals_are_in_the_sites_language(
    client: httpx.AsyncClient, user: Member, language: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken = await client.post(
        "/api/auth/register", json={"email": user.email, "password": PASSWORD}
    )
    assert taken.status_code == 409
    assert taken.json()["detail"] == expected(
        language,
        fr="Un compte existe déjà avec cette adresse e-mail : connectez-vous, ou utilisez une "
        "autre adresse.",
        en="An account with this e-mail address already exists.",
    )
    unknown_link = await client.post(
        "/api/auth/register",
        json={"email": "joiner@example.com", "password": PASSWORD, "invitation": "made-up"},
    )
    assert unknown_link.status_code == 400
    assert unknown_link.json()["detail"] == expected(
        language,
        fr="Ce lien n'est pas valide : vérifiez qu'il a été copié en entier, ou demandez-en un "
        "nouveau.",
        en="This link is not valid: check that it was copied whole, or ask for a new one.",
    )
    invite_only = settings.model_copy(update={"REGISTRATION": "invite"})
    monkeypatch.setattr(auth_routes, "settings", invite_only)
    refused = await client.post(
        "/api/auth/register", json={"email": "stranger@example.com", "password": PASSWORD}
    )
    assert refused.status_code == 403
    assert refused.json()["detail"] == expected(
        language,
        fr="L'inscription se fait sur invitation : demandez un lien d'invitation à un "
        "administrateur.",
        en="Sign-up is by invitation only: ask an administrator for an invitation link.",
    )


# --- uploads: the size limit and the quota (decimal megabytes, "Mo" in French)


async def test_the_upload_limit_and_the_quota_are_named_in_the_sites_language(
    client: httpx.AsyncClient, user: Member, storage: FakeStorage, language: str
) -> None:
    too_large = await upload(client, user, b"x" * (settings.max_upload_bytes + 1))
    assert too_large.status_code == 413
    assert too_large.json()["detail"] == expected(
        language,
        fr="Le fichier dépasse la limite d'envoi de 1 Mo : envoyez un fichier plus petit.",
        en="The file is larger than the 1 MB upload limit.",
    )
    for _ in range(2):  # quota 2 MB: two files of exactly the upload limit fill it
        assert (await upload(client, user, b"q" * settings.max_upload_bytes)).status_code == 201
    over_quota = await upload(client, user, b"q")
    assert over_quota.status_code == 507
    assert over_quota.json()["detail"] == expected(
        language,
        fr="Ce fichier dépasserait votre quota de stockage de 2 Mo : supprimez d'abord des "
        "fichiers.",
        en="This file would exceed your storage quota of 2 MB: delete some files first.",
    )
    storage.down = True
    down = await upload(client, await create_user(client), b"data")
    assert down.status_code == 503
    assert down.json()["detail"] == expected(
        language,
        fr="Le service de stockage des fichiers est indisponible : réessayez dans un instant.",
        en="The file storage service is unavailable; try again in a moment.",
    )


async def test_a_body_that_is_not_an_upload_is_refused_in_the_sites_language(
    client: httpx.AsyncClient, user: Member, language: str
) -> None:
    response = await client.post(
        "/api/upload", headers={**user.headers, "Content-Type": "text/plain"}, content=b"hello"
    )
    assert response.status_code == 415
    assert response.json()["detail"] == expected(
        language,
        fr="Envoyez le fichier en multipart/form-data dans un champ nommé « file ».",
        en="Send the file as multipart/form-data in a field named 'file'.",
    )


# --- 422: each problem names the field, in the site's language


async def test_invalid_input_names_each_field_and_the_fix_in_the_sites_language(
    client: httpx.AsyncClient, user: Member, language: str
) -> None:
    response = await client.post(
        "/api/auth/register",
        json={"email": "not-an-email", "password": "short", "role": "admin"},
    )
    assert response.status_code == 422
    problems = {tuple(problem["loc"]): problem["msg"] for problem in response.json()["detail"]}
    assert problems == {
        ("body", "email"): expected(
            language,
            fr="Adresse e-mail : doit être une adresse e-mail comme ada@example.com.",
            en="E-mail address: must be an e-mail address such as ada@example.com.",
        ),
        ("body", "password"): expected(
            language,
            fr="Mot de passe : trop court, il faut au moins 8 caractères.",
            en="Password: too short, use at least 8 characters.",
        ),
        ("body", "role"): expected(
            language,
            fr="Rôle : champ non accepté, retirez-le.",
            en="Role: not an accepted field, leave it out.",
        ),
    }
    page = await client.get("/api/files?limit=0&offset=x", headers=user.headers)
    assert page.status_code == 422
    problems = {tuple(problem["loc"]): problem["msg"] for problem in page.json()["detail"]}
    assert problems == {
        ("query", "limit"): expected(
            language,
            fr="Éléments par page : trop petit, le minimum est 1.",
            en="Items per page: too small, the least accepted is 1.",
        ),
        ("query", "offset"): expected(
            language,
            fr="Éléments à sauter : pas un nombre entier, n'écrivez que des chiffres (par "
            "exemple 20).",
            en="Items to skip: not a whole number, write digits only (such as 20).",
        ),
    }
    broken = await client.post(
        "/api/auth/register",
        headers={"Content-Type": "application/json"},
        content=b'{"email": ',
    )
    assert broken.status_code == 422
    (problem,) = broken.json()["detail"]
    assert problem["msg"] == expected(
        language,
        fr="Corps de la requête : JSON non valide, vérifiez la syntaxe vers le caractère 10.",
        en="Request body: not valid JSON, check the syntax near character 10.",
    )
    missing = await client.post("/api/auth/register", json={"password": PASSWORD})
    (problem,) = missing.json()["detail"]
    assert problem["msg"] == expected(
        language,
        fr="Adresse e-mail : manquant, remplissez-le.",
        en="E-mail address: missing, fill it in.",
    )


# --- password strength: zxcvbn's feedback, translated


async def test_a_weak_password_is_explained_in_the_sites_language(
    client: httpx.AsyncClient, language: str
) -> None:
    common = await client.post(
        "/api/auth/register", json={"email": "grace@example.com", "password": "12345678"}
    )
    assert common.status_code == 422
    (problem,) = common.json()["detail"]
    assert problem["loc"] == ["body", "password"]
    assert problem["msg"] == expected(
        language,
        fr="Ce mot de passe est trop facile à deviner : C'est l'un des 10 mots de passe les plus "
        "courants. Ajoutez un ou deux mots. Les mots peu courants sont préférables.",
        en="This password is too easy to guess: This is a top-10 common password. Add another "
        "word or two. Uncommon words are better.",
    )
    personal = await client.post(
        "/api/auth/register",
        json={"email": "grace.hopper@example.com", "password": "grace.hopper"},
    )
    (problem,) = personal.json()["detail"]
    assert problem["msg"].startswith(
        expected(
            language,
            fr="Ce mot de passe est trop facile à deviner : Il contient votre adresse e-mail, "
            "votre nom ou le nom du site.",
            en="This password is too easy to guess: It contains your e-mail address, your name "
            "or the site's name.",
        )
    )


# --- administration


async def test_administration_refusals_are_in_the_sites_language(
    client: httpx.AsyncClient, user: Member, admin_headers: dict, language: str
) -> None:
    not_admin = await client.get("/api/users", headers=user.headers)
    assert not_admin.status_code == 403
    assert not_admin.json()["detail"] == expected(
        language,
        fr="Réservé aux administrateurs : connectez-vous avec un compte administrateur.",
        en="Administrators only: sign in with an administrator's account.",
    )
    me = (await client.get("/api/users/me", headers=admin_headers)).json()
    self_delete = await client.delete(
        f"/api/users/{me['id']}", headers=admin_headers, params={"confirm_email": me["email"]}
    )
    assert self_delete.status_code == 400
    assert self_delete.json()["detail"] == expected(
        language,
        fr="Vous ne pouvez pas supprimer votre propre compte : demandez à un autre administrateur.",
        en="You cannot delete your own account: ask another administrator.",
    )
    unconfirmed = await client.delete(
        f"/api/users/{user.id}", headers=admin_headers, params={"confirm_email": "someone@else"}
    )
    assert unconfirmed.status_code == 400
    assert unconfirmed.json()["detail"] == expected(
        language,
        fr=f"Pour supprimer ce compte, confirmez avec son adresse e-mail ({user.email}).",
        en=f"To delete this account, confirm with its e-mail address ({user.email}).",
    )
    null_role = await client.patch(
        f"/api/users/{user.id}", headers=admin_headers, json={"role": None}
    )
    assert null_role.status_code == 422
    assert null_role.json()["detail"][0]["msg"] == expected(
        language, fr="Rôle : ne peut pas être null.", en="Role: may not be null."
    )
    deactivated = await client.patch(
        f"/api/users/{user.id}", headers=admin_headers, json={"is_active": False}
    )
    assert deactivated.status_code == 200
    login = await client.post(
        "/api/auth/login", data={"username": user.email, "password": user.password}
    )
    assert login.status_code == 403
    assert login.json()["detail"] == expected(
        language,
        fr="Ce compte est désactivé : demandez à un administrateur de le réactiver.",
        en="This account is deactivated: ask an administrator to reactivate it.",
    )


async def test_a_cross_site_request_is_refused_in_the_sites_language(
    client: httpx.AsyncClient, language: str
) -> None:
    response = await client.post(
        "/api/auth/login",
        headers={"Sec-Fetch-Site": "cross-site"},
        data={"username": "a@example.com", "password": "x"},
    )
    assert response.status_code == 403
    assert response.json()["detail"] == expected(
        language,
        fr="Requête d'un autre site refusée : cette action ne peut venir que des pages du site "
        "lui-même. Ouvrez le site et réessayez depuis ses pages.",
        en="Cross-site request refused: this action can only be sent from the site's own "
        "pages. Open the site and try again there.",
    )


async def test_an_unknown_address_is_answered_in_the_sites_language(
    client: httpx.AsyncClient, language: str
) -> None:
    response = await client.get("/api/no-such-thing")
    assert response.status_code == 404
    assert response.json()["detail"] == expected(
        language,
        fr="Introuvable : cette adresse n'existe pas dans l'API ; vérifiez l'URL.",
        en="Not Found: no such address in the API; check the URL.",
    )
