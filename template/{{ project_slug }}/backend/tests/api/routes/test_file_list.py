"""The file list: pages, search (accents and case folded), sort, and the indexes behind them."""

import httpx
import pytest
from sqlalchemy import event, text

from app import crud
from app.core.db import SessionFactory, engine
from tests.conftest import Member, create_user, upload

pytestmark = pytest.mark.anyio


async def test_files_are_listed_newest_first_and_paginated(
    client: httpx.AsyncClient, user: Member
) -> None:
    names = [f"file-{index}.txt" for index in range(3)]
    for name in names:
        assert (await upload(client, user, b"x", name=name)).status_code == 201
    page = (await client.get("/api/files?limit=2", headers=user.headers)).json()
    assert page["total"] == 3
    assert [item["name"] for item in page["items"]] == ["file-2.txt", "file-1.txt"]
    rest = (await client.get("/api/files?offset=2&limit=2", headers=user.headers)).json()
    assert [item["name"] for item in rest["items"]] == ["file-0.txt"]


async def names_of(client: httpx.AsyncClient, user: Member, query: str) -> list[str]:
    response = await client.get(f"/api/files?{query}", headers=user.headers)
    assert response.status_code == 200, response.text
    return [item["name"] for item in response.json()["items"]]


async def test_search_matches_any_part_of_the_name_in_any_case(
    client: httpx.AsyncClient, user: Member
) -> None:
    names = ("Facture-2025-03.pdf", "facture_2024.PDF", "photo.png", "Été à Nice.jpg", "100%.txt")
    for name in names:
        assert (await upload(client, user, b"x", name=name)).status_code == 201
    response = await client.get("/api/files?q=FACTURE", headers=user.headers)
    assert response.json()["total"] == 2
    assert sorted(item["name"] for item in response.json()["items"]) == [
        "Facture-2025-03.pdf",
        "facture_2024.PDF",
    ]
    assert sorted(await names_of(client, user, "q=.pdf")) == [
        "Facture-2025-03.pdf",
        "facture_2024.PDF",
    ]
    assert await names_of(client, user, "q=%C3%A9t%C3%A9") == ["Été à Nice.jpg"]  # "été"
    assert await names_of(client, user, "q=++photo++") == ["photo.png"]  # spaces around trimmed
    # LIKE's wildcards are plain characters in a search.
    assert await names_of(client, user, "q=%25") == ["100%.txt"]
    assert await names_of(client, user, "q=e_2") == ["facture_2024.PDF"]
    nothing = await client.get("/api/files?q=invoice", headers=user.headers)
    assert nothing.json() == {"items": [], "total": 0}
    assert len(await names_of(client, user, "q=")) == 5  # an empty search lists everything


async def test_files_sort_by_name_date_and_size_both_ways(
    client: httpx.AsyncClient, user: Member
) -> None:
    for name, size in (("b.txt", 300), ("A.txt", 100), ("c.txt", 200)):
        assert (await upload(client, user, b"x" * size, name=name)).status_code == 201
    assert await names_of(client, user, "sort=name") == ["A.txt", "b.txt", "c.txt"]  # any case
    assert await names_of(client, user, "sort=name&order=desc") == ["c.txt", "b.txt", "A.txt"]
    assert await names_of(client, user, "sort=size") == ["b.txt", "c.txt", "A.txt"]
    assert await names_of(client, user, "sort=size&order=asc") == ["A.txt", "c.txt", "b.txt"]
    assert await names_of(client, user, "sort=date") == ["c.txt", "A.txt", "b.txt"]
    assert await names_of(client, user, "sort=date&order=asc") == ["b.txt", "A.txt", "c.txt"]
    assert await names_of(client, user, "") == ["c.txt", "A.txt", "b.txt"]  # newest first


async def test_search_ignores_accents_as_a_french_reader_expects(
    client: httpx.AsyncClient, user: Member
) -> None:
    names = ("Dossier Dupré.pdf", "Lefèvre - bail.docx", "Été 2025.jpg", "Noël.txt", "dupont.txt")
    for name in names:
        assert (await upload(client, user, b"x", name=name)).status_code == 201
    assert await names_of(client, user, "q=dupre") == ["Dossier Dupré.pdf"]
    assert await names_of(client, user, "q=LEFEVRE") == ["Lefèvre - bail.docx"]
    assert await names_of(client, user, "q=ete") == ["Été 2025.jpg"]
    assert await names_of(client, user, "q=no%C3%ABl") == ["Noël.txt"]  # typed with its accent
    assert await names_of(client, user, "q=dupr%C3%A9") == ["Dossier Dupré.pdf"]  # "dupré"


async def test_pages_of_a_sorted_search_cover_every_match_once(
    client: httpx.AsyncClient, user: Member
) -> None:
    # Equal sizes: the order between them must still be the same on every page.
    for index in range(7):
        assert (await upload(client, user, b"same", name=f"scan-{index}.png")).status_code == 201
    assert (await upload(client, user, b"other", name="notes.txt")).status_code == 201
    seen = []
    for offset in (0, 3, 6):
        response = await client.get(
            f"/api/files?q=scan&sort=size&order=asc&offset={offset}&limit=3", headers=user.headers
        )
        assert response.json()["total"] == 7
        seen += [item["name"] for item in response.json()["items"]]
    assert sorted(seen) == [f"scan-{index}.png" for index in range(7)]


@pytest.mark.parametrize(
    ("query", "where", "error_type", "words"),
    [
        ("sort=colour", "sort", "literal_error", ["'name'", "'date'", "'size'"]),
        ("order=up", "order", "literal_error", ["'asc'", "'desc'"]),
        ("q=" + "x" * 256, "q", "string_too_long", ["255"]),
        ("q=a%00b", "q", "value_error", ["control characters"]),  # PostgreSQL refuses NUL
        ("q=%1B%5B2J", "q", "value_error", ["control characters"]),
        ("offset=-1", "offset", "greater_than_equal", ["0"]),
        ("limit=1000", "limit", "less_than_equal", ["100"]),
    ],
)
async def test_a_bad_list_parameter_is_a_422_naming_it(
    client: httpx.AsyncClient,
    user: Member,
    query: str,
    where: str,
    error_type: str,
    words: list[str],
) -> None:
    response = await client.get(f"/api/files?{query}", headers=user.headers)
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert (error["loc"], error["type"]) == (["query", where], error_type)
    assert all(word in error["msg"] for word in words), error["msg"]


async def test_the_list_parameters_are_in_the_openapi_document(app) -> None:
    parameters = {
        parameter["name"]: parameter
        for parameter in app.openapi()["paths"]["/api/files"]["get"]["parameters"]
    }
    assert {"offset", "limit", "q", "sort", "order"} <= parameters.keys()
    assert parameters["sort"]["schema"]["enum"] == ["name", "date", "size"]
    assert parameters["sort"]["schema"]["default"] == "date"
    assert parameters["q"]["schema"]["maxLength"] == 255
    assert ["asc", "desc"] in (
        option.get("enum") for option in parameters["order"]["schema"]["anyOf"]
    )
    assert all(parameters[name].get("description") for name in ("q", "sort", "order"))


async def test_ten_thousand_files_are_searched_and_sorted_through_indexes(
    client: httpx.AsyncClient, user: Member
) -> None:
    """EXPLAIN ANALYZE of the list's own statements: 10,000 files of one user among 50,000."""
    neighbour = await create_user(client)
    async with SessionFactory() as session:
        # Names of their own (a search for the user's words finds few of the neighbour's rows).
        for owner, count, words in (
            (user.id, 10_000, ["Facture", "photo", "Rapport"]),
            (neighbour.id, 40_000, ["IMG", "scan", "doc"]),
        ):
            await session.execute(
                text(
                    "INSERT INTO files "
                    "(id, owner_id, name, stored_name, size, sha256, content_type) "
                    "SELECT gen_random_uuid(), CAST(:owner AS uuid), "
                    "(CAST(:words AS text[]))[1 + i % 3] || '-' || i || '.pdf', "
                    "md5(i::text || :owner_text), i * 7919 % 100000, "
                    "md5(i::text) || md5(i::text), 'application/pdf' "
                    "FROM generate_series(1, :count) AS i"
                ),
                {"owner": str(owner), "owner_text": str(owner), "count": count, "words": words},
            )
        await session.commit()
        await session.execute(text("ANALYZE files"))
        statements: list[tuple[str, object]] = []

        def capture(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
            statements.append((statement, parameters))

        async def plans_of(**query: object) -> list[str]:
            statements.clear()
            event.listen(engine.sync_engine, "before_cursor_execute", capture)
            try:
                files, total = await crud.list_files(
                    session, owner_id=user.id, offset=48, limit=24, **query
                )
            finally:
                event.remove(engine.sync_engine, "before_cursor_execute", capture)
            assert len(files) == min(24, max(0, total - 48))
            plans = []
            for statement, parameters in statements:
                connection = await session.connection()
                explained = await connection.exec_driver_sql(
                    f"EXPLAIN (ANALYZE, COSTS OFF) {statement}", parameters
                )
                plans.append("\n".join(row[0] for row in explained))
            return plans

        count, page = await plans_of(search="facture-12", sort="date", descending=True)
        assert "ix_files_name_trigram" in count and "ix_files_name_trigram" in page, count
        count, page = await plans_of(sort="name", descending=False)
        assert "Index Scan using ix_files_owner_id_lower_name" in page, page
        count, page = await plans_of(sort="size", descending=True)
        assert "Index Scan Backward using ix_files_owner_id_size" in page, page
        count, page = await plans_of(sort="date", descending=True)
        assert "ix_files_owner_id_created_at" in page, page
    assert (await client.get("/api/files?q=RAPPORT-9998", headers=user.headers)).json()[
        "total"
    ] == 1
