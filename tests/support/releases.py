"""Template releases and generated deployments for the `copier update` tests.

A test template repository starts as a snapshot of the working tree tagged v90.1.0; later releases
are edits of it, committed and tagged, as a maintainer would release them. Deployments are
generated from it and committed, as docs/update.md tells users to.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import copier
import yaml

from support.project import REPO_ROOT, template_snapshot

COPIER = Path(sys.executable).with_name("copier")
WORKFLOW = Path(".github/workflows/template-update.yml")
OLD_SCHEDULE = '    - cron: "17 6 * * 1"  # Mondays at 06:17 UTC'
NEW_SCHEDULE = '    - cron: "17 6 * * 1,4"  # Mondays and Thursdays at 06:17 UTC'
NEW_FILE = Path("template/RELEASE-90.2.0.md.jinja")
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Update Tests",
    "GIT_AUTHOR_EMAIL": "update-tests@example.com",
    "GIT_COMMITTER_NAME": "Update Tests",
    "GIT_COMMITTER_EMAIL": "update-tests@example.com",
}


def git(cwd: Path, *args: str) -> str:
    """Run git in `cwd`; return its stdout, fail loudly with its stderr."""
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"git {' '.join(args)} failed in {cwd}:\n{done.stderr}"
    return done.stdout


def commit_all(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "--no-gpg-sign", "-m", message)


def first_release(repo: Path) -> Path:
    """A template repository holding the working tree, tagged v90.1.0."""
    template_snapshot(repo)
    git(repo, "init", "--quiet", "--initial-branch=main")
    commit_all(repo, "Release 90.1.0")
    git(repo, "tag", "v90.1.0")
    return repo


def release(repo: Path, version: str, *edits: Callable[[Path], None]) -> None:
    """Apply `edits` to the template repository, commit and tag `v<version>`."""
    for edit in edits:
        edit(repo)
    commit_all(repo, f"Release {version}")
    git(repo, "tag", f"v{version}")


# --- Edits a release makes -----------------------------------------------------------------------


def add_release_notes_file(repo: Path) -> None:
    """A new generated file that uses answers (new in 90.2.0)."""
    (repo / NEW_FILE).write_text(
        "# Deployment of {{ domain }}\n\nDeploys as {{ deploy_user }}@{{ ssh_host }}.\n"
    )


def change_update_schedule(repo: Path) -> None:
    """A changed line in an existing generated file (the CI check runs twice a week)."""
    path = repo / "template" / WORKFLOW
    text = path.read_text()
    assert OLD_SCHEDULE in text, f"{WORKFLOW} no longer has the schedule line the tests edit"
    path.write_text(text.replace(OLD_SCHEDULE, NEW_SCHEDULE))


def rename_question(repo: Path, old: str, new: str, *, carry_over: bool) -> None:
    """Rename the question `old` to `new` in copier.yml and in every template file using it.

    With `carry_over`, the new question's default reads the old answer: the declarative
    migration docs/update.md recommends. Without it, only a `_migrations` task can carry it.
    """
    config_path = repo / "copier.yml"
    config_path.write_text(config_path.read_text().replace(old, new))
    if carry_over:
        config = yaml.safe_load(config_path.read_text())
        default = config[new]["default"]
        config[new]["default"] = f"{{{{ {old} | default({default!r}) }}}}"
        config_path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    for path in (repo / "template").rglob("*.jinja"):
        text = path.read_text()
        if old in text:
            path.write_text(text.replace(old, new))


def add_answer_migration(repo: Path, version: str, old: str, new: str) -> None:
    """A `_migrations` task that renames an answer in the answers file before the update."""
    config_path = repo / "copier.yml"
    config = yaml.safe_load(config_path.read_text())
    script = (
        "import pathlib, re, sys; p = pathlib.Path(sys.argv[1]); "
        "p.write_text(re.sub(r'(?m)^' + sys.argv[2] + ':', sys.argv[3] + ':', p.read_text()))"
    )
    config["_migrations"] = [
        {
            "version": f"v{version}",
            "when": "{{ _stage == 'before' }}",
            "command": [
                "{{ _copier_python }}",
                "-c",
                script,
                "{{ _copier_conf.answers_file }}",
                old,
                new,
            ],
        }
    ]
    config_path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))


# --- Deployments ---------------------------------------------------------------------------------


def generate(template: Path, dest: Path, vcs_ref: str, **answers: object) -> Path:
    """`copier copy` at `vcs_ref`, then `git init && git add -A && git commit` as the docs say."""
    copier.run_copy(
        str(template),
        str(dest),
        data=answers,
        vcs_ref=vcs_ref,
        defaults=True,
        quiet=True,
        unsafe=False,
    )
    git(dest, "init", "--quiet", "--initial-branch=main")
    commit_all(dest, "Generated from closo-template")
    return dest


def update(project: Path, *, unsafe: bool = False, **answers: object) -> None:
    """`copier update --skip-answered --defaults`: the documented command, to the latest tag."""
    copier.run_update(
        str(project),
        data=answers,
        skip_answered=True,
        defaults=True,
        overwrite=True,
        quiet=True,
        unsafe=unsafe,
    )


def run_copier_cli(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(COPIER), *args], cwd=project, capture_output=True, text=True, check=False
    )


def answers_of(project: Path) -> dict[str, object]:
    return yaml.safe_load((project / ".copier-answers.yml").read_text())


def unmerged_paths(project: Path) -> set[str]:
    """Paths `git ls-files -u` reports: the conflicts a user must resolve."""
    return {line.split("\t", 1)[1] for line in git(project, "ls-files", "-u").splitlines()}


def files_of(project: Path) -> dict[str, bytes]:
    """Every file of the deployment but git's own, ignored ones (.env) included, by path."""
    return {
        str(path.relative_to(project)): path.read_bytes()
        for path in sorted(project.rglob("*"))
        if path.is_file() and ".git" not in path.relative_to(project).parts[:1]
    }


# --- The template's own releases, as CHANGELOG.md names them --------------------------------------


def changelog_releases() -> list[tuple[str, str | None]]:
    """(version, commit or None while unreleased) of each CHANGELOG.md section, newest first,
    read by the script the release workflow runs (scripts/release.py)."""
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "release.py"), "list"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return [
        (version, None if commit == "unreleased" else commit)
        for version, commit in (line.split() for line in done.stdout.splitlines())
    ]


def released_template(repo: Path) -> Path:
    """A clone of this repository whose released commits are tagged as CHANGELOG.md names them
    (CI's fresh clone may carry no tags), with the working tree committed on top and tagged with
    the unreleased section's version when there is one: the template users will update to."""
    done = subprocess.run(
        ["git", "clone", "--quiet", "--no-checkout", str(REPO_ROOT), str(repo)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    releases = changelog_releases()
    for version, commit in releases:
        if commit:
            known = subprocess.run(
                ["git", "cat-file", "-e", f"{commit}^{{commit}}"], cwd=repo, check=False
            )
            assert known.returncode == 0, (
                f"CHANGELOG.md's {version} names commit {commit}, which this clone lacks: "
                "a shallow clone? Run `git fetch --unshallow` (CI: fetch-depth: 0)."
            )
            git(repo, "tag", f"v{version}", commit)
    git(repo, "checkout", "--quiet", "HEAD")
    for part in ("copier.yml", "includes", "template"):
        shutil.rmtree(repo / part, ignore_errors=True)
        (repo / part).unlink(missing_ok=True)
    template_snapshot(repo / "snapshot")
    for part in (repo / "snapshot").iterdir():
        part.rename(repo / part.name)
    (repo / "snapshot").rmdir()
    git(repo, "add", "-A")  # empty on a clean checkout (CI): HEAD is the working tree then
    git(repo, "commit", "--quiet", "--no-gpg-sign", "--allow-empty", "-m", "The working tree")
    version, commit = releases[0]
    if commit is None:
        git(repo, "tag", f"v{version}")
    return repo


def settings_of(text: str) -> dict[str, set[str]]:
    """KEY -> the units its comment lines name, from a settings.env(.jinja) text."""
    units = re.compile(r"\b(decimal megabytes|megabytes|MiB|MB|bytes|minutes|hours|days|seconds)\b")
    found: dict[str, set[str]] = {}
    comment: list[str] = []
    for line in text.splitlines():
        if line.startswith("#"):
            comment.append(line)
            continue
        match = re.match(r"([A-Z][A-Z0-9_]*)=", line)
        if match:
            found.setdefault(match[1], set()).update(units.findall(" ".join(comment)))
        comment = []
    return found
