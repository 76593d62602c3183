"""Download through the edge (/storage/files/ → storage → X-Accel-Redirect → nginx sendfile)
next to a plain static nginx serving the very same file: their ratio is how close the real path
comes to the physical limit of this machine."""

from __future__ import annotations

from pathlib import Path

from static_nginx import StaticNginx
from transfer import compare_downloads, upload
from users import Account


def measure_download(
    edge_url: str, cafile: str, state_dir: Path, account: Account, size_mib: int, runs: int
) -> dict:
    # A private link (owner, expiry, signature): the edge's answer is checked by storage first.
    link = upload(edge_url, cafile, account, size_mib, memory_pids={})["file"]["url"]
    name = link.split("?")[0].rsplit("/", 1)[1]
    volume = state_dir / "storage_data"
    edge_port = int(edge_url.rsplit(":", 1)[1])
    with StaticNginx(state_dir / "static-nginx", state_dir / "nginx" / "conf.d", volume) as static:
        urls = {
            "edge": f"{edge_url}{link}",
            "static": f"{static.url}/{name[0:2]}/{name[2:4]}/{name}",
        }
        try:
            speeds = compare_downloads(
                urls, cafile, {"edge": edge_port, "static": static.port}, runs
            )
        except RuntimeError as error:
            raise RuntimeError(f"{error}; the static nginx's log: {static.log_tail()}") from error
    edge, plain = speeds["edge"]["median_mib_per_s"], speeds["static"]["median_mib_per_s"]
    return {
        "size_mib": size_mib,
        "runs": runs,
        **speeds,
        "ratio": round(edge / plain, 3),
    }
