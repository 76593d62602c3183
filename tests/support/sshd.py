"""A real OpenSSH server on loopback, standing for the user's server: a throwaway account that may
use the tests' Docker engine, as a deploy user in the `docker` group may on a real server.

The account's sessions get DOCKER_HOST (the tests' engine) through ~/.ssh/environment; everything
else is as on a server: ssh, scp and tar over a real connection, `docker compose` run by remote.sh
in the deployment folder.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from support.docker.engine import Engine
from support.ports import free_port, wait_for_port

SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"


@dataclass
class SshServer:
    """sshd on 127.0.0.1:port; `user` logs in with the key in `ssh_opts`."""

    port: int
    user: str
    home: Path
    ssh_opts: str
    environment: str  # the account's ~/.ssh/environment as set up

    @property
    def remote_dir(self) -> Path:
        return self.home / "srv" / "closo"

    def script_env(self, **overrides: str) -> dict[str, str]:
        """Environment for a deploy script run against this server."""
        return {
            "PATH": os.environ.get("PATH", SYSTEM_PATH),
            "HOME": os.environ.get("HOME", "/root"),
            "SSH_HOST": "127.0.0.1",
            "SSH_PORT": str(self.port),
            "SSH_USER": self.user,
            "SSH_OPTS": self.ssh_opts,
            "REMOTE_DIR": str(self.remote_dir),
            **overrides,
        }

    def as_user(self, *argv: str) -> subprocess.CompletedProcess[str]:
        """A command run on the server as the deploy user, as over ssh."""
        return subprocess.run(
            ["runuser", "-u", self.user, "--", *argv], capture_output=True, text=True, check=True
        )

    @contextlib.contextmanager
    def session_path(self, path: str) -> Iterator[None]:
        """The account's sessions get another PATH for a while (a server missing a tool)."""
        env_file = self.home / ".ssh" / "environment"
        env_file.write_text(self.environment.replace(f"PATH={SYSTEM_PATH}", f"PATH={path}"))
        try:
            yield
        finally:
            env_file.write_text(self.environment)


@contextlib.contextmanager
def ssh_server(base: Path, engine: Engine) -> Iterator[SshServer]:
    """sshd on a free loopback port, an account and keys made for the run; all removed after."""
    if os.geteuid() != 0:
        raise RuntimeError("the deploy tests create a throwaway account for sshd: run them as root")
    base.mkdir(parents=True)
    home = base / "home"
    user = f"closo-deploy-{secrets.token_hex(3)}"
    subprocess.run(
        ["useradd", "--system", "--home-dir", str(home), "--create-home", "--shell", "/bin/sh"]
        + ["--groups", "docker", user],
        check=True,
    )
    # '*' (not the default '!'): no password, yet not "locked", which sshd refuses without PAM.
    subprocess.run(["usermod", "-p", "*", user], check=True)
    proc = None
    try:
        entry = pwd.getpwnam(user)
        home.chmod(0o755)
        ssh_dir = home / ".ssh"
        ssh_dir.mkdir(mode=0o700)
        for name in ("client_key", "host_key"):
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(base / name)], check=True
            )
        (ssh_dir / "authorized_keys").write_text((base / "client_key.pub").read_text())
        (ssh_dir / "authorized_keys").chmod(0o600)
        environment = f"PATH={SYSTEM_PATH}\nDOCKER_HOST={engine.host}\n"
        (ssh_dir / "environment").write_text(environment)
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
        wait_for_port(port, process=proc)
        known_hosts = base / "known_hosts"
        host_key = (base / "host_key.pub").read_text().split()
        known_hosts.write_text(f"[127.0.0.1]:{port} {host_key[0]} {host_key[1]}\n")
        ssh_opts = (
            f"-F /dev/null -i {base / 'client_key'} -o IdentitiesOnly=yes "
            f"-o BatchMode=yes -o UserKnownHostsFile={known_hosts} "
            "-o StrictHostKeyChecking=yes -o ConnectTimeout=5"
        )
        yield SshServer(port, user, home, ssh_opts, environment)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=10)
        subprocess.run(["userdel", "--force", user], check=False, capture_output=True)
        shutil.rmtree(home, ignore_errors=True)
