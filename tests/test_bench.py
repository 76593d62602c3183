"""The benchmark command in smoke mode: the same code paths as a full run, tiny sizes, seconds.

It checks that every measurement produced a sane number, not that the numbers meet the targets
(that is docs/performance.md's job, from a full run on a quiet machine).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import REPO_ROOT

pytestmark = pytest.mark.bench


def positive(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str]:
    out = tmp_path_factory.mktemp("bench") / "smoke.json"
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "bench" / "run.py"), "--smoke", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    return json.loads(Path(out).read_text()), result.stdout


def test_render_and_boot_are_timed(smoke: tuple[dict, str]) -> None:
    results, _ = smoke
    assert positive(results["render"]["median_s"])
    assert results["render"]["files"] > 50 and results["render"]["bytes"] > 100_000
    assert positive(results["up_warm"]["median_s"])
    assert results["up_cold"] == {"skipped": "not measured (--smoke or --no-cold)"}
    assert all(positive(rss) for rss in results["idle_rss_mb"].values())


@pytest.mark.parametrize("endpoint", ["health", "users_me"])
@pytest.mark.parametrize("route", ["direct", "edge"])
def test_api_load_answers_without_errors(
    smoke: tuple[dict, str], endpoint: str, route: str
) -> None:
    measured = smoke[0]["api"][endpoint][route]
    # An error (a 401 for a bad token, a 429 from the edge) would make the rate meaningless.
    assert measured["errors"] == 0, measured
    for key in ("rps", "p50_ms", "p99_ms", "requests"):
        assert positive(measured[key]), (key, measured)
    assert measured["p50_ms"] <= measured["p99_ms"]


def test_logins_and_their_memory(smoke: tuple[dict, str]) -> None:
    login = smoke[0]["login"]
    assert login["errors"] == 0, login
    assert positive(login["rps"]) and positive(login["p99_ms"])
    assert login["memory"]["backend"]["peak_rss_mb"] >= login["memory"]["backend"]["rss_before_mb"]


def test_upload_and_download_through_the_edge(smoke: tuple[dict, str]) -> None:
    results = smoke[0]
    upload = results["upload"]
    assert upload["file"]["size"] == upload["size_mib"] * 1024 * 1024
    assert positive(upload["mib_per_s"])
    assert all(positive(upload["memory"][name]["peak_rss_mb"]) for name in ("backend", "storage"))
    download = results["download"]
    assert positive(download["edge"]["median_mib_per_s"])
    assert positive(download["static"]["median_mib_per_s"])
    assert positive(download["ratio"])


def test_every_target_is_checked_and_the_table_printed(smoke: tuple[dict, str]) -> None:
    results, stdout = smoke
    assert len(results["targets"]) == 10
    for check in results["targets"]:
        assert positive(check["value"]), check
        assert isinstance(check["met"], bool), check
        assert check["target"] in stdout
    assert positive(results["down_s"])
    assert results["machine"]["cores"] >= 1
