"""The backup service's status file (its `backup status` JSON) in the few facts the
administrators' page shows. The service refreshes the file every few minutes; one that has not
been refreshed for STALE is itself a problem (the service stopped)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from app.schemas import BackupStatePublic

STALE = timedelta(minutes=30)
COPY_TIMES = ("wal_archived_at", "base_backup_at", "files_snapshot_at")


def _when(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def read_backup_state(path: str, now: datetime | None = None) -> BackupStatePublic:
    if not path or not Path(path).is_file():
        return BackupStatePublic(configured=False)
    try:
        state = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return BackupStatePublic(configured=True, ok=False, problem=f"{path} cannot be read.")
    if not isinstance(state, dict):
        return BackupStatePublic(configured=True, ok=False, problem=f"{path} is not a status.")
    copies = [t for t in (_when(state.get(key)) for key in COPY_TIMES) if t]
    drill = state.get("drill") if isinstance(state.get("drill"), dict) else {}
    problems = [p for p in state.get("problems") or [] if isinstance(p, str)]
    checked_at = _when(state.get("checked_at"))
    if checked_at and (now or datetime.now(UTC)) - checked_at > STALE:
        problems.insert(
            0,
            "the backup service has not checked the backups for over 30 minutes: "
            "is it running? (status, docker compose logs backup)",
        )
    return BackupStatePublic(
        configured=True,
        ok=bool(state.get("ok")) and not problems,
        last_copy_at=max(copies, default=None),
        drill_at=_when(drill.get("finished_at")),
        drill_passed=(drill.get("result") == "passed") if drill.get("result") else None,
        problem=problems[0] if problems else None,
        checked_at=checked_at,
    )
