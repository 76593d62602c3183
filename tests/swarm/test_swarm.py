"""deploy_mode=swarm on a real two-node Docker Swarm, files in a real S3 store (SeaweedFS).

The project is rendered with deploy_mode=swarm and storage_backend=s3 and deployed the way the
operator would: its own scripts/prod/swarm_init.sh and deploy_all.sh, run from the project
folder, reach the manager over ssh, upload the project, build the images there, push them to the
registry named in settings.env (SWARM_REGISTRY), deploy the stack (node 2 pulls its images) and
get the certificate from the ACME server named in the server's stack.override.yaml. Then: the edge
checks, a file uploaded through one storage replica read through the other, a backend task killed
under load, a rolling update of the backend under load, a new backend that never starts rolled
back under load, node 2 cut off under load, backup and restore, swarm_scale (the operations of
one server, under the same names: DEPLOY_MODE=swarm in config.env decides what runs).

Real: two Debian dockerds joined in one swarm (support/swarm/cluster.py: node 1 the manager,
node 2 a worker, each in a network namespace of its own, linked by veth pairs), overlay
networking between them, OpenSSH's sshd with a deploy account whose docker talks to node 1,
Debian's docker-registry, Pebble (Let's Encrypt's test server, validating HTTP-01 against the
edge), SeaweedFS requiring signed requests, the generated images, stack file and scripts
unchanged. Stand-ins: look-alike base images where Docker Hub cannot be reached (as in the
containers layer), loaded into node 1 before the deploy builds from them.

This machine's kernel has no IPVS, so Docker's routing mesh and virtual IPs do not work here: the
stack does not use them (endpoint_mode dnsrr, the edge balances over `tasks.<service>` itself and
publishes in host mode), which is also how it runs where IPVS exists. All traffic goes to the
namespaces' addresses the tests made (10.241.0.0/24); every load is a bounded loop.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from support.docker.images import base_images, ensure_base_images
from support.docker.site import https_client
from support.edge import make_test_ca
from support.pebble import start_pebble
from support.processes import stop_process
from support.project import read_env, render
from support.seaweedfs import SeaweedFS, client, seaweedfs
from support.services import built, names
from support.sshd import SshServer, ssh_server
from support.swarm.cluster import HOST_ADDRESS, STACK_SUBNET, Cluster, swarm_cluster
from support.swarm.load import Background, edge_client
from support.swarm.postgres import outside_postgres
from support.swarm.registry import Registry, image_registry
from support.swarm.stack import Deployment
from support.waiting import wait_for

pytestmark = pytest.mark.swarm

DOMAIN = "swarm.example.net"
SLUG = "swarmsite"
BUCKET = "swarmsite-files"
PORTS = (8080, 8443)  # the stack file's HTTP_PORT/HTTPS_PORT, overridden
PASSWORD = "a long and unusual passphrase"


@pytest.fixture(scope="module")
def cluster(session_tmp: Path) -> Iterator[Cluster]:
    # Node 2 pulls what it runs from the registry; node 1 builds the images (and has the
    # look-alike postgres, which is in no registry here).
    with swarm_cluster(session_tmp / "swarm", pulling=(2,)) as running:
        yield running


@pytest.fixture(scope="module")
def store(session_tmp: Path, cluster: Cluster) -> Iterator[SeaweedFS]:
    # On the bridge address: the containers of both nodes reach it there.
    with seaweedfs(session_tmp / "swarm-s3", ip=HOST_ADDRESS) as running:
        client(running).create_bucket(Bucket=BUCKET)
        yield running


@pytest.fixture(scope="module")
def registry(session_tmp: Path, cluster: Cluster) -> Iterator[Registry]:
    with image_registry(session_tmp / "swarm-registry") as running:
        yield running


@dataclass
class Acme:
    directory: str  # the ACME directory URL, as certbot's containers reach it
    listener_ca: Path  # what certbot must trust to talk to it
    root: Path  # what issued the site's certificate (a browser's trust store)


@pytest.fixture(scope="module")
def acme(session_tmp: Path, cluster: Cluster) -> Iterator[Acme]:
    """Pebble on the bridge; every name resolves to node 1, whose edge answers HTTP-01."""
    base = session_tmp / "swarm-pebble"
    base.mkdir()
    listener = make_test_ca(base / "tls", ["localhost", "127.0.0.1", HOST_ADDRESS])
    processes = []
    try:
        directory = start_pebble(
            base, PORTS[0], listener, base / "root.pem", processes,
            listen_host="0.0.0.0", site_address=cluster.manager.address,  # noqa: S104
        )  # fmt: skip
        yield Acme(directory.replace("localhost", HOST_ADDRESS), listener[0], base / "root.pem")
    finally:
        for process in reversed(processes):
            stop_process(process)


@pytest.fixture(scope="module")
def server(session_tmp: Path, cluster: Cluster, acme: Acme) -> Iterator[SshServer]:
    """The manager as the operator reaches it: sshd, a deploy account whose docker is node 1's,
    and the site's own changes (certbot asks Pebble) in stack.override.yaml, as deployment.md
    says, and the same in compose.override.yaml for the way back to one server."""
    with ssh_server(session_tmp / "swarm-sshd", cluster.manager.engine) as running:
        running.remote_dir.mkdir(parents=True)
        certbot = (
            "services:\n"
            "  certbot:\n"
            "    environment:\n"
            f"      ACME_SERVER: {acme.directory}\n"
            "      REQUESTS_CA_BUNDLE: /etc/ssl/acme-server-ca.pem\n"
            "    volumes:\n"
            f"      - {acme.listener_ca}:/etc/ssl/acme-server-ca.pem:ro\n"
        )
        comment = "# Site-specific: certbot asks the test ACME server.\n"
        (running.remote_dir / "stack.override.yaml").write_text(
            comment + 'version: "3.8"\n' + certbot
        )
        (running.remote_dir / "compose.override.yaml").write_text(comment + certbot)
        for folder in (running.home / "srv", running.remote_dir):
            shutil.chown(folder, running.user, running.user)
        yield running


def registry_images(node, registry: Registry) -> list[str]:
    """The node's images from the registry, as repository@digest (a pull by digest, as swarm
    does, leaves no tag)."""
    listed = node.docker("image", "ls", "--digests", "--format", "{{.Repository}}@{{.Digest}}")
    return [name for name in listed.stdout.split() if name.startswith(registry.prefix + "/")]


def render_project(folder: Path, store: SeaweedFS, **answers: str) -> Path:
    """The site's project with these answers; a second rendering (other `answers`) with the
    first one's .env is what `copier update --data` makes of the same project."""
    return render(
        folder,
        project_name="Swarm Site",
        project_slug=SLUG,
        domain=DOMAIN,
        swarm_replicas=2,
        storage_backend="s3",
        s3_endpoint=store.endpoint,
        s3_region=store.region,
        s3_bucket=BUCKET,
        s3_access_key_id=store.access_key_id,
        s3_secret_access_key=store.secret_access_key,
        ui_language="en",
        registration="open",
        **{"deploy_mode": "swarm", **answers},
    )


def set_settings(project: Path, **values: str) -> None:
    """Edit settings.env as the operator would: each KEY's line replaced (or added)."""
    path = project / "settings.env"
    lines = path.read_text().splitlines()
    for key, value in values.items():
        found = [i for i, line in enumerate(lines) if line.startswith(f"{key}=")]
        for i in found:
            lines[i] = f"{key}={value}"
        if not found:
            lines.append(f"{key}={value}")
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def deployment(
    session_tmp: Path,
    cluster: Cluster,
    store: SeaweedFS,
    registry: Registry,
    server: SshServer,
) -> Iterator[Deployment]:
    project = render_project(session_tmp / "swarm-project", store)
    # What the operator sets in settings.env for this swarm (the ports: node 1 is shared).
    set_settings(
        project,
        SWARM_REGISTRY=registry.prefix,
        SWARM_SUBNET=STACK_SUBNET,
        HTTP_PORT=str(PORTS[0]),
        HTTPS_PORT=str(PORTS[1]),
    )
    ensure_base_images(cluster.manager.engine, base_images(project))  # look-alikes
    node2 = cluster.nodes[1]
    if leftovers := registry_images(node2, registry):  # node 2 must pull what it runs
        node2.docker("image", "rm", "--force", *leftovers)
    deployed = Deployment(cluster, project, SLUG, PORTS, server=server, registry=registry.prefix)
    timings = {}
    for script in ("swarm_init", "deploy_all"):
        start = time.monotonic()
        result = deployed.script(script)
        assert result.returncode == 0, f"{script}:\n{result.stdout}\n{result.stderr[-6000:]}"
        timings[script] = round(time.monotonic() - start, 1)
        deployed.outputs[script] = result.stdout + result.stderr
    print(f"swarm deployment timings (s): {timings}")
    yield deployed
    cluster.manager.docker("stack", "rm", SLUG, check=False)


def edge(deployment: Deployment, timeout: float = 30) -> httpx.Client:
    return edge_client(deployment.edge, PORTS[1], DOMAIN, timeout=timeout)


@pytest.fixture(scope="module")
def token(deployment: Deployment) -> str:
    with edge(deployment) as http:
        created = http.post(
            "/api/auth/register", json={"email": "swarm@example.org", "password": PASSWORD}
        )
        assert created.status_code == 201, created.text
        answer = http.post(
            "/api/auth/login", data={"username": "swarm@example.org", "password": PASSWORD}
        )
        assert answer.status_code == 200, answer.text
        return answer.json()["access_token"]


def upload(deployment: Deployment, token: str, content: bytes, name: str = "photo.jpg") -> dict:
    with edge(deployment) as http:
        answer = http.post(
            "/api/upload",
            headers={"Authorization": f"Bearer {token}"},
            files={"file": (name, content, "image/jpeg")},
        )
    assert answer.status_code == 201, answer.text
    return answer.json()


def stored_name(record: dict) -> str:
    """The object's key: the last part of the download link's path."""
    return record["url"].split("?")[0].rsplit("/", 1)[1]


def spread(deployment: Deployment, service: str) -> None:
    """One task per node: swarm places by preference and never rebalances by itself."""
    for _ in range(4):
        if {t["node"] for t in deployment.tasks(service)} == {1, 2}:
            return
        deployment.cluster.manager.docker(
            "service", "update", "--detach=false", "--force", deployment.service(service),
            timeout=300,
        )  # fmt: skip
    raise AssertionError(f"{service} stays on one node: {deployment.tasks(service)}")


# --- The stack as deployed ------------------------------------------------------------------------
def test_the_stack_runs_two_replicas_of_backend_storage_and_frontend_on_both_nodes(deployment):
    for service in deployment.replicated:
        assert deployment.replicas(service) == "2/2", service
        history = deployment.cluster.manager.docker(
            "service", "ps", "--no-trunc", deployment.service(service)
        ).stdout
        assert {t["node"] for t in deployment.tasks(service)} == {1, 2}, history
    # The others once; those with a volume or the published ports (the edge, certbot, PostgreSQL,
    # backup, watcher) on the node swarm-init labelled (the manager). The mailer holds no state
    # (its outbox is in the database): the swarm may place it on either node.
    for service in set(names(deployment.project)) - set(deployment.replicated):
        assert deployment.replicas(service) == "1/1", service
        if service != "mailer":
            assert [t["node"] for t in deployment.tasks(service)] == [1], service


def test_swarm_init_prints_the_command_that_adds_a_server(deployment):
    shown = deployment.outputs["swarm_init"]
    assert "docker swarm join --token SWMTKN-" in shown, shown
    assert f"{deployment.cluster.manager.address}:2377" in shown, shown


def test_deploy_all_pushed_every_image_to_the_registry_and_node_two_pulled_its_own(
    deployment, registry
):
    """Node 2 started with none of the registry's images (removed by the fixture): the images
    its tasks run were pulled from the registry named in settings.env."""
    tags = deployment.tags()
    for image in built(deployment.project):
        assert tags[f"{image.upper()}_TAG"] in registry.tags(f"tests/{SLUG}/{image}"), image
        assert f"pushed {deployment.image(image)}" in deployment.outputs["deploy_all"]
    pulled = set(registry_images(deployment.cluster.nodes[1], registry))
    for service in deployment.replicated:
        # The service runs its image by the digest the registry gave at deploy.
        spec = deployment.cluster.manager.docker(
            "service", "inspect", deployment.service(service), "--format",
            "{{.Spec.TaskTemplate.ContainerSpec.Image}}",
        ).stdout.strip()  # fmt: skip
        name, digest = spec.split("@")
        assert name == deployment.image(service)
        assert f"{name.rsplit(':', 1)[0]}@{digest}" in pulled, (spec, pulled)
    assert {t["node"] for t in deployment.tasks("backend")} == {1, 2}


def test_the_certificate_is_issued_by_the_acme_server_of_stack_override_yaml(deployment, acme):
    """deploy_all merged the server's stack.override.yaml (certbot asks Pebble) and replaced
    the placeholder: the edge serves a certificate that Pebble's root verifies for the domain."""
    assert "stack.override.yaml" in deployment.outputs["deploy_all"]
    verified = ssl.create_default_context(cafile=str(acme.root))
    with https_client(DOMAIN, verify=verified, address=deployment.edge, port=PORTS[1]) as http:
        page = http.get("/")
    assert page.status_code == 200


def test_status_lists_every_service_with_its_replicas_and_nodes(deployment):
    result = deployment.script("status")
    shown = result.stdout + result.stderr
    assert result.returncode == 0, shown
    assert "All services healthy." in shown
    for service in names(deployment.project):
        wanted = "2/2" if service in deployment.replicated else "1/1"
        assert f"ok   {SLUG}_{service}" in shown and wanted in shown, shown
    assert "closo-swarm-1" in shown and "closo-swarm-2" in shown, shown


def test_the_database_password_is_a_docker_secret_not_an_environment_variable(deployment):
    spec = deployment.cluster.manager.docker(
        "service", "inspect", deployment.service("backend"), "--format",
        "{{json .Spec.TaskTemplate.ContainerSpec.Env}} "
        "{{range .Spec.TaskTemplate.ContainerSpec.Secrets}}{{.File.Name}} {{end}}",
    ).stdout  # fmt: skip
    password = read_env(deployment.project / ".env")["POSTGRES_PASSWORD"]
    assert password not in spec
    assert {"POSTGRES_PASSWORD", "SECRET_KEY", "STORAGE_TOKEN"} <= set(spec.split())


# --- What a visitor sees through the edge ---------------------------------------------------------
def test_http_redirects_to_https_on_the_domain(deployment):
    answer = httpx.get(
        f"http://{deployment.edge}:{PORTS[0]}/files", headers={"Host": DOMAIN}, timeout=10
    )
    assert answer.status_code == 301
    assert answer.headers["location"] == f"https://{DOMAIN}/files"


def test_https_serves_the_app_with_its_security_headers(deployment):
    with edge(deployment) as http:
        page = http.get("/")
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    assert page.headers["strict-transport-security"].startswith("max-age=")


def test_sign_up_upload_and_download_the_same_bytes(deployment, token):
    content = os.urandom(300_000) + b"the end"
    record = upload(deployment, token, content)
    assert record["sha256"] == hashlib.sha256(content).hexdigest()
    # Several downloads: the edge takes turns between the storage tasks.
    with edge(deployment) as http:
        for _ in range(4):
            download = http.get(record["url"])
            assert download.status_code == 200
            assert download.content == content
            assert download.headers["content-disposition"] == "inline"


def _ask_storage_task(deployment: Deployment, address: str, url: str) -> str:
    """A download asked of one storage task directly, from the edge's container (node 1)."""
    nginx = deployment.tasks("nginx")[0]["container"]
    result = deployment.cluster.manager.docker(
        "exec", nginx, "wget", "-S", "-O", "/dev/null", f"http://{address}:8060{url}", check=False
    )
    return result.stdout + result.stderr


def test_a_file_uploaded_through_one_storage_replica_is_served_by_the_other(
    deployment, token, store
):
    """Each upload reaches one storage task; both tasks answer for the file (S3 has it), and
    both answer 404 once it is gone from the bucket: they ask the store, not a disk of theirs."""
    record = upload(deployment, token, b"shared through the bucket", name="shared.txt")
    tasks = deployment.tasks("storage")
    assert len(tasks) == 2 and tasks[0]["address"] != tasks[1]["address"]
    for task in tasks:
        answer = _ask_storage_task(deployment, task["address"], record["url"])
        assert "200 OK" in answer and "x-accel-redirect: /_storage_s3/" in answer.lower(), answer
    client(store).delete_object(Bucket=BUCKET, Key=stored_name(record))
    for task in tasks:
        answer = _ask_storage_task(deployment, task["address"], record["url"])
        assert "404" in answer and "200 OK" not in answer, answer


# --- Failures under load --------------------------------------------------------------------------
def test_killing_a_backend_task_loses_no_request_and_swarm_replaces_it(deployment, token):
    """SIGKILL of one backend container while 20 reads a second arrive: the edge passes
    requests that cannot reach it to the other task; a retry-safe client retries the few GETs
    that were in flight on the killed one. Swarm starts a new task."""
    victim = next(t for t in deployment.tasks("backend") if t["node"] == 1)
    with Background(
        lambda: edge(deployment, timeout=10), token, seconds=20, rate=20, retry_safe=True
    ) as load:
        time.sleep(5)
        deployment.cluster.manager.docker("kill", victim["container"])
        # tasks() lists running tasks only, and a backend task runs once its check passed.
        replaced = wait_for(
            lambda: (
                len(ids := {t["id"] for t in deployment.tasks("backend")}) == 2
                and victim["id"] not in ids
            ),
            timeout=120,
            what="a new backend task, running and healthy",
        )
    result = load.wait()
    print(f"backend task killed: {result.summary()}; replaced after {replaced:.1f} s")
    assert result.failed == 0, result.summary()
    assert result.sent == 400


def test_a_rolling_update_of_the_backend_under_load_fails_no_request(deployment, token):
    """A new backend version (one line changed), deployed with deploy_all while reads and
    uploads arrive, with no retry in the client: every request succeeds. Only the backend is
    updated (images are tagged by content), so the edge is never restarted."""
    main = deployment.project / SLUG / "backend" / "app" / "main.py"
    main.write_text(main.read_text() + "\n# version 2\n")
    before = deployment.tags()
    edge_task = deployment.tasks("nginx")[0]["id"]
    with Background(
        lambda: edge(deployment), token, seconds=300, rate=8, kinds=("read", "upload")
    ) as load:
        time.sleep(3)
        start = time.monotonic()
        deployed = deployment.script("deploy_all")
        took = time.monotonic() - start
        time.sleep(3)
        load.stop.set()
    result = load.wait()
    print(f"rolling update of the backend ({took:.0f} s with the build): {result.summary()}")
    assert deployed.returncode == 0, deployed.stderr[-4000:]
    after = deployment.tags()
    assert [k for k in after if after[k] != before[k]] == ["BACKEND_TAG"]
    assert result.failed == 0, result.summary()
    assert result.sent > 100
    images = deployment.cluster.manager.docker(
        "service", "inspect", deployment.service("backend"), "--format",
        "{{.Spec.TaskTemplate.ContainerSpec.Image}}",
    ).stdout  # fmt: skip
    assert deployment.image("backend") in images
    assert deployment.tasks("nginx")[0]["id"] == edge_task


def test_a_backend_that_never_starts_is_rolled_back_and_the_site_keeps_answering(deployment, token):
    """A new backend version that fails at start (an error at import), deployed with
    deploy_all under load: the swarm's update_config (start-first, failure_action rollback)
    keeps the previous version serving, and deploy_all stops saying so, with the new task's
    error and log, and what to do."""
    main = deployment.project / SLUG / "backend" / "app" / "main.py"
    working = main.read_text()
    running = deployment.image("backend")
    main.write_text(working + "\nraise RuntimeError('version 3 is broken on purpose')\n")
    try:
        with Background(lambda: edge(deployment), token, seconds=300, rate=8) as load:
            time.sleep(2)
            start = time.monotonic()
            deployed = deployment.script("deploy_all")
            took = time.monotonic() - start
            time.sleep(2)
            load.stop.set()
        result = load.wait()
    finally:
        main.write_text(working)
    print(f"broken backend rolled back ({took:.0f} s with the build): {result.summary()}")
    assert deployed.returncode == 1
    said = deployed.stderr
    assert f"the new {SLUG}_backend did not become healthy, so the swarm put the previous " in said
    assert "version 3 is broken on purpose" in said, said[-3000:]
    assert "then deploy again" in said
    assert result.failed == 0, result.summary()
    image = deployment.cluster.manager.docker(
        "service", "inspect", deployment.service("backend"), "--format",
        "{{.Spec.TaskTemplate.ContainerSpec.Image}}",
    ).stdout  # fmt: skip
    assert running in image
    assert deployment.replicas("backend") == "2/2"


def test_cutting_node_two_off_loses_no_request_and_its_tasks_come_back_on_node_one(
    deployment, token
):
    """Node 2's link goes down while 20 reads a second arrive: the manager declares it down
    (1 s heartbeat) and starts its tasks on node 1; the edge passes requests it cannot connect
    to on to node 1's tasks, and a retry-safe client retries the GETs stuck on node 2."""
    cluster = deployment.cluster
    node2 = cluster.nodes[1]
    replicated = deployment.replicated
    for service in replicated:
        spread(deployment, service)
    try:
        with Background(
            lambda: edge(deployment, timeout=10), token, seconds=30, rate=20, retry_safe=True
        ) as load:
            time.sleep(3)
            cluster.cut(node2)
            down = wait_for(lambda: cluster.node_state(node2) == "down", 60, what="node 2 down")
            moved = wait_for(
                lambda: all([t["node"] for t in deployment.tasks(s)] == [1, 1] for s in replicated),
                timeout=120,
                what="every replica on node 1",
            )
        result = load.wait()
    finally:
        cluster.heal(node2)
    print(f"node 2 cut off: down after {down:.1f} s, tasks on node 1 after {moved:.1f} s; "
          f"{result.summary()}")  # fmt: skip
    assert result.failed == 0, result.summary()
    wait_for(lambda: cluster.node_state(node2) == "ready", 60, what="node 2 back")


# --- Operations -------------------------------------------------------------------------------
def test_backup_then_restore_brings_back_the_database_and_the_bucket(deployment, token, store):
    """backup while a file exists; the file deleted (its row and its object); restore (the
    domain typed to confirm): the file is listed again and downloads with its bytes, read back
    from the store, at the first request after restore returned."""
    content = b"kept by the backup " + os.urandom(1000)
    record = upload(deployment, token, content, name="kept.txt")
    saved = deployment.script("backup")
    assert saved.returncode == 0, saved.stderr[-3000:]
    name = saved.stdout.split("Backup saved in backups/")[1].split()[0]
    backup = deployment.project / "backups" / name
    assert (backup / "db.dump").stat().st_size > 0
    assert (backup / "storage.tar.gz").stat().st_size > 0
    headers = {"Authorization": f"Bearer {token}"}
    with edge(deployment) as http:
        assert http.delete(f"/api/files/{record['id']}", headers=headers).status_code == 204
        assert http.get(record["url"]).status_code == 404
    objects = client(store).list_objects_v2(Bucket=BUCKET).get("Contents", [])
    assert stored_name(record) not in [o["Key"] for o in objects]
    start = time.monotonic()
    restored = deployment.script("restore", name, answer=f"{DOMAIN}\n")
    print(f"restore took {time.monotonic() - start:.1f} s")
    assert restored.returncode == 0, restored.stderr[-3000:]
    # It returned once the edge reaches the restarted backend: no retry needed.
    with edge(deployment) as http:
        listed = http.get("/api/files", headers=headers)
        download = http.get(record["url"])
    assert listed.status_code == 200, listed.text
    assert record["id"] in listed.text
    assert download.status_code == 200 and download.content == content


def test_scaling_the_frontend_adds_and_removes_tasks(deployment):
    for count in ("3", "2"):
        scaled = deployment.script("swarm_scale", "frontend", count)
        assert scaled.returncode == 0, scaled.stderr[-3000:]
        assert deployment.replicas("frontend") == f"{count}/{count}"
    refused = deployment.script("swarm_scale", "db", "2")
    assert refused.returncode == 1
    assert "only backend, storage and frontend are replicated" in refused.stderr
    assert deployment.replicas("db") == "1/1"


# --- A managed PostgreSQL, and back to one server (each changes the stack: they come last) -------
def test_a_managed_postgresql_outside_the_swarm_replaces_the_db_service(
    deployment, session_tmp, store
):
    """The answer swarm_database_host (the project rendered again with it and the same .env, as
    `copier update --data` does), deployed by deploy_all: the stack runs no db service any
    more and the backend uses the PostgreSQL outside the swarm (Debian's, on the bridge, with
    the role and database made beforehand as at a provider): an account signed up through the
    edge is a row there, and its upload downloads."""
    secrets = read_env(deployment.project / ".env")
    settings = read_env(deployment.project / "settings.env")
    with outside_postgres(
        session_tmp / "swarm-managed-pg",
        role=settings["POSTGRES_USER"],
        password=secrets["POSTGRES_PASSWORD"],
        database=settings["POSTGRES_DB"],
    ) as database:
        managed = render_project(
            session_tmp / "swarm-project-managed", store, swarm_database_host=database.address
        )
        shutil.copy2(deployment.project / ".env", managed / ".env")
        kept = {
            k: settings[k] for k in ("SWARM_REGISTRY", "SWARM_SUBNET", "HTTP_PORT", "HTTPS_PORT")
        }
        set_settings(managed, POSTGRES_PORT=str(database.port), **kept)
        switched = Deployment(
            deployment.cluster, managed, SLUG, PORTS, server=deployment.server,
            registry=deployment.registry,
        )  # fmt: skip
        deployed = switched.script("deploy_all")
        assert deployed.returncode == 0, deployed.stderr[-4000:]
        services = deployment.cluster.manager.docker(
            "stack", "services", "--format", "{{.Name}}", SLUG
        ).stdout.split()
        # Every service but db (the backup service still snapshots the files).
        kept = ("backend", "backup", "certbot", "frontend", "mailer", "nginx", "storage", "watcher")
        assert sorted(services) == sorted(deployment.service(s) for s in kept), services
        with edge(deployment) as http:
            account = {"email": "managed@example.org", "password": PASSWORD}
            assert http.post("/api/auth/register", json=account).status_code == 201
            login = http.post(
                "/api/auth/login", data={"username": account["email"], "password": PASSWORD}
            )
            assert login.status_code == 200, login.text
        record = upload(deployment, login.json()["access_token"], b"kept in the managed database")
        with edge(deployment) as http:
            assert http.get(record["url"]).content == b"kept in the managed database"
        assert "managed@example.org" in database.query("SELECT email FROM users").split()
        # backup covers the swarm's own PostgreSQL only, and says so.
        refused = switched.script("backup")
        assert refused.returncode == 1
        assert "back it up and restore it with its provider's tools" in refused.stderr


def test_going_back_to_one_server_keeps_the_database_the_certificate_and_the_files(
    deployment, session_tmp, store, acme, token
):
    """deployment.md's way back, step by step: `docker stack rm`, the other server leaves the
    swarm, then the manager (`docker swarm leave --force`); the project rendered with
    deploy_mode=server and the same .env (what `copier update --data deploy_mode=server` makes
    of it); deploy_all over ssh to the same folder. The account made on the swarm signs in, its
    files are listed and download (from the bucket), and the edge serves the certificate the
    swarm's certbot got (the volumes are the ones compose names the same way). The site's
    changes (certbot's ACME server) are in compose.override.yaml too, as the chapter says.
    Stand-in: the project is rendered again rather than updated by Copier (test_update.py
    proves `copier update --data` keeps .env and re-renders the answers)."""
    cluster = deployment.cluster
    cluster.manager.docker("stack", "rm", SLUG)
    for node in cluster.nodes:
        wait_for(
            lambda node=node: (
                not node.docker(
                    "ps", "--all", "--quiet", "--filter", f"label=com.docker.stack.namespace={SLUG}"
                ).stdout.split()
            ),
            timeout=120,
            what=f"the stack's containers gone from node {node.number}",
        )
    cluster.nodes[1].docker("swarm", "leave")
    cluster.manager.docker("swarm", "leave", "--force")
    server_mode = render_project(session_tmp / "swarm-project-server", store, deploy_mode="server")
    shutil.copy2(deployment.project / ".env", server_mode / ".env")
    one_server = Deployment(cluster, server_mode, SLUG, (80, 443), server=deployment.server)
    start = time.monotonic()
    deployed = one_server.script("deploy_all")
    print(f"deploy_all after leaving the swarm: {time.monotonic() - start:.0f} s")
    assert deployed.returncode == 0, deployed.stderr[-4000:]
    assert "the certificate in place is current: nothing to do" in deployed.stdout + deployed.stderr
    verified = ssl.create_default_context(cafile=str(acme.root))
    with https_client(DOMAIN, verify=verified, address=deployment.edge, port=443) as http:
        login = http.post(
            "/api/auth/login", data={"username": "swarm@example.org", "password": PASSWORD}
        )
        assert login.status_code == 200, login.text
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        files = http.get("/api/files", headers=headers)
        assert files.status_code == 200, files.text
        listed = files.json()["items"]
        assert listed, "the swarm's files are gone"
        for item in listed:
            download = http.get(item["url"])
            assert download.status_code == 200, (item["name"], download.status_code)
            assert hashlib.sha256(download.content).hexdigest() == item["sha256"]
