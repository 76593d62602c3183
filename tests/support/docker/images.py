"""The base images the generated Dockerfiles and compose.yaml name, in the tests' engine.

Where a registry answers (a developer's machine, a hosted CI runner), the official images are
pulled. Where none does, look-alikes are built from Debian packages (lookalike/, see its README)
and tagged with the official names, so the generated files build and run unchanged. Both are kept
in the engine's data root; a look-alike is rebuilt only when the files that build it change, and
its Debian root filesystem is cached apart, so a rebuild does not download it again.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .engine import CACHE, DockerError, Engine

LOOKALIKE = Path(__file__).parent / "lookalike"
LABEL = "org.closo-template.lookalike"
# Which look-alike stands in for an official repository at a version: (folder, Debian suite,
# packages). Only the versions the template offers are known; another is refused clearly.
ROOTFS = {
    ("python", "3.13"): ("python", "trixie", "python3.13,python3.13-venv,python-is-python3"),
    ("python", "3.11"): ("python", "bookworm", "python3.11,python3.11-venv,python-is-python3"),
    # Debian testing (forky): nginx >= 1.27.3, like the official 1.28, follows names inside upstream
    # groups (`server ... resolve`), which the edge relies on; trixie's 1.26 does not.
    # The stream module (built into the official image, a package of its own in Debian) is the
    # shared edge's (edge=shared: remote/shared-edge.conf loads it from modules-enabled/).
    ("nginx", "1.28"): ("nginx", "forky", "nginx,gettext-base,busybox,libnginx-mod-stream"),
    # The db and backup images add pgBackRest, restic and jq with `apk add` (a stand-in that
    # checks they are here): Debian's packages of the same tools.
    ("postgres", "15"): ("postgres", "bookworm", "postgresql-15,pgbackrest,restic,jq"),
    ("postgres", "17"): ("postgres", "trixie", "postgresql-17,pgbackrest,restic,jq"),
    ("certbot/certbot", "v4.0.0"): ("certbot", "trixie", "certbot,openssl"),
}
TESTING_SUITES = ("forky",)
# No cluster at install time: the entrypoint creates one in PGDATA on the first start.
POSTGRES_HOOKS = (
    '--essential-hook=mkdir -p "$1/etc/postgresql-common/createcluster.d" && '
    "echo 'create_main_cluster = false' > \"$1/etc/postgresql-common/createcluster.d/none.conf\"",
)


def base_images(project: Path) -> list[str]:
    """Every image a rendered project builds from or runs as is: FROM lines (with the build
    arguments compose.yaml passes, e.g. the postgres_version answer) and any image compose runs
    as is."""
    names: set[str] = set()
    compose = (project / "compose.yaml").read_text()
    passed = dict(re.findall(r'^\s+([A-Z_]+_VERSION): "?([^"\s]+)"?$', compose, re.MULTILINE))
    for dockerfile in project.glob("*/*/Dockerfile"):
        text = dockerfile.read_text()
        args = {**dict(re.findall(r"^ARG (\w+)=(\S+)", text, re.MULTILINE)), **passed}
        for image in re.findall(r"^FROM (\S+)", text, re.MULTILINE):
            for arg, value in args.items():
                image = image.replace("${" + arg + "}", value)
            names.add(image)
    names.update(re.findall(r"^\s+image: (postgres:\S+)", compose, re.MULTILINE))
    return sorted(n for n in names if ":" in n)


def ensure_base_images(engine: Engine, names: list[str]) -> dict[str, str]:
    """Make every name exist in the engine; return name -> "present", "pulled" or "look-alike"."""
    outcome = {}
    missing = []
    for name in names:
        wanted = _lookalike_hash(name)
        if engine.has_image(name) and engine.image_labels(name).get(LABEL) in (None, wanted):
            outcome[name] = "present"
        else:
            missing.append(name)
    if missing and _registry_answers(engine, missing[0]):
        for name in missing:
            engine.docker("pull", "--quiet", name, timeout=600)
            outcome[name] = "pulled"
        return outcome
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda name: _build_lookalike(engine, name), missing))
    outcome.update(dict.fromkeys(missing, "look-alike"))
    return outcome


def _registry_answers(engine: Engine, name: str) -> bool:
    """One quick pull: where no registry answers it fails in seconds."""
    try:
        result = engine.docker("pull", "--quiet", name, check=False, timeout=30)
    except subprocess.TimeoutExpired:
        return False
    return result.returncode == 0


def _spec(name: str) -> tuple[str, str, str]:
    repository, _, tag = name.partition(":")
    version = tag.split("-")[0]
    for (repo, prefix), spec in ROOTFS.items():
        if repo == repository and (version == prefix or version.startswith(prefix + ".")):
            return spec
    raise DockerError(
        f"no registry answers and there is no look-alike for {name}: add one to "
        "tests/support/docker/images.py (ROOTFS) or use the default python/postgres versions."
    )


def _lookalike_hash(name: str) -> str | None:
    try:
        folder, suite, packages = _spec(name)
    except DockerError:
        return None
    digest = hashlib.sha256(f"{suite} {packages}".encode())
    for path in sorted((LOOKALIKE / folder).rglob("*")):
        digest.update(path.name.encode() + path.read_bytes())
    digest.update(Path("/etc/ssl/certs/ca-certificates.crt").read_bytes())
    return digest.hexdigest()[:16]


def _build_lookalike(engine: Engine, name: str) -> None:
    folder, suite, packages = _spec(name)
    rootfs_image = f"closo-lookalike-rootfs/{folder}:{suite}"
    tarball = (
        CACHE
        / "lookalike"
        / f"{folder}-{suite}-{hashlib.sha256(packages.encode()).hexdigest()[:12]}.tar"
    )
    if not tarball.exists():
        _mmdebstrap(tarball, suite, packages, POSTGRES_HOOKS if folder == "postgres" else ())
    engine.docker("import", str(tarball), rootfs_image, timeout=600)
    with tempfile.TemporaryDirectory() as context:
        shutil.copytree(LOOKALIKE / folder, context, dirs_exist_ok=True)
        shutil.copy("/etc/ssl/certs/ca-certificates.crt", Path(context) / "ca-certificates.crt")
        dockerfile = Path(context) / "Dockerfile"
        dockerfile.write_text(
            dockerfile.read_text().replace(
                f"FROM closo-lookalike-rootfs/{folder}\n", f"FROM {rootfs_image}\n"
            )
        )
        engine.docker(
            "build",
            "--quiet",
            "--label",
            f"{LABEL}={_lookalike_hash(name)}",
            "--tag",
            name,
            context,
            timeout=900,
        )


def _mmdebstrap(tarball: Path, suite: str, packages: str, hooks: tuple[str, ...]) -> None:
    """A minimal Debian root filesystem with `packages`, from the mirror apt is set up with."""
    tarball.parent.mkdir(parents=True, exist_ok=True)
    partial = tarball.with_suffix(".partial")
    result = subprocess.run(
        [
            "mmdebstrap",
            "--variant=minbase",
            "--format=tar",
            '--aptopt=APT::Install-Recommends "false"',
            # A testing suite's Release is valid for a week; a mirror (or a machine's clock) a
            # little out of step must not stop the build. Signatures are still checked.
            *(['--aptopt=Acquire::Check-Valid-Until "false"'] if suite in TESTING_SUITES else []),
            "--dpkgopt=path-exclude=/usr/share/man/*",
            "--dpkgopt=path-exclude=/usr/share/doc/*",
            "--dpkgopt=path-exclude=/usr/share/locale/*",
            f"--include=ca-certificates,{packages}",
            *hooks,
            '--customize-hook=rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin',
            suite,
            str(partial),
            _mirror(),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        raise DockerError(f"mmdebstrap {suite} {packages} failed:\n{result.stderr[-3000:]}")
    partial.rename(tarball)


def _mirror() -> str:
    for sources in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        if match := re.search(r"^URIs:\s*(\S+)", sources.read_text(), re.MULTILINE):
            return match[1]
    listing = Path("/etc/apt/sources.list")
    if listing.exists() and (
        match := re.search(r"^deb\s+(\S+)", listing.read_text(), re.MULTILINE)
    ):
        return match[1]
    raise DockerError("no Debian mirror found in the apt sources: look-alikes cannot be built.")
