"""A French site's storage answers in French (UI_LANGUAGE), an English one in English: the
download answers people meet, and the upload limit in decimal megabytes ("Mo" in French)."""

import string
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.messages import MESSAGES
from tests.conftest import AUTH, make_settings, signed, upload, wait_until_expired


@pytest.fixture
def french(volume: Path) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(volume, UI_LANGUAGE="fr"))) as test_client:
        yield test_client


def test_download_refusals_are_in_french_on_a_french_site(french: TestClient) -> None:
    name = upload(french, b"private", filename="scan.pdf").json()["name"]
    bare = french.get(f"/storage/files/{name}")
    assert bare.status_code == 403
    assert bare.json() == {
        "detail": "Ce lien de téléchargement n'est pas valide : rouvrez le fichier depuis votre "
        "liste de fichiers."
    }
    link = signed(f"/storage/files/{name}", lifetime=1)
    wait_until_expired(link)
    expired = french.get(link)
    assert expired.status_code == 403
    assert expired.json() == {
        "detail": "Ce lien de téléchargement a expiré : rouvrez le fichier depuis votre liste de "
        "fichiers."
    }
    assert french.delete(f"/storage/files/{name}", headers=AUTH).status_code == 204
    gone = french.get(signed(f"/storage/files/{name}"))
    assert gone.status_code == 404
    assert gone.json() == {"detail": "Aucun fichier de ce nom."}


def test_the_upload_limit_and_the_token_are_explained_in_french(french: TestClient) -> None:
    too_large = upload(french, b"x" * 1_000_001)
    assert too_large.status_code == 413
    assert too_large.json() == {
        "detail": "Le fichier dépasse la limite d'envoi de 1 Mo : envoyez un fichier plus petit."
    }
    no_token = french.post("/storage/upload", content=b"data")
    assert no_token.status_code == 401
    assert no_token.json() == {
        "detail": "Cette adresse du stockage est interne : envoyez Authorization: Bearer "
        "<STORAGE_TOKEN>."
    }


@pytest.mark.parametrize("key", sorted(MESSAGES))
def test_each_message_is_written_in_french_and_in_english(key: str) -> None:
    texts = MESSAGES[key]
    assert set(texts) == {"en", "fr"}
    assert texts["fr"] != texts["en"]

    def fields(text: str) -> set[str]:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name}

    assert fields(texts["fr"]) == fields(texts["en"])
