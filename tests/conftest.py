"""Fixtures shared by several layers: the rendered template, the booted stack, a Docker engine,
Chromium (`browser`, `open_page`: declared here once, since two Playwright instances cannot run in
one thread and a fixture imported by two layers' conftests would start one each).

A layer's own fixtures live in its folder's conftest.py; helpers live in tests/support/
(importable as `support.*`: pyproject.toml puts tests/ on the path)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.browser import browser as browser  # Chromium: one for the session (see below)
from support.browser import open_page as open_page
from support.docker.engine import Engine, exclusive, start_engine
from support.project import Stack, boot_stack, render, world_readable_tmpdir


@pytest.fixture(scope="session")
def session_tmp() -> Iterator[Path]:
    """A session folder the `postgres` and nginx worker users can traverse (pytest's is 0700)."""
    path = world_readable_tmpdir("closo-tests-")
    yield path
    if not os.environ.get("KEEP_TEST_DIRS"):
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def rendered_project(session_tmp: Path) -> Path:
    """The template rendered once with default answers (read-only: render your own to edit)."""
    return render(session_tmp / "default")


@pytest.fixture(scope="session")
def stack(session_tmp: Path) -> Iterator[Stack]:
    """The default rendering booted by its native runner; shared by the whole session.

    Tests must leave it running and usable: create your own users and files, never stop a service
    (tests that break things boot a stack of their own with `boot_stack`).
    """
    # Every test signs in from 127.0.0.1: the edge's per-address limit on logins is raised so a
    # whole session of tests fits in it (tests of the limit itself send more than this).
    booted = boot_stack(session_tmp / "stack", settings={"AUTH_RATE_PER_MINUTE": "600"})
    yield booted
    booted.down()


@pytest.fixture(scope="session")
def docker_engine(session_tmp: Path) -> Iterator[Engine]:
    """A Docker engine of the tests' own (containers and deploy layers), stopped by its PID.

    Images stay in its data root between runs (see support/docker/engine.py)."""
    with exclusive("docker-engine"):
        engine = start_engine(session_tmp / "docker")
        try:
            yield engine
        finally:
            engine.stop()


# Seconds per test module (setup, call and teardown summed, session fixtures included where
# they are first used), printed at the end of every run so the README's layer times can be
# checked against the run CI just made.
_module_seconds: dict[str, float] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    module = report.nodeid.split("::", 1)[0]
    _module_seconds[module] = _module_seconds.get(module, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter) -> None:
    if not _module_seconds:
        return
    terminalreporter.section("seconds per module")
    for module, seconds in sorted(_module_seconds.items(), key=lambda item: -item[1]):
        terminalreporter.write_line(f"{seconds:8.1f}  {module}")
