"""Bad answers are refused with a message that names the rule and an example; answers that only
differ by case or surrounding spaces are accepted (test_render.py checks where they land).
The prompt itself, as a person types at it: test_prompts.py."""

from __future__ import annotations

import pytest
from support.project import render

# Copier prints "Validation error for question '<name>': <message>" on one line at the bottom of
# the prompt and cuts it at the terminal's width: each must fit in 80 columns, rule then example.
BAD_ANSWERS = [
    ("domain", "https://clo-so.com", "Only the name, e.g. example.com"),
    ("domain", "example.com:8443", "No port: only the name, e.g. example.com"),
    ("domain", "localhost", "No TLS cert for localhost: example.com"),
    ("domain", "intranet", "No TLS cert for intranet: example.com"),
    ("domain", "shop.home.arpa", "No TLS cert for such names: example.com"),
    ("domain", "192.0.2.7", "A name, not an IP: e.g. example.com"),
    ("domain", "clo_so.com", "Letters, digits, - and dots: example.com"),
    ("domain_aliases", "www.clo-so.com bad_name", "Public names: www.clo-so.com"),
    ("domain_aliases", "www.clo-so.com, shop.clo-so.com", "Separate with spaces: a.fr b.fr"),
    ("domain_aliases", "clo-so.com", "Only other names: www.clo-so.com"),
    ("domain_aliases", "   ", "Leave it empty for none"),
    ("admin_email", "admin-at-clo-so.com", "Needs name@domain: ada@example.com"),
    ("admin_email", "jean dupont@example.org", "Needs name@domain: ada@example.com"),
    ("admin_email", "root@localhost", "Public domain only: ada@example.com"),
    # The accent is the problem, not the shape: say so, with the address as it would pass.
    ("admin_email", "Jean.Dupré@Dupre.FR", "No accents: jean.dupre@dupre.fr"),
    ("admin_email", "Jean.Dupré@Dupre-Avocats.FR", "No accents: jean.dupre@example.fr"),
    ("ssl_email", "françois@exemple.fr", "No accents: francois@exemple.fr"),
    ("ssl_email", "certs@clo-so", "Public domain only: ada@example.com"),
    ("ssh_host", "debian@203.0.113.10", "Host only (no user@): 192.0.2.10"),
    ("ssh_host", "203.0.113.10:22", "Host only (no :port): 192.0.2.10"),
    ("ssh_host", "999.1.1.1", "IPv4 parts are 0-255: 192.0.2.10"),
    ("ssh_host", "10.0.0", "IPv4 parts are 0-255: 192.0.2.10"),
    ("ssh_host", "2001:db8:::1", "Not an IPv6 address: 2001:db8::1"),
    # Brackets are how URLs and scp write an IPv6 address, not part of it.
    ("ssh_host", "[2001:DB8:4F2::25]", "No brackets: 2001:db8:4f2::25"),
    ("ssh_host", "[2001:0db8:04f2:0077:0001:0002:0003:0025]", "No brackets: 2001:db8::1"),
    ("ssh_host", "[2001:db8:::1]", "Not an IPv6 address: 2001:db8::1"),
    ("ssh_host", "1:2:3:4:5:6:7:8:9", "Not an IPv6 address: 2001:db8::1"),
    ("ssh_host", "my_server", "Host name or IP: deploy.example.com"),
    ("ssh_user", "Root User", "A Unix user name: debian"),
    ("ssh_port", "twenty-two", "A number from 1 to 65535, e.g. 22"),
    ("ssh_port", 0, "A number from 1 to 65535, e.g. 22"),
    ("ssh_port", 70000, "A number from 1 to 65535, e.g. 22"),
    ("remote_dir", "opt/closo", "An absolute path: /opt/closo"),
    ("remote_dir", "/opt/../etc", "No '..' in it: /opt/closo"),
    ("remote_dir", "/opt/my site", "Only a-z 0-9 . _ - /: /opt/closo"),
    ("project_slug", "1closo", "Only a-z, 0-9 and _: e.g. my_site"),
    ("project_slug", "clo-so", "Only a-z, 0-9 and _: e.g. my_site"),
    ("project_slug", "a" * 32, "Max 31 characters, e.g. my_site"),
    ("db_name", "my-db", "a-z, 0-9, _, from a letter: app_db"),
    ("db_user", "postgres", "'postgres' is reserved: e.g. app_user"),
    ("renew_interval_hours", 0, "1 to 720 hours, e.g. 48"),
    ("renew_interval_hours", "two days", "1 to 720 hours, e.g. 48"),
    ("max_upload_mb", 0, "1 to 102400 MB, e.g. 50"),
    ("max_upload_mb", "50MB", "1 to 102400 MB, e.g. 50"),
    ("python_version", "2.7", "2.7"),
    ("project_name", "   ", "Type a name, e.g. Mon Site"),
    ("smtp_host", "smtp.example.com:587", "No port here: smtp.example.com"),
    ("smtp_host", "smtps://smtp.example.com", "Only the name, e.g. smtp.example.com"),
    ("smtp_port", "70000", "A port, 1 to 65535: e.g. 587"),
    ("smtp_user", "my user", "One word, no spaces: e.g. apikey"),
    ("mail_from", "noreply-at-example.com", "Needs name@domain: site@example.com"),
]


@pytest.mark.parametrize(
    ("question", "value", "message"), BAD_ANSWERS, ids=[f"{q}:{v}" for q, v, _ in BAD_ANSWERS]
)
def test_bad_answer_is_refused_with_a_clear_message(session_tmp, question, value, message):
    dest = session_tmp / f"refused-{question}"
    with pytest.raises(ValueError, match=question) as refused:
        render(dest, **{question: value})
    shown = str(refused.value)
    if question != "python_version":  # a choice: Copier's own message lists the choices
        assert shown == f"Validation error for question '{question}': {message}"
        assert len(shown) <= 80, f"{len(shown)} columns: cut at an 80-column prompt"
    assert message in shown
    assert not (dest / ".env").exists(), "a refused answer still wrote files"


GOOD_ANSWERS = [
    ("ssh_host", "2001:db8::1"),
    ("ssh_host", "::1"),
    ("ssh_host", "2001:DB8:0:0:8:800:200C:417A"),
    ("ssh_host", "::ffff:192.0.2.128"),
    ("ssh_host", "deploy.example.com"),
    ("ssh_host", "Deploy.Example.com "),
    ("ssh_host", "myserver"),
    ("ssh_host", "192.0.2.7"),
    ("ssh_port", " 2222 "),
    ("domain", "sub.domain-name.co.uk"),
    ("domain", "xn--caf-dma.fr"),
    ("domain", " Clo-So.com "),
    ("domain_aliases", "www.clo-so.com static.clo-so.com"),
    ("domain_aliases", " WWW.Clo-So.com  "),
    ("ssl_email", "first.last+certs@example.org"),
    ("admin_email", "Jean.Dupont@Example.org"),
    ("admin_email", " o'brien@example.ie "),
    ("ssh_user", " Debian "),
    ("remote_dir", "/srv/site/"),
    ("project_name", " « Mon Site Été 2025 » "),
    ("smtp_host", " SMTP.Example.com "),
    ("mail_from", " NoReply@Example.com "),
]


@pytest.mark.parametrize(
    ("question", "value"), GOOD_ANSWERS, ids=[f"{q}:{v}" for q, v in GOOD_ANSWERS]
)
def test_good_answer_is_accepted(session_tmp, question, value):
    render(session_tmp / f"accepted-{question}-{abs(hash(value))}", **{question: value})


def test_a_domain_typed_with_capitals_and_spaces_lands_normalised_everywhere(session_tmp):
    project = render(session_tmp / "domain-normalised", domain=" Clo-So.COM ")
    compose = (project / "compose.yaml").read_text()
    assert "/etc/letsencrypt/served/clo-so.com/fullchain.pem" in compose
    assert "Clo-So" not in compose and "COM" not in compose
    assert "DOMAIN=clo-so.com" in (project / "settings.env").read_text().splitlines()
    assert "SSL_DOMAIN=clo-so.com" in (project / "scripts/prod/config.env").read_text().splitlines()


# The backup bucket's answers are asked (and checked) only with backup_repository=s3.
BACKUP_S3 = {
    "backup_repository": "s3",
    "backup_s3_endpoint": "https://s3.fr-par.scw.cloud",
    "backup_s3_key_id": "SCWKEY123",
    "backup_s3_secret": "a-secret-of-some-length",
}
BAD_BACKUP_ANSWERS = [
    # pgBackRest speaks only HTTPS to S3.
    ({"backup_s3_endpoint": "http://s3.example.com"}, "Only https://host[:port]"),
    (
        {"backup_s3_endpoint": "https://s3.example.com/bucket"},
        "Only https://host[:port]",
    ),
    ({"backup_s3_region": "EU West"}, "a-z, 0-9 and -: e.g. fr-par"),
    ({"backup_s3_bucket": "My Backups"}, "3-63 a-z 0-9 . -: site-backups"),
    # The files' bucket as the backups' would lose both with one mistake.
    (
        {
            "storage_backend": "s3",
            "s3_endpoint": "https://s3.fr-par.scw.cloud",
            "s3_bucket": "site-files",
            "s3_access_key_id": "SCWKEY123",
            "s3_secret_access_key": "a-secret-of-some-length",
            "backup_s3_bucket": "site-files",
        },
        "Not s3_bucket: site-backups",
    ),
    ({"backup_s3_key_id": "has spaces"}, "3-128 chars, no spaces"),
    ({"backup_s3_secret": "short"}, "8-256 chars, no spaces"),
]


@pytest.mark.parametrize(
    ("answers", "message"),
    BAD_BACKUP_ANSWERS,
    ids=[f"{q}:{v}" for a, _ in BAD_BACKUP_ANSWERS for q, v in list(a.items())[-1:]],
)
def test_bad_backup_bucket_answer_is_refused(session_tmp, answers, message):
    question = [q for q in answers if q.startswith("backup_")][-1]
    dest = session_tmp / f"refused-{question}-{abs(hash(str(answers)))}"
    with pytest.raises(ValueError, match=question) as refused:
        render(dest, **{**BACKUP_S3, **answers})
    shown = str(refused.value)
    assert shown == f"Validation error for question '{question}': {message}"
    assert len(shown) <= 80, f"{len(shown)} columns: cut at an 80-column prompt"
