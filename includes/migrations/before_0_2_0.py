"""Before `copier update` takes a site from 0.1.x to 0.2.0 or later: its settings and what changes.

0.1.x told operators to tune settings.env itself. From 0.2.0 the template owns settings.env and a
site's values live in settings.site.env, which updates never touch. This moves every value the
site changed or added into settings.site.env and puts the template's value back in settings.env,
in the working tree and the index (Copier diffs the index), so the update merges without conflict.
Answer lines stay: an answer changes with `copier update --data NAME=VALUE`. Then it prints, one
line each, the changes the site's users and operator will notice and what to do (CHANGELOG.md).

Usage (copier.yml's _migrations): python settings_site_env.py <new template's settings.site.env>
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

# settings.env of 0.1.0, the lines not rendered from an answer: what the template wrote.
TEMPLATE_VALUES = {
    "ENVIRONMENT": "production",
    "POSTGRES_HOST": "db",
    "POSTGRES_PORT": "5432",
    "ACCESS_TOKEN_EXPIRE_MINUTES": "15",
    "REFRESH_TOKEN_EXPIRE_DAYS": "14",
    "USER_QUOTA_MB": "1024",
    "STORAGE_URL": "http://storage:8060",
    "ENABLE_DOCS": "false",
    "STORAGE_DIR": "/data",
    "STORAGE_ACCEL_REDIRECT": "true",
    "CERTBOT_STAGING": "0",
    "HSTS_MAX_AGE": "63072000",
    "AUTH_RATE_PER_MINUTE": "10",
    "MALLOC_MMAP_THRESHOLD_": "131072",
    "MALLOC_ARENA_MAX": "2",
}
# Lines 0.1.0 marked "(answer)": they follow the answers file, never moved.
ANSWER_LINES = {"DOMAIN", "DOMAIN_ALIASES", "POSTGRES_DB", "POSTGRES_USER"}
# Lines 0.1.0 rendered from an answer without saying so: the answer's value is the template's.
FROM_ANSWERS = {
    "PROJECT_NAME": "project_name",
    "FIRST_ADMIN_EMAIL": "admin_email",
    "MAX_UPLOAD_MB": "max_upload_mb",
    "SSL_EMAIL": "ssl_email",
    "RENEW_INTERVAL_HOURS": "renew_interval_hours",
}


# Each behaviour that changes for a site from 0.1.x, with how to keep the old one or opt in.
CHANGES = """\
What your site's users and operator will notice (CHANGELOG.md, 0.2.0):
- Sign-up stays open as before; invitations only: --data registration=invite
- MB are decimal (10^6 bytes, were 2^20): quotas and the upload limit hold 4.6 %
  less; the same room: USER_QUOTA_MB=1074 in settings.site.env, --data
  max_upload_mb=53 (for 50), and each quota an administrator set times 1.05
- Download links are signed and expire (DOWNLOAD_LINK_MINUTES): older links die
- The API answers in the site's language (UI_LANGUAGE), no longer in English
"""


def move_site_settings(site_template: Path) -> None:
    settings, site = Path("settings.env"), Path("settings.site.env")
    if site.exists() or not settings.is_file():
        return
    answers = yaml.safe_load(Path(".copier-answers.yml").read_text(encoding="utf-8")) or {}
    template_values = {
        **TEMPLATE_VALUES,
        **{key: str(answers.get(name, "")) for key, name in FROM_ANSWERS.items()},
    }
    kept, moved = [], []
    for line in settings.read_text(encoding="utf-8").splitlines(keepends=True):
        key, equals, value = line.rstrip("\r\n").partition("=")
        if not equals or key.startswith("#") or key in ANSWER_LINES:
            kept.append(line)
        elif key not in template_values:
            moved.append(line)  # a line the site added
        elif value != template_values[key]:
            moved.append(line)
            kept.append(f"{key}={template_values[key]}\n")
        else:
            kept.append(line)
    settings.write_text("".join(kept), encoding="utf-8")
    site.write_text(site_template.read_text(encoding="utf-8") + "".join(moved), encoding="utf-8")
    subprocess.run(["git", "add", "--", str(settings), str(site)], check=True)
    for line in moved:
        print(f"- Moved from settings.env to settings.site.env: {line.strip()}", file=sys.stderr)


if __name__ == "__main__":
    print(CHANGES, end="", file=sys.stderr)
    move_site_settings(Path(sys.argv[1]))
