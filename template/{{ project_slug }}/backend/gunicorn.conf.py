"""How the API is served: `gunicorn -c gunicorn.conf.py app.main:app`, after app.prestart.

gunicorn imports the app once (preload_app) and forks BACKEND_WORKERS uvicorn workers from it, so
the imports are pages they share; it restarts a worker that dies, and on SIGTERM lets each finish
the requests it holds. The count reaches the workers as WEB_CONCURRENCY (security.py's hashing
bound is shared between them). Command-line options (the runner's --bind) override these lines.
"""

import gc
import os
import shutil
import tempfile
from pathlib import Path

from app.core.workers import worker_count

# The workers' metrics (app/core/observability.py) go to files of this folder, which /metrics sums:
# a fresh one per start (old workers' figures must not count), before the app imports
# prometheus_client, which reads the variable once.
_metrics_dir = tempfile.mkdtemp(
    prefix="backend-metrics-",
    dir="/dev/shm" if Path("/dev/shm").is_dir() else None,  # noqa: S108
)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir

workers = worker_count(os.environ.get("BACKEND_WORKERS"))
os.environ["WEB_CONCURRENCY"] = str(workers)
worker_class = "uvicorn_worker.UvicornWorker"
preload_app = True
bind = ["0.0.0.0:8000"]
# X-Forwarded-* trusted only from the edge's network (compose sets it; locally the loopback).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# Longer than the edge's 4 s keep-alive, so nginx closes an idle connection first (as with uvicorn).
keepalive = 5
# In-flight requests get this long after SIGTERM: under Docker's 10 s before it kills.
graceful_timeout = 8
accesslog = None  # app.core.logging writes one JSON line per request
# The workers' heartbeat files in memory, not on the container's overlay disk (gunicorn's advice).
worker_tmp_dir = "/dev/shm" if Path("/dev/shm").is_dir() else None  # noqa: S108
control_socket_disable = True  # no runtime control socket in $HOME: restarts go through deploys


def when_ready(server):
    """The app is imported: keep the collector from touching (and so copying) its objects in
    each forked worker."""
    gc.freeze()


def child_exit(server, worker):
    """A worker that ended (restarted, or at stop): its in-flight and pool gauges stop counting."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    shutil.rmtree(_metrics_dir, ignore_errors=True)
