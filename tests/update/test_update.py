"""`copier update` is safe and boring: deployments follow the template, keep edits and secrets.

Most tests generate a deployment from v90.1.0 of a temporary template repository (the working
tree, tagged) and update it to v90.2.0 (a release that adds a file, changes a line of the CI
check and renames the answer `ssh_user` to `deploy_user`), with real copier and real git; the
versions are above every real release, so the template's own migrations stay out of them. The
last tests take the real path: from each release CHANGELOG.md names, at its commit, to the
working tree.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from copier.errors import UnsafeTemplateError
from support.api import (
    PASSWORD,
    admin_headers,
    all_files,
    bearer,
    download_sha256,
    edge_client,
    login,
    register_and_login,
    sha256,
    upload,
)
from support.project import REPO_ROOT, Stack, read_env
from support.releases import (
    COPIER,
    GIT_ENV,
    NEW_FILE,
    NEW_SCHEDULE,
    OLD_SCHEDULE,
    WORKFLOW,
    add_answer_migration,
    add_release_notes_file,
    answers_of,
    change_update_schedule,
    changelog_releases,
    commit_all,
    files_of,
    first_release,
    generate,
    git,
    release,
    released_template,
    rename_question,
    run_copier_cli,
    settings_of,
    unmerged_paths,
    update,
)

pytestmark = pytest.mark.update

OLD_DOMAIN, NEW_DOMAIN = "old-site.example.com", "new-site.example.org"
# E-mails apart from the domain, so a changed domain is easy to trace through the files.
ANSWERS = {
    "domain": OLD_DOMAIN,
    "admin_email": "ops@example.net",
    "ssl_email": "ops@example.net",
    "ssh_user": "deployer",
}
RENDERED_NEW_FILE = NEW_FILE.with_suffix("").relative_to("template")
CONFIG = yaml.safe_load((REPO_ROOT / "copier.yml").read_text())


@pytest.fixture(scope="module", autouse=True)
def git_identity() -> Iterator[None]:
    """Commits need an author; do not depend on the machine's git configuration."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in GIT_ENV.items():
            patch.setenv(name, value)
        yield


@pytest.fixture(scope="module")
def template_repo(session_tmp: Path, git_identity: None) -> Path:
    repo = first_release(session_tmp / "update-template")
    release(
        repo,
        "90.2.0",
        add_release_notes_file,
        change_update_schedule,
        lambda r: rename_question(r, "ssh_user", "deploy_user", carry_over=True),
    )
    return repo


@pytest.fixture
def deployment(template_repo: Path, tmp_path: Path) -> Path:
    """A deployment generated from v90.1.0 and committed."""
    return generate(template_repo, tmp_path / "deployment", "v90.1.0", **ANSWERS)


@pytest.fixture(scope="module")
def updated(template_repo: Path, session_tmp: Path) -> tuple[Path, dict[str, bytes]]:
    """A v90.1.0 deployment updated to the latest tag, and its files before the update."""
    project = generate(template_repo, session_tmp / "updated", "v90.1.0", **ANSWERS)
    before = files_of(project)
    update(project)
    return project, before


@pytest.fixture(scope="module")
def redomained(template_repo: Path, session_tmp: Path) -> Path:
    """A v90.1.0 deployment updated with `--data domain=<new>`."""
    project = generate(template_repo, session_tmp / "redomained", "v90.1.0", **ANSWERS)
    update(project, domain=NEW_DOMAIN)
    return project


def skip_if_exists_paths(project: Path) -> list[Path]:
    return [path for pattern in CONFIG["_skip_if_exists"] for path in project.glob(pattern)]


# --- Versions ------------------------------------------------------------------------------------


def test_copy_needs_no_trust_and_records_the_release(deployment: Path, template_repo: Path):
    answers = answers_of(deployment)
    assert answers["_commit"] == "v90.1.0"
    assert answers["_src_path"] == str(template_repo)
    assert git(deployment, "status", "--porcelain") == "", "a fresh deployment commits cleanly"


def test_template_tasks_are_gated_on_the_operation():
    """Tasks run on copy and several times per update: each must say when it runs."""
    for task in CONFIG.get("_tasks", []):
        assert isinstance(task, dict) and "_copier_operation" in str(task.get("when")), task


def test_update_goes_to_the_latest_tag_with_its_new_files_and_changes(updated):
    project, before = updated
    assert str(RENDERED_NEW_FILE) not in before
    assert answers_of(project)["_commit"] == "v90.2.0"
    assert (project / RENDERED_NEW_FILE).read_text().startswith(f"# Deployment of {OLD_DOMAIN}\n")
    workflow = (project / WORKFLOW).read_text()
    assert NEW_SCHEDULE in workflow and OLD_SCHEDULE not in workflow
    assert unmerged_paths(project) == set()
    assert not list(project.rglob("*.rej"))


# --- Secrets -------------------------------------------------------------------------------------


def test_env_is_byte_identical_after_update(updated, template_repo: Path, tmp_path: Path):
    project, before = updated
    assert (project / ".env").read_bytes() == before[".env"]
    # The update renders the old version again behind the scenes, with new random secrets:
    # a second copy of the same version shows the values it would have written.
    again = generate(template_repo, tmp_path / "again", "v90.1.0", **ANSWERS)
    assert (again / ".env").read_bytes() != before[".env"]
    assert git(project, "status", "--porcelain", "--ignored", "--", ".env") == "!! .env\n"


def test_skip_if_exists_files_keep_their_bytes_even_when_tracked(deployment: Path):
    """Teams that commit an encrypted or local .env (`git add -f`) keep it through updates."""
    kept = {path: path.read_bytes() for path in skip_if_exists_paths(deployment)}
    assert deployment / ".env" in kept
    git(deployment, "add", "--force", *map(str, kept))
    git(deployment, "commit", "--quiet", "--no-gpg-sign", "-m", "Track the secrets")
    update(deployment)
    assert {path: path.read_bytes() for path in kept} == kept
    assert git(deployment, "status", "--porcelain", "--", *map(str, kept)) == ""
    assert unmerged_paths(deployment) == set()


# --- Answers -------------------------------------------------------------------------------------


def test_renamed_answer_is_carried_over_by_the_new_default(updated):
    project, before = updated
    answers = answers_of(project)
    assert answers["deploy_user"] == "deployer"
    assert "ssh_user" not in answers
    assert f"as deployer@{answers['ssh_host']}" in (project / RENDERED_NEW_FILE).read_text()
    for name, content in before.items():
        if b"deployer" in content and name != ".copier-answers.yml":
            assert b"deployer" in (project / name).read_bytes(), name


def test_renamed_answer_is_migrated_by_a_trusted_migration(session_tmp: Path, tmp_path: Path):
    repo = first_release(session_tmp / "migrating-template")
    release(
        repo,
        "90.2.0",
        lambda r: rename_question(r, "ssh_user", "deploy_user", carry_over=False),
        lambda r: add_answer_migration(r, "90.2.0", "ssh_user", "deploy_user"),
    )
    project = generate(repo, tmp_path / "deployment", "v90.1.0", **ANSWERS)
    with pytest.raises(UnsafeTemplateError, match="migrations"):
        update(project)
    assert answers_of(project)["_commit"] == "v90.1.0", "a refused update changes nothing"
    update(project, unsafe=True)
    answers = answers_of(project)
    assert (answers["_commit"], answers["deploy_user"]) == ("v90.2.0", "deployer")
    assert "ssh_user" not in answers


def test_changed_answer_reaches_every_rendered_file(redomained: Path):
    kept = {str(path.relative_to(redomained)) for path in skip_if_exists_paths(redomained)}
    assert answers_of(redomained)["domain"] == NEW_DOMAIN
    assert NEW_DOMAIN in (redomained / RENDERED_NEW_FILE).read_text()
    stale = [
        name
        for name, content in files_of(redomained).items()
        if OLD_DOMAIN.encode() in content and name not in kept
    ]
    assert stale == []


def test_changed_answer_reaches_every_file_env_included(redomained: Path):
    stale = [
        name for name, content in files_of(redomained).items() if OLD_DOMAIN.encode() in content
    ]
    assert stale == []


# --- Local edits and conflicts -------------------------------------------------------------------


def test_local_edits_survive_the_update(deployment: Path):
    workflow = deployment / WORKFLOW
    workflow.write_text(
        workflow.read_text().replace("runs-on: ubuntu-latest", "runs-on: self-hosted")
    )
    (deployment / ".gitignore").write_text((deployment / ".gitignore").read_text() + "notes/\n")
    (deployment / "LOCAL.md").write_text("Our own runbook.\n")
    git(deployment, "add", "-A")
    git(deployment, "commit", "--quiet", "--no-gpg-sign", "-m", "Local edits")
    update(deployment)
    text = workflow.read_text()
    assert "runs-on: self-hosted" in text and NEW_SCHEDULE in text
    assert (deployment / ".gitignore").read_text().endswith("notes/\n")
    assert (deployment / "LOCAL.md").read_text() == "Our own runbook.\n"
    assert unmerged_paths(deployment) == set()


def test_conflicting_edit_is_reported_by_git_and_resolvable(deployment: Path):
    workflow = deployment / WORKFLOW
    ours = '    - cron: "0 3 * * *"  # every night at 03:00 UTC'
    workflow.write_text(workflow.read_text().replace(OLD_SCHEDULE, ours))
    git(deployment, "commit", "--quiet", "--no-gpg-sign", "-am", "Check every night")
    done = run_copier_cli(deployment, "update", "--skip-answered", "--defaults")
    assert done.returncode == 0, "copier exits 0 on a conflict: only git tells (docs/update.md)"
    assert unmerged_paths(deployment) == {str(WORKFLOW)}
    text = workflow.read_text()
    assert "<<<<<<< before updating" in text and ">>>>>>> after updating" in text
    assert ours in text and NEW_SCHEDULE in text
    # Resolve as docs/update.md says: keep one side, drop the markers, `git add` the file.
    resolved = [
        line
        for line in text.splitlines(keepends=True)
        if not line.startswith(("<<<<<<<", "=======", ">>>>>>>", NEW_SCHEDULE))
    ]
    workflow.write_text("".join(resolved))
    git(deployment, "add", str(WORKFLOW))
    assert unmerged_paths(deployment) == set()
    # PyYAML reads the workflow's `on:` key as the boolean true (YAML 1.1).
    assert yaml.safe_load(workflow.read_text())[True]["schedule"] == [{"cron": "0 3 * * *"}]


def test_docs_explain_how_to_resolve_a_conflict():
    docs = (REPO_ROOT / "docs" / "update.md").read_text()
    for needle in (
        "git ls-files -u",
        "<<<<<<< before updating",
        ">>>>>>> after updating",
        "git add",
        "copier check-update",
    ):
        assert needle in docs, needle


@pytest.mark.parametrize("dirt", ["modified", "untracked"])
def test_update_refuses_a_dirty_repository(deployment: Path, dirt: str):
    target = deployment / (".gitignore" if dirt == "modified" else "draft.txt")
    target.write_text("work in progress\n")
    done = run_copier_cli(deployment, "update", "--skip-answered", "--defaults")
    assert done.returncode != 0
    assert "Destination repository is dirty; cannot continue" in done.stderr
    assert "commit or stash your local changes" in done.stderr
    assert answers_of(deployment)["_commit"] == "v90.1.0"
    assert target.read_text() == "work in progress\n"


# --- The CI check in the generated project --------------------------------------------------------


def check_step_script(project: Path) -> str:
    workflow = yaml.safe_load((project / WORKFLOW).read_text())
    steps = workflow["jobs"]["check-update"]["steps"]
    return next(step["run"] for step in steps if step.get("id") == "check")


def run_check_step(project: Path, summary: Path) -> subprocess.CompletedProcess[str]:
    """The workflow's check step, as the runner executes it (copier on PATH, a step summary)."""
    env = {
        "PATH": f"{COPIER.parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(project),
        "GITHUB_STEP_SUMMARY": str(summary),
    }
    return subprocess.run(
        ["bash", "-c", check_step_script(project)],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_ci_check_fails_with_a_summary_when_a_newer_release_exists(
    deployment: Path, tmp_path: Path
):
    summary = tmp_path / "summary.md"
    done = run_check_step(deployment, summary)
    assert done.returncode == 1, done.stderr
    assert "::warning title=Template update available::" in done.stdout
    assert "closo-template 90.2.0 is out; this deployment uses 90.1.0" in done.stdout
    assert "Template update available: 90.1.0 → 90.2.0" in summary.read_text()
    assert git(deployment, "status", "--porcelain") == "", "the check renders nothing"


def test_ci_check_passes_when_up_to_date(updated, tmp_path: Path):
    project, _ = updated
    done = run_check_step(project, tmp_path / "summary.md")
    assert done.returncode == 0, done.stderr
    assert "Template is up to date (90.2.0)." in done.stdout


def test_ci_workflow_is_valid_and_its_script_lints(rendered_project: Path, tmp_path: Path):
    workflow = rendered_project / WORKFLOW
    schema = subprocess.run(
        [
            str(COPIER.with_name("check-jsonschema")),
            "--builtin-schema",
            "vendor.github-workflows",
            str(workflow),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert schema.returncode == 0, schema.stdout + schema.stderr
    script = tmp_path / "check.sh"
    script.write_text(check_step_script(rendered_project))
    lint = subprocess.run(
        [str(COPIER.with_name("shellcheck")), "--shell=bash", str(script)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert lint.returncode == 0, lint.stdout


# --- The template's own releases (CHANGELOG.md) ---------------------------------------------------

CHANGELOG_TEXT = (REPO_ROOT / "CHANGELOG.md").read_text()


def changelog_section(version: str) -> str:
    start = CHANGELOG_TEXT.index(f"\n## {version} (")
    end = CHANGELOG_TEXT.find("\n## ", start + 1)
    return CHANGELOG_TEXT[start : end if end > 0 else None]


def test_changelog_names_each_release_with_its_parts_newest_first():
    releases = changelog_releases()
    versions = [tuple(map(int, version.split("."))) for version, _ in releases]
    assert versions == sorted(versions, reverse=True) and len(set(versions)) == len(versions)
    assert all(commit for _, commit in releases[1:]), "only the newest section may be unreleased"
    for version, _ in releases:
        section = changelog_section(version)
        assert "**Generated projects**" in section and "**Action needed**" in section, version
    tags = git(REPO_ROOT, "tag", "--list", "v*").split()
    missing = {tag for tag in tags if f"\n## {tag[1:]} (" not in CHANGELOG_TEXT}
    assert not missing, f"tagged releases without a CHANGELOG.md section: {missing}"


def test_every_setting_that_appears_or_changes_unit_has_an_entry():
    """settings.env's keys and the units their comments name, release by release: each key added,
    removed or measured differently is named in the section of the release that brings it."""
    releases = changelog_releases()
    path = "template/settings.env.jinja"
    texts = [
        (
            version,
            (REPO_ROOT / path).read_text()
            if commit is None
            else git(REPO_ROOT, "show", f"{commit}:{path}"),
        )
        for version, commit in releases
    ]
    newest = releases[0][1]
    if newest is not None and not git(REPO_ROOT, "rev-parse", "HEAD").startswith(newest):
        texts.insert(0, ("unreleased", (REPO_ROOT / path).read_text()))
    for (newer, new_text), (_, old_text) in itertools.pairwise(texts):
        new, old = settings_of(new_text), settings_of(old_text)
        changed = (new.keys() ^ old.keys()) | {
            key for key in new.keys() & old.keys() if new[key] != old[key]
        }
        assert newer != "unreleased" or not changed, (
            f"settings {sorted(changed)} changed since the last release: start a "
            "'## X.Y.Z (unreleased)' section in CHANGELOG.md that names them"
        )
        section = changelog_section(newer) if newer != "unreleased" else ""
        unnamed = sorted(key for key in changed if f"`{key}`" not in section)
        assert not unnamed, f"CHANGELOG.md's {newer} does not name the settings {unnamed}"


def test_release_workflow_tags_what_the_changelog_names(tmp_path: Path):
    """scripts/release.py tag, as the release workflow runs it, in a clone without tags."""
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "--quiet", "--no-tags", str(REPO_ROOT), str(clone))
    for tag in git(clone, "tag", "--list").split():
        git(clone, "tag", "--delete", tag)
    for name in ("CHANGELOG.md", "scripts/release.py"):  # as in the working tree
        (clone / name).write_bytes((REPO_ROOT / name).read_bytes())
    done = subprocess.run(
        [sys.executable, "scripts/release.py", "tag"], cwd=clone, capture_output=True, text=True,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    for version, commit in changelog_releases():
        tag = f"v{version}"
        if commit:
            assert f"{tag} tagged at {commit}" in done.stdout
            assert git(clone, "rev-parse", f"{tag}^{{commit}}").startswith(commit)
        else:
            assert git(clone, "tag", "--list", tag) == ""
    workflow = yaml.safe_load((REPO_ROOT / ".github" / "workflows" / "release.yml").read_text())
    steps = workflow["jobs"]["tag"]["steps"]
    assert any("scripts/release.py tag" in step.get("run", "") for step in steps)
    assert steps[0]["with"]["fetch-depth"] == 0


# --- From each release the CHANGELOG names to this working tree ----------------------------------


@pytest.fixture(scope="module")
def real_template(session_tmp: Path, git_identity: None) -> Path:
    return released_template(session_tmp / "released-template")


def released_before_head() -> list[str]:
    return [version for version, commit in changelog_releases() if commit]


def edit_as_documented(site: Path) -> None:
    """The edits a team makes, the way the site's version documents: a README line, and users get
    2 GB (settings.env itself before 0.2.0, settings.site.env since); committed."""
    site_settings = site / "settings.site.env"
    if site_settings.exists():
        site_settings.write_text(site_settings.read_text() + "USER_QUOTA_MB=2048\n")
    else:
        settings = site / "settings.env"
        text = settings.read_text()
        assert "USER_QUOTA_MB=1024\n" in text
        settings.write_text(text.replace("USER_QUOTA_MB=1024\n", "USER_QUOTA_MB=2048\n"))
    readme = site / "README.md"
    readme.write_text(readme.read_text() + "\nOur team's note.\n")
    commit_all(site, "The team's edits")


def update_as_documented(site: Path) -> subprocess.CompletedProcess[str]:
    """`copier update --skip-answered --defaults --trust` to the working tree (HEAD of the clone:
    the release under way), then no conflict, no .rej, and the result committed."""
    done = run_copier_cli(
        site, "update", "--skip-answered", "--defaults", "--trust", "--vcs-ref", "HEAD"
    )
    assert done.returncode == 0, done.stderr
    assert unmerged_paths(site) == set(), git(site, "status", "--short")
    assert not list(site.rglob("*.rej"))
    commit_all(site, "Update to the working tree")
    return done


@pytest.mark.parametrize("version", released_before_head())
def test_update_from_each_release_keeps_the_sites_behaviour_and_edits(
    real_template: Path, tmp_path: Path, version: str
):
    """A site of `version` (its commit, tagged as CHANGELOG.md names it) with the edits its docs
    told the operator to make, updated as docs/update.md says: no conflict, every edit kept,
    sign-up as it was, each behaviour change printed in one line of at most 80 columns."""
    old_answers = yaml.safe_load(git(real_template, "show", f"v{version}:copier.yml"))
    site = generate(real_template, tmp_path / "site", f"v{version}")
    edit_as_documented(site)
    registration_before = answers_of(site).get("registration", "open")

    done = update_as_documented(site)
    assert (site / "README.md").read_text().endswith("\nOur team's note.\n")
    effective = {**read_env(site / "settings.env"), **read_env(site / "settings.site.env")}
    assert effective["USER_QUOTA_MB"] == "2048"
    assert effective["REGISTRATION"] == registration_before
    assert answers_of(site)["registration"] == registration_before
    assert "registration" in old_answers or "Sign-up stays open" in done.stderr
    for line in done.stderr.splitlines():
        if not line.startswith((" > Running task", "Updating to", "Copying from")):
            assert len(line) <= 80, f"{len(line)} columns: {line!r}"


def site_env(site: Path) -> dict[str, str]:
    """What the services of `site` get: settings.env, the site's own values, the secrets."""
    files = ("settings.env", "settings.site.env", ".env")
    return {
        k: v for name in files if (site / name).exists() for k, v in read_env(site / name).items()
    }


@pytest.mark.parametrize("version", released_before_head())
def test_a_booted_site_of_each_release_keeps_accounts_files_and_sign_up_through_the_update(
    real_template: Path, session_tmp: Path, version: str
):
    """Real parts: the release's own native runner (its PostgreSQL, both nginx over TLS, backend
    and storage with the release's pinned packages), then this working tree's runner on the same
    data after `copier update`. Three people sign up and upload files with accented names, the
    administrator deactivates one; after the update the others sign in with their passwords,
    every file downloads with its sha256, the deactivated one stays out, sign-up is as it was."""
    base = session_tmp / f"booted-{version}"
    base.mkdir()
    base.chmod(0o755)  # PostgreSQL and the nginx workers traverse it
    site = generate(real_template, base / "site", f"v{version}")
    edit_as_documented(site)
    sign_up_open = answers_of(site).get("registration", "open") == "open"
    stack = Stack(project=site, state_dir=base / "state", env=site_env(site))
    try:
        stack.up()
        with edge_client(stack) as client:
            people = [register_and_login(client, f"person{i}") for i in range(3)]
            uploaded = {}
            names = ("Décision été.pdf", "Relevé n°3.txt", "Übersicht.csv")
            for person, name in zip(people, names, strict=True):
                content = os.urandom(50_000) + name.encode()
                answer = upload(client, person["headers"], name, content)
                assert answer.status_code == 201, answer.text
                uploaded[person["email"]] = (name, sha256(content))
            gone = people[2]
            admin = admin_headers(client, stack)
            answer = client.patch(
                f"/api/users/{gone['id']}", headers=admin, json={"is_active": False}
            )
            assert answer.status_code == 200, answer.text
    finally:
        stack.down()

    update_as_documented(site)
    stack = Stack(project=site, state_dir=base / "state", env=site_env(site))
    try:
        stack.up()
        with edge_client(stack) as client:
            for person in people[:2]:
                headers = bearer(login(client, person["email"], person["password"]))
                [record] = all_files(client, headers)
                name, digest = uploaded[person["email"]]
                assert (record["name"], record["sha256"]) == (name, digest)
                assert download_sha256(client, record["url"]) == digest
            refused = client.post(
                "/api/auth/login", data={"username": gone["email"], "password": gone["password"]}
            )
            assert refused.status_code in (401, 403), refused.text
            newcomer = client.post(
                "/api/auth/register",
                json={"email": "newcomer@example.com", "password": PASSWORD},
            )
            assert newcomer.status_code == (201 if sign_up_open else 403), newcomer.text
    finally:
        stack.down()
