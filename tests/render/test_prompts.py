"""`copier copy` at an 80-column terminal, answered the way people type.

Real parts: the copier CLI in a pseudo-terminal (pexpect), the template's working tree. The person
types mixed case, surrounding spaces, accents, a name with no public certificate, an impossible IPv4
address and a port in words; each refusal is read whole on the screen, fixed, and the copy goes on.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import pexpect
import pytest
import yaml
from jinja2 import FileSystemLoader
from jinja2.sandbox import SandboxedEnvironment
from support.project import read_env, template_snapshot

COLUMNS = 80
# CSI sequences (colours, cursor moves) and carriage returns: what is left is the text shown.
CONTROL = re.compile(r"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\r")
CLEAR_LINE = "\x15"  # Ctrl-U: Copier pre-fills the default, a person clears it before typing


class Prompt:
    """The copier CLI in a pseudo-terminal of COLUMNS columns, and the text it has shown."""

    def __init__(self, source: Path, dest: Path) -> None:
        self.child = pexpect.spawn(
            str(Path(sys.executable).parent / "copier"),
            ["copy", str(source), str(dest)],
            encoding="utf-8",
            timeout=30,
            dimensions=(24, COLUMNS),
            env={"TERM": "xterm", "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
        )
        self.shown = ""

    def wait_for(self, text: str, timeout: float = 30) -> None:
        """Read the terminal until `text` has been shown whole, in one piece."""
        deadline = time.monotonic() + timeout
        while text not in self.shown:
            if time.monotonic() > deadline:
                tail = self.shown[-1500:]
                raise AssertionError(f"never shown whole: {text!r}\n--- screen text:\n{tail}")
            try:
                chunk = self.child.read_nonblocking(4096, timeout=0.5)
            except pexpect.TIMEOUT:
                continue
            except pexpect.EOF as eof:
                raise AssertionError(
                    f"copier ended before showing {text!r}:\n{self.shown}"
                ) from eof
            self.shown += CONTROL.sub("", chunk)

    def question(self, help_text: str) -> None:
        """A question's help, on its own line within the terminal's width."""
        assert len(help_text) + 3 <= COLUMNS, f"help longer than the prompt line: {help_text!r}"
        self.wait_for(help_text)
        self.shown = ""

    def type(self, text: str) -> None:
        self.child.send(CLEAR_LINE + text + "\r")

    def refused(self, question: str, message: str) -> None:
        """The validator's message for `question`, whole, within COLUMNS columns."""
        line = f"Validation error for question '{question}': {message}"
        assert len(line) <= COLUMNS, f"{len(line)} columns: {line!r}"
        self.wait_for(line)
        self.shown = ""


@pytest.fixture
def prompt(session_tmp: Path, tmp_path: Path):
    session = Prompt(template_snapshot(session_tmp / "prompt-src"), tmp_path / "site")
    yield session
    session.child.terminate(force=True)


def test_a_person_types_answers_as_they_come_and_gets_their_own_next_steps(prompt, tmp_path):
    prompt.question("Name of the site, shown in page titles and the docs")
    prompt.type(" « Mon Site Été 2025 » ")
    prompt.question("Short name for containers, folders and the database (a-z, 0-9, _)")
    prompt.wait_for("mon_site_ete_2025")  # the default offered, accents transliterated
    prompt.child.send("\r")

    prompt.question("Public domain name of « Mon Site Été 2025 » (it gets the HTTPS certificate)")
    prompt.type("localhost")
    prompt.refused("domain", "No TLS cert for localhost: example.com")
    prompt.type("Example.org ")  # normalised, not refused

    prompt.question("Other names redirected to example.org, e.g. www.example.org (or empty)")
    prompt.type("WWW.Example.org, shop.example.org")
    prompt.refused("domain_aliases", "Separate with spaces: a.fr b.fr")
    prompt.type(" WWW.Example.org  shop.example.org ")

    prompt.question("Language of the web interface")
    prompt.child.send("\r")
    prompt.question("Your e-mail as the first administrator (its password is generated into .env)")
    prompt.wait_for("admin@example.org")
    prompt.type(" Jean.Dupont@Example.org ")
    prompt.question("Who may create an account (administrators always can)")
    prompt.child.send("\r")  # invite, the default
    prompt.question("Largest file a user may upload, in megabytes (1 MB = 1,000,000 bytes)")
    prompt.type("a lot")
    prompt.refused("max_upload_mb", "1 to 102400 MB, e.g. 50")
    prompt.type("20")
    prompt.question("Where uploaded files are kept")
    prompt.child.send("\r")
    prompt.question("Where the backups go (local does not survive the loss of the server)")
    prompt.child.send("\r")

    prompt.question("Server for example.org: host name or IP (203.0.113.10 is a placeholder)")
    prompt.type("999.1.1.1")
    prompt.refused("ssh_host", "IPv4 parts are 0-255: 192.0.2.10")
    prompt.type("deployer@Deploy.Example.org")
    prompt.refused("ssh_host", "Host only (no user@): 192.0.2.10")
    prompt.type(" Deploy.Example.org")
    prompt.question("User you log in as on deploy.example.org (must be allowed to run docker)")
    prompt.type("Deployer ")
    prompt.question("SSH port of deploy.example.org")
    prompt.type("twenty-two")
    prompt.refused("ssh_port", "A number from 1 to 65535, e.g. 22")
    prompt.type("2222")
    prompt.question("One server (docker compose), or a Docker Swarm of several (adds stack.yaml)")
    prompt.child.send("\r")
    prompt.question("Ports 80/443 of the server for this site alone, or shared with other sites")
    prompt.child.send("\r")
    prompt.question("Change advanced settings (server folder, versions, database, certbot)?")
    prompt.child.send("n")

    for line in (
        "« Mon Site Été 2025 » is ready in",
        "python3 scripts/local/stack.py up",
        "sudo apt-get install nginx-light postgresql openssl python3-venv",
        "it prints and sign in with FIRST_ADMIN_PASSWORD from .env as",
        "     jean.dupont@example.org",
        "Ctrl-C stops it.",
        "     server  deploy.example.org",
        "     port    2222, user deployer",
        "     folder  /opt/mon_site_ete_2025",
        "   and point the DNS of these names at the server (docs/deployment.md):",
        "     example.org",
        "     www.example.org",
        "     shop.example.org",
        "   then open https://example.org/",
        "   and sign in as jean.dupont@example.org.",
    ):
        prompt.wait_for(line)
    prompt.child.expect(pexpect.EOF)
    prompt.child.close()
    assert prompt.child.exitstatus == 0

    site = tmp_path / "site"
    answers = yaml.safe_load((site / ".copier-answers.yml").read_text())
    assert (answers["domain_aliases"], answers["ssh_port"]) == (
        "www.example.org shop.example.org",
        2222,
    )
    config = read_env(site / "scripts" / "prod" / "config.env")
    assert (config["SSH_HOST"], config["SSH_USER"], config["SSH_PORT"]) == (
        "deploy.example.org",
        "deployer",
        "2222",
    )
    settings = read_env(site / "settings.env")
    assert settings["FIRST_ADMIN_EMAIL"] == "jean.dupont@example.org"
    assert (settings["MAX_UPLOAD_MB"], settings["POSTGRES_DB"]) == ("20", "mon_site_ete_2025")
    assert "ssh -p 2222 deployer@deploy.example.org" in (site / "docs/deployment.md").read_text()


# --- Every question at 80 columns, with long answers ----------------------------------------------

# Answers as long as people's real ones get: a firm's full name, a deep domain, a long host.
LONG_ANSWERS = {
    "project_name": "Cabinet Dupré & Fils, avocats associés au barreau de Paris",
    "project_slug": "cabinet_dupre_fils_avocats_ass",
    "domain": "fichiers.cabinet-dupre-et-fils-avocats-associes.fr",
    "domain_aliases": "www.fichiers.cabinet-dupre-et-fils-avocats-associes.fr",
    "ui_language": "fr",
    "admin_email": "jean-baptiste.dupre-lefevre@cabinet-dupre-et-fils-avocats.fr",
    "registration": "invite",
    "max_upload_mb": "102400",
    "storage_backend": "s3",
    "s3_endpoint": "https://s3.fr-par.scw.cloud",
    "s3_region": "fr-par",
    "s3_bucket": "cabinet-dupre-fils-avocats-ass-files",
    "s3_access_key_id": "SCWXXXXXXXXXXXXXXXXX",
    "s3_secret_access_key": "x" * 64,
    "backup_repository": "s3",
    "backup_s3_endpoint": "https://s3.fr-par.scw.cloud",
    "backup_s3_region": "fr-par",
    "backup_s3_bucket": "cabinet-dupre-fils-avocats-ass-backups",
    "backup_s3_key_id": "SCWXXXXXXXXXXXXXXXXX",
    "backup_s3_secret": "x" * 64,
    "ssh_host": "2001:0db8:04f2:0077:0001:0002:0003:0025",
    "ssh_user": "deployer_of_the_cabinet_dupre",
    "ssh_port": "65535",
    "deploy_mode": "swarm",
    "edge": "shared",
    "swarm_replicas": "32",
    "swarm_database_host": "postgresql.cabinet-dupre-et-fils-avocats-associes.fr",
    "advanced_settings": True,
    "remote_dir": "/srv/sites/cabinet_dupre_fils_avocats_ass",
    "python_version": "3.13",
    "postgres_version": "15",
    "db_name": "cabinet_dupre_fils_avocats_ass",
    "db_user": "cabinet_dupre_fils_avocats_ass",
    "ssl_email": "jean-baptiste.dupre-lefevre@cabinet-dupre-et-fils-avocats.fr",
    "renew_interval_hours": "720",
    "hsts_preload": False,
    "smtp_host": "smtp.mail-relay.cabinet-dupre-et-fils-avocats-associes.fr",
    "smtp_port": "65535",
    "smtp_security": "starttls",
    "smtp_user": "notifications-cabinet-dupre-et-fils",
    "mail_from": "ne-pas-repondre@fichiers.cabinet-dupre-et-fils-avocats-associes.fr",
}
# Where Copier puts them: "🎤 " (an emoji two columns wide, a space) before a help, " » " or
# three spaces before a choice.
HELP_INDENT, CHOICE_INDENT = 3, 3


@pytest.fixture(scope="module")
def copier_jinja(session_tmp: Path):
    """A Jinja environment as Copier makes one for this template: sandboxed, Ansible's filters
    (regex_search, …), the template's folder on the path for includes/ (Copier's Worker, which
    holds its own, is internal)."""
    source = template_snapshot(session_tmp / "prompt-width-src")
    env = SandboxedEnvironment(
        loader=FileSystemLoader(source),
        extensions=["jinja2_ansible_filters.AnsibleCoreFiltersExtension"],
        keep_trailing_newline=True,
    )
    return env, yaml.safe_load((source / "copier.yml").read_text())


def test_every_question_and_choice_fits_80_columns_with_long_answers(copier_jinja):
    env, config = copier_jinja
    questions = {name: spec for name, spec in config.items() if not name.startswith("_")}
    assert set(questions) == set(LONG_ANSWERS), "LONG_ANSWERS must answer every question"
    too_wide = []
    for name, spec in questions.items():
        help_text = env.from_string(str(spec["help"])).render(**LONG_ANSWERS).strip()
        assert "\n" not in help_text, f"{name}: the help is one line"
        if HELP_INDENT + len(help_text) > COLUMNS:
            too_wide.append(f"{name} help, {HELP_INDENT + len(help_text)} columns: {help_text}")
        choices = spec.get("choices", {})
        for label in choices if isinstance(choices, dict) else map(str, choices):
            if CHOICE_INDENT + len(label) > COLUMNS:
                too_wide.append(f"{name} choice, {CHOICE_INDENT + len(label)} columns: {label}")
    assert not too_wide, "\n".join(too_wide)


def test_final_message_fits_80_columns_with_long_answers(copier_jinja):
    env, config = copier_jinja
    conf = {"dst_path": Path("/home/jean-baptiste/sites/fichiers.cabinet-dupre-avocats.fr")}
    message = env.from_string(config["_message_after_copy"]).render(
        **LONG_ANSWERS, _copier_conf=conf
    )
    too_wide = [line for line in message.splitlines() if len(line) > COLUMNS]
    assert not too_wide, "\n".join(f"{len(line)} columns: {line}" for line in too_wide)
    assert "jean-baptiste.dupre-lefevre@cabinet-dupre-et-fils-avocats.fr" in message
    assert str(conf["dst_path"]) in message
