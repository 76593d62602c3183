"""Rendering: answer combinations give a complete project, no Jinja left, fresh secrets."""

from __future__ import annotations

import json
import re
import stat
import subprocess
from pathlib import Path

import pytest
import yaml
from support.project import REPO_ROOT, read_env, render
from support.services import names, replicated, stack_config

SECRETS = (
    "POSTGRES_PASSWORD",
    "SECRET_KEY",
    "FIRST_ADMIN_PASSWORD",
    "STORAGE_TOKEN",
    "BACKUP_ENCRYPTION_KEY",
)
# Asked (secret questions) with storage_backend=s3; written into .env only.
S3_SECRETS = {
    "S3_ACCESS_KEY_ID": "SCWEXAMPLEKEYID00000",
    "S3_SECRET_ACCESS_KEY": "ex4mple-s3cret-v4lue",
}
S3_ANSWERS = {
    "storage_backend": "s3",
    "s3_endpoint": "https://s3.fr-par.scw.cloud",
    "s3_region": "fr-par",
    "s3_bucket": "closo-files",
    **{name.lower(): value for name, value in S3_SECRETS.items()},
}
# Jinja left behind: `{{ name }}`, `{{ name | filter }}`, `{% if … %}`. Not `${{ … }}` (GitHub
# Actions) nor `{{ … }}` that is not a plain expression (escaped braces in f-strings and nginx).
JINJA_LEFT = re.compile(
    r"(?<![${])\{\{(?!\{)-?\s*[A-Za-z_][A-Za-z0-9_.]*\s*(\||-?\}\})"
    r"|\{%-?\s*(if|for|set|raw|endif|endfor|else|elif|macro|include|import|from)\b"
)

ANSWER_SETS = [
    {},
    {"ui_language": "en", "registration": "open"},
    {"registration": "closed"},
    {"domain": "example.org", "domain_aliases": "www.example.org shop.example.org"},
    {"project_name": "Mon Site 2", "hsts_preload": True},
    {"ssh_host": "2001:db8::10", "ssh_port": 2222, "ssh_user": "deploy"},
    {"python_version": "3.11", "postgres_version": "17", "max_upload_mb": 1},
    {"db_name": "app_db", "db_user": "app_user", "remote_dir": "/srv/site"},
    S3_ANSWERS,
    {"deploy_mode": "swarm", "swarm_replicas": "3", **S3_ANSWERS},
]


def answer_id(answers: dict) -> str:
    shown = {k: v for k, v in answers.items() if k.upper() not in S3_SECRETS}
    return "-".join(f"{k}:{v}" for k, v in shown.items()) or "defaults"


def asked_secrets(answers: dict) -> dict[str, str]:
    return S3_SECRETS if answers.get("storage_backend") == "s3" else {}


def text_files(root: Path):
    for path in sorted(root.rglob("*")):
        if path.is_file() and ".git" not in path.parts:
            try:
                yield path, path.read_text()
            except UnicodeDecodeError:
                continue


@pytest.fixture(scope="module", params=ANSWER_SETS, ids=answer_id)
def project(request, session_tmp) -> tuple[Path, dict]:
    dest = session_tmp / f"render-{request.param_index}"
    return render(dest, **request.param), request.param


def test_no_jinja_left_in_any_file(project):
    root, _ = project
    leftovers = [
        f"{path.relative_to(root)}:{text[: m.start()].count(chr(10)) + 1}"
        for path, text in text_files(root)
        for m in [JINJA_LEFT.search(text)]
        if m
    ]
    assert not leftovers, f"unrendered Jinja in {leftovers}"
    assert not list(root.rglob("*.jinja")), "a .jinja suffix survived the render"


def test_expected_files_present(project):
    root, answers = project
    slug = yaml.safe_load((root / ".copier-answers.yml").read_text())["project_slug"]
    expected = [
        ".copier-answers.yml",
        ".env",
        ".env.example",
        "settings.env",
        ".gitignore",
        ".gitattributes",
        "README.md",
        "compose.yaml",
        "scripts/local/stack.py",
        "scripts/prod/deploy_all.sh",
        "scripts/prod/deploy_all.bat",
        f"{slug}/backend/app/main.py",
        f"{slug}/backend/requirements.txt",
        f"{slug}/storage/app/main.py",
        f"{slug}/storage/requirements.txt",
        f"{slug}/frontend/public/index.html",
    ]
    missing = [name for name in expected if not (root / name).is_file()]
    assert not missing, f"missing from the render: {missing}"
    assert list((root / slug / "nginx" / "templates").glob("*.conf.template"))
    assert (root / "scripts/local/stack.py").stat().st_mode & stat.S_IXUSR


def test_answers_reach_the_files(project):
    root, answers = project
    env = read_env(root / "settings.env")
    recorded = yaml.safe_load((root / ".copier-answers.yml").read_text())
    for key in ("domain", "ssl_email", "db_name", "db_user", "max_upload_mb"):
        if key in answers:
            assert recorded[key] == answers[key]
    assert env["DOMAIN"] == recorded["domain"]
    assert env["POSTGRES_DB"] == recorded["db_name"]
    assert env["POSTGRES_USER"] == recorded["db_user"]
    assert env["MAX_UPLOAD_MB"] == str(recorded["max_upload_mb"])
    assert env["DOMAIN_ALIASES"] == recorded["domain_aliases"]
    assert env["REGISTRATION"] == recorded["registration"] == answers.get("registration", "invite")
    assert env["UI_LANGUAGE"] == recorded["ui_language"]
    if answers.get("project_name") == "Mon Site 2":
        assert recorded["project_slug"] == "mon_site_2"
        assert (root / "mon_site_2" / "backend").is_dir()


def test_env_holds_the_secrets_and_settings_the_rest(project):
    root, answers = project
    env, example = read_env(root / ".env"), read_env(root / ".env.example")
    settings = read_env(root / "settings.env")
    names = [*SECRETS, *asked_secrets(answers)]
    assert sorted(env) == sorted(names)
    assert example == dict.fromkeys(names, ""), ".env.example documents the secrets, no values"
    assert {name: env[name] for name in asked_secrets(answers)} == asked_secrets(answers)
    assert not set(settings) & set(SECRETS), "a secret in the tracked settings.env"
    ignored = (root / ".gitignore").read_text().split()
    assert ".env" in ignored and "settings.env" not in ignored


def test_secrets_live_in_env_only(project):
    root, answers = project
    env = read_env(root / ".env")
    for name in SECRETS:
        assert re.fullmatch(r"[0-9a-f]{32,}", env[name]), f"{name} is not a long random hex string"
    answers_text = (root / ".copier-answers.yml").read_text()
    for name in SECRETS:
        assert name.lower() not in answers_text.lower()
    for path, text in text_files(root):
        if path.name == ".env":
            continue
        if path.name == "settings.env":
            assert not any(name in text for name in SECRETS)
        for name in [*SECRETS, *asked_secrets(answers)]:
            assert env[name] not in text, f"{name}'s value leaked into {path.relative_to(root)}"


def test_two_renders_get_different_secrets(session_tmp):
    first = read_env(render(session_tmp / "secrets-a") / ".env")
    second = read_env(render(session_tmp / "secrets-b") / ".env")
    for name in SECRETS:
        assert first[name] != second[name], f"{name} is the same in two renders"
    assert len({first[name] for name in SECRETS}) == len(SECRETS), "two secrets share a value"


def test_the_s3_answers_configure_storage_compose_and_the_edge(session_tmp):
    root = render(session_tmp / "render-s3-compose", **S3_ANSWERS)
    settings = read_env(root / "settings.env")
    assert settings["STORAGE_BACKEND"] == "s3"
    assert settings["S3_ENDPOINT"] == "https://s3.fr-par.scw.cloud"
    assert (settings["S3_REGION"], settings["S3_BUCKET"]) == ("fr-par", "closo-files")
    compose = yaml.safe_load((root / "compose.yaml").read_text())
    storage_env = compose["services"]["storage"]["environment"]
    assert storage_env["S3_SECRET_ACCESS_KEY"].startswith("${S3_SECRET_ACCESS_KEY:?")
    assert compose["services"]["nginx"]["environment"]["S3_RESOLVER"] == "127.0.0.11"
    schema = subprocess.run(
        [str(REPO_ROOT / ".venv" / "bin" / "check-jsonschema"), "--builtin-schema",
         "vendor.compose-spec", "compose.yaml"],
        cwd=root, capture_output=True, text=True,
    )  # fmt: skip
    assert schema.returncode == 0, schema.stdout + schema.stderr
    local = read_env(render(session_tmp / "render-local-compose") / "settings.env")
    assert local["STORAGE_BACKEND"] == "local" and local["S3_ENDPOINT"] == ""


# Typed as people type: spaces around, capitals, accents. Each lands normalised in every file.
MESSY_ANSWERS = {
    "project_name": " « Mon Site Été 2025 » ",
    "admin_email": " Jean.Dupont@Example.org ",
    "ssh_host": " Deploy.Example.org ",
    "ssh_user": "Deployer ",
    "ssh_port": " 2222 ",
    "max_upload_mb": " 20 ",
    "advanced_settings": True,
    "remote_dir": " /srv/mon-site/ ",
    "db_name": " App_DB ",
}


def test_answers_typed_with_spaces_and_capitals_land_normalised(session_tmp):
    root = render(session_tmp / "render-messy", **MESSY_ANSWERS)
    recorded = yaml.safe_load((root / ".copier-answers.yml").read_text())
    assert recorded["project_slug"] == "mon_site_ete_2025"
    assert (root / "mon_site_ete_2025" / "backend").is_dir()
    assert {key: recorded[key] for key in MESSY_ANSWERS} == {
        **MESSY_ANSWERS,
        "project_name": "« Mon Site Été 2025 »",
        "admin_email": "jean.dupont@example.org",
        "ssh_host": "deploy.example.org",
        "ssh_user": "deployer",
        "ssh_port": 2222,
        "max_upload_mb": 20,
        "remote_dir": "/srv/mon-site",
        "db_name": "app_db",
    }
    settings, config = read_env(root / "settings.env"), read_env(root / "scripts/prod/config.env")
    assert settings["FIRST_ADMIN_EMAIL"] == "jean.dupont@example.org"
    assert (settings["MAX_UPLOAD_MB"], settings["POSTGRES_DB"]) == ("20", "app_db")
    assert settings["PROJECT_NAME"] == "« Mon Site Été 2025 »"
    assert [config[k] for k in ("SSH_HOST", "SSH_USER", "SSH_PORT", "REMOTE_DIR")] == [
        "deploy.example.org",
        "deployer",
        "2222",
        "/srv/mon-site",
    ]
    raw = ("Deploy.Example", "Jean.Dupont", "Deployer", "App_DB")
    leaks = [
        f"{path.relative_to(root)}: {value!r}"
        for path, text in text_files(root)
        for value in raw
        if value in text
    ]
    assert not leaks, f"an answer as typed, not normalised: {leaks}"


def test_docs_carry_the_answers_not_placeholders(session_tmp):
    answers = {
        "domain": "example.org",
        "domain_aliases": "www.example.org",
        "admin_email": "ada@example.org",
        "ssh_host": "192.0.2.44",
        "ssh_user": "deploy",
        "ssh_port": 2222,
        "remote_dir": "/srv/site",
    }
    root = render(session_tmp / "render-docs", **answers)
    deployment = (root / "docs" / "deployment.md").read_text()
    readme = (root / "README.md").read_text()
    for needle in (
        "# Deploying example.org to 192.0.2.44",
        "`SSH_HOST=192.0.2.44`, `SSH_USER=deploy`, `SSH_PORT=2222`",
        "sudo usermod -aG docker deploy",
        "sudo install -d -o deploy -m 0750 /srv/site",
        "record of `example.org` and `www.example.org` at\n  192.0.2.44",
        "`nslookup example.org`",
        "`ssh -p 2222 deploy@192.0.2.44`",
        "<https://example.org/> and sign in as `ada@example.org`",
        "`scp -P 2222 deploy@192.0.2.44:/srv/site/.env .env`",
        "`/srv/site/backups/<date>-<time>/`",
        "(`closo_db`)",
    ):
        assert needle in deployment, needle
    for placeholder in ("USER@HOST", "PORT USER", "<slug>", "<domain>", "REMOTE_DIR/", "-o USER"):
        assert placeholder not in deployment, placeholder
    assert "203.0.113.10" not in deployment, (
        "the placeholder warning shows only for the placeholder"
    )
    assert "`deploy@192.0.2.44`, SSH port 2222, folder `/srv/site`" in readme
    assert "administrator, `ada@example.org`" in readme
    default_docs = (render(session_tmp / "render-docs-default") / "docs/deployment.md").read_text()
    assert "`203.0.113.10`, the default answer, is a documentation address" in default_docs
    assert "`ssh debian@203.0.113.10`" in default_docs


# --- deploy_mode=swarm: stack.yaml, what a swarm adds to compose.yaml ----------------------------
SWARM_ANSWERS = {"deploy_mode": "swarm", "swarm_replicas": "3", **S3_ANSWERS}
SWARM_RENDERS = {
    "s3": SWARM_ANSWERS,
    "local": {"deploy_mode": "swarm"},
    "managed-db": {"deploy_mode": "swarm", "swarm_database_host": "DB.example.net"},
}
REGISTRY = "registry.example.com/team"  # the placeholders services.stack_config deploys with


_SWARM_RENDERED: dict[str, tuple[Path, dict]] = {}


def swarm_rendering(session_tmp: Path, kind: str) -> tuple[Path, dict]:
    """A swarm rendering (once per session) and the stack its deploy sends (compose.yaml and
    stack.yaml merged)."""
    if kind not in _SWARM_RENDERED:
        root = render(session_tmp / f"render-swarm-{kind}", **SWARM_RENDERS[kind])
        # Other ports than compose.yaml's, as the swarm layer deploys with.
        _SWARM_RENDERED[kind] = root, stack_config(root, HTTP_PORT="8080", HTTPS_PORT="8443")
    return _SWARM_RENDERED[kind]


@pytest.fixture(params=list(SWARM_RENDERS))
def swarm_render(request, session_tmp) -> tuple[str, Path, dict]:
    return request.param, *swarm_rendering(session_tmp, request.param)


def test_the_swarm_stack_is_compose_with_what_the_swarm_adds(swarm_render):
    """What `docker stack deploy -c compose.yaml -c stack.yaml` receives (the deploy's own
    script, the docker CLI's merge): the services, images, settings, volumes and networks of
    compose.yaml, with the swarm's registry images, Docker secrets, overlay network and deploy
    policies; key by key what the full stack file this overlay replaced gave."""
    kind, root, config = swarm_render
    stack = config["services"]
    compose = yaml.safe_load((root / "compose.yaml").read_text())
    assert list(stack) == sorted(names(root)) and (kind == "managed-db") == ("db" not in stack)
    settings, secrets = read_env(root / "settings.env"), read_env(root / ".env")
    replicas = int(settings["SWARM_REPLICAS"])
    replicated_services = replicated(root)
    assert replicated_services == ("storage", "backend", "frontend")
    # What compose has that a swarm refuses or ignores is left out by the deploy.
    assert "name" not in config
    compose_only = {"build", "container_name", "restart", "depends_on", "security_opt"}
    for name, service in stack.items():
        assert not compose_only & set(service), name
        # Images: the project's own from the registry, tagged by content; others as compose says.
        # (a service that runs another's image, as the mailer runs the backend's, gets that one).
        image = compose["services"][name]["image"]
        own = image.startswith("closo/")
        wanted_image = f"{REGISTRY}/{image.split(':')[0]}:c0ffee" if own else image
        assert service["image"] == wanted_image
        # Settings: settings.env and compose's environment, never a secret's value.
        env = service.get("environment", {})
        if compose["services"][name].get("env_file"):
            assert env["DOMAIN"] == "clo-so.com" and env["POSTGRES_DB"] == "closo", name
        for key, value in env.items():
            assert not value or value not in secrets.values(), (name, key)
            if key in secrets:
                assert value == f"(Docker secret /run/secrets/{key})", (name, key)
                assert {"source": key.lower(), "target": key} in service["secrets"], (name, key)
        if "secrets" in service:  # the command exports the secret files first
            assert "/run/secrets/" in service["entrypoint"][2], name
        # Deploy: every service by DNS round robin; the stateless ones replicated, start-first.
        deploy = service["deploy"]
        assert deploy["endpoint_mode"] == "dnsrr", "VIPs need IPVS; the edge balances itself"
        if name in replicated_services:
            assert deploy["replicas"] == replicas
            assert deploy["update_config"]["order"] == "start-first"
            assert deploy["update_config"]["failure_action"] == "rollback"
            assert deploy["rollback_config"]["order"] == "start-first"
        else:
            assert deploy["replicas"] == 1
    env = {name: stack[name].get("environment", {}) for name in stack}
    assert env["nginx"]["BACKEND_UPSTREAM"] == "tasks.backend:8000"
    assert env["nginx"]["STORAGE_UPSTREAM"] == "tasks.storage:8060"
    assert env["nginx"]["FRONTEND_UPSTREAM"] == "tasks.frontend:80"
    assert env["backend"]["FORWARDED_ALLOW_IPS"] == "172.30.58.0/24"
    assert env["backend"]["STORAGE_URL"] == "http://storage:8060"
    assert env["backend"]["POSTGRES_HOST"] == ("db.example.net" if kind == "managed-db" else "db")
    # The entrypoint that exports the secrets resets the image's CMD: the command repeats it.
    for name in ("backend", "storage"):
        dockerfile = (root / "closo" / name / "Dockerfile").read_text()
        image_cmd = json.loads(re.search(r"^CMD (\[.*\])$", dockerfile, re.M).group(1))
        assert stack[name]["command"] == image_cmd, name
    assert "/run/secrets/STORAGE_TOKEN" in str(stack["storage"]["healthcheck"]["test"])
    assert stack["storage"]["stop_grace_period"] == stack["backend"]["stop_grace_period"] == "30s"
    # The edge: host-mode ports on its node (HTTP_PORT, HTTPS_PORT), none of compose.yaml's
    # ingress ones; stop-first (the new task needs the old one's ports).
    edge = stack["nginx"]
    assert [(p["mode"], p["target"], p["published"]) for p in edge["ports"]] == [
        ("host", 80, 8080), ("host", 443, 8443),
    ]  # fmt: skip
    assert [name for name, service in stack.items() if "ports" in service] == ["nginx"]
    assert edge["deploy"]["update_config"]["order"] == "stop-first"
    for name in ("nginx", "certbot"):
        constraints = stack[name]["deploy"]["placement"]["constraints"]
        assert constraints == ["node.labels.closo.edge == true"]
    if "db" in stack:
        assert stack["db"]["deploy"]["placement"]["constraints"] == ["node.labels.closo.db == true"]
        assert "postgres_data" in {volume["source"] for volume in stack["db"]["volumes"]}
    # Volumes named as compose.yaml names them: moving one server to a swarm keeps its data.
    assert {key: v["name"] for key, v in config["volumes"].items()} == {
        key: f"closo_{key}" for key in compose["volumes"]
    }
    mounts = {(m["source"], m["target"], m.get("read_only", False)) for m in edge["volumes"]}
    assert {
        ("letsencrypt", "/etc/letsencrypt", True), ("acme_webroot", "/var/www/certbot", True),
    } <= mounts  # fmt: skip
    storage_placement = stack["storage"]["deploy"]["placement"]
    if kind == "s3":  # files in the bucket: storage tasks on any node
        assert "constraints" not in storage_placement
    else:  # files on the edge's volume: storage beside the edge
        assert storage_placement["constraints"] == ["node.labels.closo.edge == true"]
        assert ("storage_data", "/srv/storage", True) in mounts
    # One overlay network, the stack's own name for it, its own subnet.
    assert config["networks"] == {
        "default": {
            "name": "closo_default",
            "driver": "overlay",
            "ipam": {"config": [{"subnet": "172.30.58.0/24"}]},
        }
    }
    wanted = {
        "postgres_password",
        "secret_key",
        "first_admin_password",
        "storage_token",
        "backup_encryption_key",
    }
    if kind == "s3":
        wanted |= {"s3_access_key_id", "s3_secret_access_key"}
    assert set(config["secrets"]) == wanted
    assert all("/.secrets/" in secret["file"] for secret in config["secrets"].values())


def test_the_stack_file_holds_only_what_a_swarm_adds(swarm_render):
    """stack.yaml repeats no setting of compose.yaml and holds no secret: it stays an overlay."""
    _, root, _ = swarm_render
    text = (root / "stack.yaml").read_text()
    overlay = yaml.safe_load(text)
    for value in read_env(root / ".env").values():
        assert value not in text
    for name, service in overlay["services"].items():
        assert set(service) <= {
            "image", "entrypoint", "command", "environment", "secrets", "healthcheck",
            "stop_grace_period", "ports", "deploy",
        }, name  # fmt: skip
        # WATCH_DISKS: a swarm's watcher sees only the volumes of its own node.
        assert set(service.get("environment", {})) <= {
            "FORWARDED_ALLOW_IPS", "BACKEND_UPSTREAM", "STORAGE_UPSTREAM", "FRONTEND_UPSTREAM",
            "WATCH_DISKS",
        }, name  # fmt: skip
    assert "volumes" not in overlay
    assert read_env(root / "settings.env")["SWARM_REGISTRY"] == ""
    for script in ("swarm_init", "swarm_deploy", "swarm_status", "swarm_scale", "swarm_backup"):
        assert (root / "scripts" / "prod" / f"{script}.sh").is_file()


def test_the_server_answer_has_no_stack_file(session_tmp):
    server = render(session_tmp / "render-server")
    assert not (server / "stack.yaml").exists()
    # Nor the swarm scripts (they would only stop with "generated with deploy_mode=server").
    assert not list((server / "scripts" / "prod").glob("*swarm*"))
    assert not any(k.startswith("SWARM_") for k in read_env(server / "settings.env"))


def test_a_managed_database_answer_takes_the_db_service_out_of_compose_and_the_stack(
    session_tmp,
):
    root, _ = swarm_rendering(session_tmp, "managed-db")
    compose = yaml.safe_load((root / "compose.yaml").read_text())
    assert "db" not in compose["services"] and "postgres_data" not in compose["volumes"]
    assert "db" not in compose["services"]["backend"]["depends_on"]
    assert "POSTGRES_HOST" not in compose["services"]["backend"]["environment"]
    stack = yaml.safe_load((root / "stack.yaml").read_text())
    assert "db" not in stack["services"]
    assert "postgres_password" in stack["secrets"]  # the backend still needs the password
    settings = read_env(root / "settings.env")
    assert settings["POSTGRES_HOST"] == "db.example.net" and "SWARM_DB_REPLICAS" not in settings
    with pytest.raises(ValueError, match="Host name or IP only"):
        render(
            session_tmp / "render-swarm-managed-bad", deploy_mode="swarm",
            swarm_database_host="db.example.net:5432",
        )  # fmt: skip


def test_docs_for_an_ipv6_server_bracket_scp_and_ask_for_an_aaaa_record(session_tmp):
    """scp reads host:path, so `scp user@2001:db8::25:/x` connects to "2001"; DNS for an IPv6
    address is an AAAA record (issue 26)."""
    root = render(session_tmp / "render-ipv6", ssh_host="2001:DB8:4F2::25", ssh_port=2222)
    deployment = (root / "docs" / "deployment.md").read_text()
    assert "`scp -P 2222 debian@[2001:db8:4f2::25]:/opt/closo/.env .env`" in deployment
    assert "an `AAAA` record of `clo-so.com` at\n  2001:db8:4f2::25 (an IPv6 address" in deployment
    assert "an `A` record of" not in deployment
    assert "`ssh -p 2222 debian@2001:db8:4f2::25`" in deployment
