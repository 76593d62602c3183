"""The generated suites' fixture: a throwaway PostgreSQL cluster (the storage suite needs none)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.project import PgCluster, start_pg_cluster


@pytest.fixture(scope="session")
def pg_cluster(session_tmp: Path) -> Iterator[PgCluster]:
    """A real PostgreSQL 15 cluster on a free loopback port, for the backend's suite."""
    cluster = start_pg_cluster(session_tmp / "pg")
    yield cluster
    cluster.stop()
