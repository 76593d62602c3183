"""Bad answers are refused with a message that names the problem and the fix."""

from __future__ import annotations

import sys
from pathlib import Path

import pexpect
import pytest
from helpers import render, template_snapshot

BAD_ANSWERS = [
    ("domain", "https://clo-so.com", "not a valid lowercase DNS name"),
    ("domain", "localhost", "not a valid lowercase DNS name"),
    ("domain", "Clo-So.com", "not a valid lowercase DNS name"),
    ("domain_aliases", "www.clo-so.com bad_name", "Alias 'bad_name'"),
    ("domain_aliases", "clo-so.com", "is the domain itself"),
    ("ssl_email", "admin-at-clo-so.com", "not a valid e-mail address"),
    ("admin_email", "root@localhost", "not a valid e-mail address"),
    ("ssh_host", "debian@203.0.113.10", "no user@"),
    ("ssh_host", "203.0.113.10:22", "not a host name"),
    ("ssh_user", "Root User", "not a valid Unix user name"),
    ("ssh_port", 0, "between 1 and 65535"),
    ("ssh_port", 70000, "between 1 and 65535"),
    ("remote_dir", "opt/closo", "must be an absolute path"),
    ("remote_dir", "/opt/../etc", "without '..'"),
    ("project_slug", "1closo", "not a valid slug"),
    ("project_slug", "clo-so", "not a valid slug"),
    ("db_name", "my-db", "not a valid database name"),
    ("db_user", "postgres", "not 'postgres'"),
    ("renew_interval_hours", 0, "between 1 and 720"),
    ("max_upload_mb", 0, "between 1 and 102400"),
    ("python_version", "2.7", "2.7"),
    ("project_name", "   ", "cannot be empty"),
]


@pytest.mark.parametrize(
    ("question", "value", "message"), BAD_ANSWERS, ids=[f"{q}:{v}" for q, v, _ in BAD_ANSWERS]
)
def test_bad_answer_is_refused_with_a_clear_message(session_tmp, question, value, message):
    dest = session_tmp / f"refused-{question}"
    with pytest.raises(ValueError, match=question) as refused:
        render(dest, **{question: value})
    assert message in str(refused.value)
    assert not (dest / ".env").exists(), "a refused answer still wrote files"


GOOD_ANSWERS = [
    ("ssh_host", "2001:db8::1"),
    ("ssh_host", "deploy.example.com"),
    ("ssh_host", "192.0.2.7"),
    ("domain", "sub.domain-name.co.uk"),
    ("domain_aliases", "www.clo-so.com static.clo-so.com"),
    ("ssl_email", "first.last+certs@example.org"),
]


@pytest.mark.parametrize(
    ("question", "value"), GOOD_ANSWERS, ids=[f"{q}:{v}" for q, v in GOOD_ANSWERS]
)
def test_good_answer_is_accepted(session_tmp, question, value):
    render(session_tmp / f"accepted-{question}-{abs(hash(value))}", **{question: value})


def test_bad_answer_is_refused_at_the_prompt_and_can_be_corrected(session_tmp):
    """A person typing a bad domain sees why at the prompt, fixes it, and the copy goes on."""
    source = template_snapshot(session_tmp / "prompt-src")
    copier = str(Path(sys.executable).parent / "copier")
    child = pexpect.spawn(
        copier,
        ["copy", str(source), str(session_tmp / "prompt-dest")],
        encoding="utf-8",
        timeout=30,
        dimensions=(40, 200),
        env={"TERM": "dumb", "PATH": "/usr/bin:/bin"},
    )
    try:
        child.expect("Human-readable name")
        child.sendline("")
        child.expect("Identifier for containers")
        child.sendline("")
        child.expect("Public DNS name")
        child.send("https://clo-so.com\r")
        child.expect("not a valid lowercase DNS name")
        child.send("\x15example.org\r")  # Ctrl-U clears the line, then the corrected answer
        child.expect("Other names that redirect")
    finally:
        child.terminate(force=True)
