"""deploy_mode=swarm on a real two-node Docker Swarm, files in a real S3 store (SeaweedFS).

The project is rendered with deploy_mode=swarm and storage_backend=s3 and deployed by its own
scripts/prod/remote_swarm.sh (swarm-init, images-tag, stack-deploy, stack-status, stack-backup,
stack-restore), as swarm_deploy runs it on a manager. Then: the edge checks, a file uploaded
through one storage replica read through the other, a backend task killed under load, a rolling
update of the backend under load, and node 2 cut off under load.

Real: two Debian dockerds joined in one swarm (support/swarm/cluster.py: node 1 the manager,
node 2 a worker, each in a network namespace of its own, linked by veth pairs), overlay
networking between them, SeaweedFS requiring signed requests, the generated images, stack file
and scripts unchanged. Stand-ins: look-alike base images where no registry answers (as in the
containers layer); no registry, so images are tagged by remote_swarm.sh and loaded into node 2
instead of pushed and pulled; the self-signed placeholder certificate instead of Let's Encrypt.

This machine's kernel has no IPVS, so Docker's routing mesh and virtual IPs do not work here: the
stack does not use them (endpoint_mode dnsrr, the edge balances over `tasks.<service>` itself and
publishes in host mode), which is also how it runs where IPVS exists. All traffic goes to the
namespaces' addresses the tests made (10.241.0.0/24); every load is a bounded loop.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from helpers import render
from support.seaweedfs import SeaweedFS, client, seaweedfs
from support.swarm.cluster import HOST_ADDRESS, Cluster, swarm_cluster
from support.swarm.load import Background, edge_client
from support.swarm.stack import Deployment, prepare, wait_for

pytestmark = pytest.mark.swarm

DOMAIN = "swarm.example.net"
SLUG = "swarmsite"
BUCKET = "swarmsite-files"
PORTS = (8080, 8443)  # the stack file's HTTP_PORT/HTTPS_PORT, overridden
PASSWORD = "a long and unusual passphrase"
REPLICATED = ("backend", "storage", "frontend")


@pytest.fixture(scope="module")
def cluster(session_tmp: Path) -> Iterator[Cluster]:
    with swarm_cluster(session_tmp / "swarm") as running:
        yield running


@pytest.fixture(scope="module")
def store(session_tmp: Path, cluster: Cluster) -> Iterator[SeaweedFS]:
    # On the bridge address: the containers of both nodes reach it there.
    with seaweedfs(session_tmp / "swarm-s3", ip=HOST_ADDRESS) as running:
        client(running).create_bucket(Bucket=BUCKET)
        yield running


@pytest.fixture(scope="module")
def deployment(session_tmp: Path, cluster: Cluster, store: SeaweedFS) -> Iterator[Deployment]:
    project = render(
        session_tmp / "swarm-project",
        project_name="Swarm Site",
        project_slug=SLUG,
        domain=DOMAIN,
        deploy_mode="swarm",
        swarm_replicas=2,
        storage_backend="s3",
        s3_endpoint=store.endpoint,
        s3_region=store.region,
        s3_bucket=BUCKET,
        s3_access_key_id=store.access_key_id,
        s3_secret_access_key=store.secret_access_key,
        ui_language="en",
        registration="open",
    )
    deployed = prepare(cluster, project, SLUG, PORTS)
    timings = deployed.build_and_share_images()
    start = time.monotonic()
    deployed.remote("stack-deploy")
    timings["stack-deploy"] = time.monotonic() - start
    print(f"swarm deployment timings: {timings}")
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
    for service in REPLICATED:
        assert deployment.replicas(service) == "2/2", service
        assert {t["node"] for t in deployment.tasks(service)} == {1, 2}, service
    # The edge, certbot and PostgreSQL on the node swarm-init labelled (the manager).
    for service in ("nginx", "certbot", "db"):
        assert deployment.replicas(service) == "1/1", service
        assert [t["node"] for t in deployment.tasks(service)] == [1], service


def test_status_lists_every_service_with_its_replicas_and_nodes(deployment):
    shown = deployment.remote("stack-status")
    for service in (*REPLICATED, "nginx", "certbot", "db"):
        wanted = "2/2" if service in REPLICATED else "1/1"
        assert f"ok   {SLUG}_{service}" in shown and wanted in shown, shown
    assert "closo-swarm-1" in shown and "closo-swarm-2" in shown, shown


def test_the_database_password_is_a_docker_secret_not_an_environment_variable(deployment):
    spec = deployment.cluster.manager.docker(
        "service", "inspect", deployment.service("backend"), "--format",
        "{{json .Spec.TaskTemplate.ContainerSpec.Env}} "
        "{{range .Spec.TaskTemplate.ContainerSpec.Secrets}}{{.File.Name}} {{end}}",
    ).stdout  # fmt: skip
    password = next(
        line.split("=", 1)[1]
        for line in (deployment.project / ".env").read_text().splitlines()
        if line.startswith("POSTGRES_PASSWORD=")
    )
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
    """A new backend image (one line changed), deployed with stack-deploy while reads and
    uploads arrive, with no retry in the client: every request succeeds. Only the backend is
    updated (images are tagged by content), so the edge is never restarted."""
    main = deployment.project / SLUG / "backend" / "app" / "main.py"
    main.write_text(main.read_text() + "\n# version 2\n")
    before = deployment.tags()
    deployment.remote("images-tag")
    after = deployment.tags()
    assert [k for k in after if after[k] != before[k]] == ["BACKEND_TAG"]
    deployment.cluster.copy_images(
        [deployment.image("backend")], deployment.cluster.manager, deployment.cluster.nodes[1]
    )
    edge_task = deployment.tasks("nginx")[0]["id"]
    with Background(
        lambda: edge(deployment), token, seconds=240, rate=8, kinds=("read", "upload")
    ) as load:
        time.sleep(3)
        start = time.monotonic()
        deployment.remote("stack-deploy")
        took = time.monotonic() - start
        time.sleep(3)
        load.stop.set()
    result = load.wait()
    print(f"rolling update of the backend ({took:.0f} s): {result.summary()}")
    assert result.failed == 0, result.summary()
    assert result.sent > 100
    images = deployment.cluster.manager.docker(
        "service", "inspect", deployment.service("backend"), "--format",
        "{{.Spec.TaskTemplate.ContainerSpec.Image}}",
    ).stdout  # fmt: skip
    assert deployment.image("backend") in images
    assert deployment.tasks("nginx")[0]["id"] == edge_task


def test_cutting_node_two_off_loses_no_request_and_its_tasks_come_back_on_node_one(
    deployment, token
):
    """Node 2's link goes down while 20 reads a second arrive: the manager declares it down
    (1 s heartbeat) and starts its tasks on node 1; the edge passes requests it cannot connect
    to on to node 1's tasks, and a retry-safe client retries the GETs stuck on node 2."""
    cluster = deployment.cluster
    node2 = cluster.nodes[1]
    for service in REPLICATED:
        spread(deployment, service)
    try:
        with Background(
            lambda: edge(deployment, timeout=10), token, seconds=30, rate=20, retry_safe=True
        ) as load:
            time.sleep(3)
            cluster.cut(node2)
            down = wait_for(lambda: cluster.node_state(node2) == "down", 60, what="node 2 down")
            moved = wait_for(
                lambda: all([t["node"] for t in deployment.tasks(s)] == [1, 1] for s in REPLICATED),
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
    """stack-backup while a file exists; the file deleted (its row and its object); stack-restore:
    the file is listed again and downloads with its bytes, read back from the store."""
    content = b"kept by the backup " + os.urandom(1000)
    record = upload(deployment, token, content, name="kept.txt")
    name = deployment.remote("stack-backup").strip().splitlines()[0]
    backup = deployment.project / "backups" / name
    assert (backup / "db.dump").stat().st_size > 0
    assert (backup / "storage.tar.gz").stat().st_size > 0
    headers = {"Authorization": f"Bearer {token}"}
    with edge(deployment) as http:
        assert http.delete(f"/api/files/{record['id']}", headers=headers).status_code == 204
        assert http.get(record["url"]).status_code == 404
    objects = client(store).list_objects_v2(Bucket=BUCKET).get("Contents", [])
    assert stored_name(record) not in [o["Key"] for o in objects]
    deployment.remote(f"stack-restore:{name}")
    # The backend was stopped during the restore: a careful client retries its first read.
    with edge(deployment) as http:
        began = time.monotonic()
        while (listed := http.get("/api/files", headers=headers)).status_code == 502:
            assert time.monotonic() - began < 60, "the backend did not come back after a restore"
            time.sleep(1)
        print(f"first answer {time.monotonic() - began:.1f} s after the restore; "
              f"backend tasks {deployment.tasks('backend')}")  # fmt: skip
        download = http.get(record["url"])
    assert record["id"] in listed.text
    assert download.status_code == 200 and download.content == content


def test_scaling_the_frontend_adds_and_removes_tasks(deployment):
    deployment.remote("stack-scale:frontend=3")
    assert deployment.replicas("frontend") == "3/3"
    deployment.remote("stack-scale:frontend=2")
    assert deployment.replicas("frontend") == "2/2"
    refused = subprocess.run(
        ["sh", str(deployment.project / ".deploy" / "remote_swarm.sh"), "stack-scale:db=2"],
        cwd=deployment.project,
        env=deployment.env(),
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 1
    assert "only backend, storage and frontend are replicated" in refused.stderr
    assert deployment.replicas("db") == "1/1"
