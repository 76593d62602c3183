"""BACKEND_WORKERS as the start command reads it, and the share of the hashing bound per worker."""

from __future__ import annotations

import pytest

from app.core import workers


def test_a_positive_number_of_workers_is_taken_as_given() -> None:
    assert workers.worker_count("1") == 1
    assert workers.worker_count(" 3 ") == 3


@pytest.mark.parametrize("setting", ["0", "", None])
def test_zero_or_unset_means_one_worker_per_usable_core_at_most_four(setting: str | None) -> None:
    expected = min(workers.MAX_WORKERS, workers.usable_cores())
    assert workers.worker_count(setting) == expected >= 1


@pytest.mark.parametrize("setting", ["two", "-1", "1.5"])
def test_a_setting_that_is_not_a_whole_number_stops_the_start_with_the_fix(setting: str) -> None:
    with pytest.raises(SystemExit, match="BACKEND_WORKERS=.*use a whole number, or 0"):
        workers.worker_count(setting)


def test_a_worker_knows_how_many_share_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    assert workers.running_workers() == 3
    monkeypatch.delenv("WEB_CONCURRENCY")
    assert workers.running_workers() == 1  # started as `uvicorn app.main:app`, without the launcher
