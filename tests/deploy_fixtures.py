"""A real OpenSSH server on loopback for the deploy tests, with a throwaway user and a fake docker.

There is no Docker engine on the test machines, so on the server side `docker` is a recording
stand-in (first on the user's PATH): it logs each call's arguments, answers the few queries the
deploy scripts make (compose version, health, certificate date, disk use) and can be told to fail
a command or to report a service unhealthy. Everything else (ssh, scp, tar, the scripts, remote.sh)
is real.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import free_port

FAKE_DOCKER = r"""#!/bin/sh
# Stand-in for docker (no Docker engine on the test machines): records its arguments.
ctl="$(dirname "$0")"
touch "$HOME/running"
printf '%s\n' "$*" >> "$HOME/docker.log"
if [ -f "$ctl/fail" ]; then
    while IFS= read -r pattern; do
        case "$*" in
            $pattern) echo "fake docker: told to fail: $*" >&2; exit 1 ;;
        esac
    done < "$ctl/fail"
fi
last=""
for arg in "$@"; do last="$arg"; done
case "$*" in
    "compose version") echo "Docker Compose version v2.29.7" ;;
    "compose up "*) echo "$last" >> "$HOME/running" ;;
    "compose stop "*)
        for service in "$@"; do
            grep -vx "$service" "$HOME/running" > "$HOME/running.new"
            mv "$HOME/running.new" "$HOME/running"
        done ;;
    "compose ps --all --format "*)
        if grep -qx "$last" "$ctl/unhealthy" 2>/dev/null; then echo "running unhealthy";
        elif grep -qx "$last" "$HOME/running" 2>/dev/null; then echo "running healthy"; fi ;;
    *"openssl x509 -enddate"*) echo "notAfter=$(date -u -d '+60 days' '+%b %e %H:%M:%S %Y GMT')" ;;
    *" du -sh "*) printf '12M\t%s\n' "$last" ;;
    *pg_dump*) printf 'PGDMP fake dump\n' ;;
    "compose exec -T storage tar -czf"*) printf 'fake storage archive\n' ;;
    *pg_restore*) cat > "$HOME/restored-db.dump" ;;
    *"tar -xzf - -C /data/.restoring"*) cat > "$HOME/restored-storage.tar.gz" ;;
esac
exit 0
"""


@dataclass
class SshServer:
    """sshd on 127.0.0.1:port; `user` logs in with `identity`; `home` holds docker.log."""

    port: int
    user: str
    home: Path
    fake_docker_dir: Path
    ssh_opts: str

    @property
    def remote_dir(self) -> Path:
        return self.home / "srv" / "closo"

    def script_env(self) -> dict[str, str]:
        """Environment for a deploy script run against this server."""
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/root"),
            "SSH_HOST": "127.0.0.1",
            "SSH_PORT": str(self.port),
            "SSH_USER": self.user,
            "SSH_OPTS": self.ssh_opts,
            "REMOTE_DIR": str(self.remote_dir),
        }

    def docker_calls(self) -> list[str]:
        log = self.home / "docker.log"
        return log.read_text().splitlines() if log.exists() else []

    def tell_docker(self, *, fail: tuple[str, ...] = (), unhealthy: tuple[str, ...] = ()) -> None:
        """Program the stand-in: glob patterns of commands to fail, services to report unhealthy.

        A service is "running healthy" once `docker compose up` started it (until `stop`)."""
        for name, lines in (("fail", fail), ("unhealthy", unhealthy)):
            (self.fake_docker_dir / name).write_text("".join(f"{line}\n" for line in lines))

    def reset(self) -> None:
        """A fresh server: no deployment, an empty docker log, a docker that succeeds."""
        self.tell_docker()
        (self.home / "docker.log").unlink(missing_ok=True)
        shutil.rmtree(self.home / "srv", ignore_errors=True)
        for name in ("running", "restored-db.dump", "restored-storage.tar.gz"):
            (self.home / name).unlink(missing_ok=True)


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sshd exited with {proc.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"sshd did not listen on 127.0.0.1:{port} within {timeout}s")


@pytest.fixture(scope="session")
def ssh_server(session_tmp: Path) -> Iterator[SshServer]:
    """sshd on a free loopback port, a user created for the run, keys made for the run."""
    if os.geteuid() != 0:
        pytest.fail("the deploy tests create a throwaway user for sshd: run them as root")
    base = session_tmp / f"sshd-{secrets.token_hex(3)}"
    home = base / "home"
    user = f"closo-deploy-{secrets.token_hex(3)}"
    base.mkdir()
    subprocess.run(
        [
            "useradd",
            "--system",
            "--home-dir",
            str(home),
            "--create-home",
            "--shell",
            "/bin/sh",
            user,
        ],
        check=True,
    )
    # '*' (not the default '!'): no password, yet not "locked", which sshd refuses without PAM.
    subprocess.run(["usermod", "-p", "*", user], check=True)
    proc = None
    try:
        entry = pwd.getpwnam(user)
        home.chmod(0o755)
        fake = home / "fake-docker"
        fake.mkdir()
        (fake / "docker").write_text(FAKE_DOCKER)
        (fake / "docker").chmod(0o755)
        ssh_dir = home / ".ssh"
        ssh_dir.mkdir(mode=0o700)
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(base / "client_key")],
            check=True,
        )
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(base / "host_key")],
            check=True,
        )
        (ssh_dir / "authorized_keys").write_text((base / "client_key.pub").read_text())
        (ssh_dir / "authorized_keys").chmod(0o600)
        # The stand-in docker first on PATH for the sessions of this user only.
        (ssh_dir / "environment").write_text(f"PATH={fake}:/usr/bin:/bin\n")
        for path in (home, ssh_dir, ssh_dir / "authorized_keys", ssh_dir / "environment"):
            os.chown(path, entry.pw_uid, entry.pw_gid)
        port = free_port()
        config = base / "sshd_config"
        config.write_text(
            f"Port {port}\nListenAddress 127.0.0.1\nHostKey {base / 'host_key'}\n"
            f"PidFile {base / 'sshd.pid'}\nAuthorizedKeysFile .ssh/authorized_keys\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
            f"PermitRootLogin no\nAllowUsers {user}\nPermitUserEnvironment yes\n"
            "Subsystem sftp internal-sftp\nLogLevel VERBOSE\n"
        )
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation dir
        with (base / "sshd.log").open("wb") as log:  # the child keeps its own descriptor
            proc = subprocess.Popen(
                ["/usr/sbin/sshd", "-D", "-e", "-f", str(config)], stdout=log, stderr=log
            )
        _wait_for_port(port, proc)
        known_hosts = base / "known_hosts"
        host_key = (base / "host_key.pub").read_text().split()
        known_hosts.write_text(f"[127.0.0.1]:{port} {host_key[0]} {host_key[1]}\n")
        ssh_opts = (
            f"-F /dev/null -i {base / 'client_key'} -o IdentitiesOnly=yes "
            f"-o BatchMode=yes -o UserKnownHostsFile={known_hosts} "
            "-o StrictHostKeyChecking=yes -o ConnectTimeout=5"
        )
        yield SshServer(port=port, user=user, home=home, fake_docker_dir=fake, ssh_opts=ssh_opts)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=10)
        subprocess.run(["userdel", "--force", user], check=False, capture_output=True)
