"""The backups' state on the administrators' page: read from the backup service's status file."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.api.routes import admin as admin_routes
from app.core.config import settings

pytestmark = pytest.mark.anyio


def status_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, state: dict | None) -> None:
    """BACKUP_STATUS_FILE pointing at a file holding `state` (None: no file there)."""
    path = tmp_path / "status.json"
    if state is not None:
        path.write_text(json.dumps(state))
    changed = settings.model_copy(update={"BACKUP_STATUS_FILE": str(path)})
    monkeypatch.setattr(admin_routes, "settings", changed)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


async def test_without_a_status_file_backups_are_not_configured(
    client, admin_headers, tmp_path, monkeypatch
) -> None:
    status_file(tmp_path, monkeypatch, None)
    response = await client.get("/api/backups", headers=admin_headers)
    assert response.status_code == 200
    assert response.json()["configured"] is False


async def test_the_last_copy_and_the_drill_are_shown(
    client, admin_headers, tmp_path, monkeypatch
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    state = {
        "ok": True,
        "checked_at": iso(now),
        "wal_archived_at": iso(now - timedelta(minutes=2)),
        "base_backup_at": iso(now - timedelta(hours=5)),
        "files_snapshot_at": iso(now - timedelta(minutes=9)),
        "drill": {"finished_at": iso(now - timedelta(days=1)), "result": "passed"},
        "problems": [],
    }
    status_file(tmp_path, monkeypatch, state)
    body = (await client.get("/api/backups", headers=admin_headers)).json()
    assert body["configured"] is True and body["ok"] is True and body["problem"] is None
    assert datetime.fromisoformat(body["last_copy_at"]) == now - timedelta(minutes=2)
    assert datetime.fromisoformat(body["drill_at"]) == now - timedelta(days=1)
    assert body["drill_passed"] is True


async def test_a_failing_or_silent_service_is_a_problem(
    client, admin_headers, tmp_path, monkeypatch
) -> None:
    now = datetime.now(UTC)
    problem = "the S3 repository is unreachable"
    failing = {"ok": False, "checked_at": iso(now), "problems": [problem]}
    status_file(tmp_path, monkeypatch, failing)
    body = (await client.get("/api/backups", headers=admin_headers)).json()
    assert (body["ok"], body["problem"]) == (False, problem)
    silent = {"ok": True, "checked_at": iso(now - timedelta(hours=2)), "problems": []}
    status_file(tmp_path, monkeypatch, silent)
    body = (await client.get("/api/backups", headers=admin_headers)).json()
    assert body["ok"] is False and "has not checked the backups" in body["problem"]


async def test_only_admins_see_the_backups(client, user) -> None:
    response = await client.get("/api/backups", headers=user.headers)
    assert response.status_code == 403
