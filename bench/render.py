"""How long `copier copy` takes and how big the rendered project is."""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


def copier_copy(source: Path, dest: Path) -> float:
    """Wall time of one `copier copy` with default answers, as a user runs it (new process)."""
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "copier",
            "copy",
            "--defaults",
            "--trust",
            "--quiet",
            str(source),
            str(dest),
        ],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def project_size(root: Path) -> dict[str, int]:
    files = [path for path in root.rglob("*") if path.is_file()]
    return {"files": len(files), "bytes": sum(path.stat().st_size for path in files)}


def measure_render(source: Path, workdir: Path, runs: int) -> dict:
    """Median wall time of `runs` renders of the template snapshot `source` into fresh folders."""
    seconds = []
    for index in range(runs):
        dest = workdir / f"render-{index}"
        seconds.append(copier_copy(source, dest))
        if index < runs - 1:
            shutil.rmtree(dest)
    return {
        "runs": runs,
        "median_s": round(statistics.median(seconds), 3),
        "all_s": [round(value, 3) for value in seconds],
        **project_size(workdir / f"render-{runs - 1}"),
    }
