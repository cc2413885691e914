"""docker-compose (v1, Debian's 1.29) against the endpoint."""
import os
import subprocess
import uuid

import pytest

from e2e_lib import COMPOSE, RUN_ID, TARGET, _env, dk, host_network

COMPOSE_FILE = """\
version: "2.4"
services:
  hello:
    image: busybox
    command: ["sh", "-c", "echo up; sleep 1"]
    labels:
      sk.e2e.run: "{run_id}"
{extra}"""


def compose(project, path, *args, timeout=180):
    return subprocess.run([COMPOSE, "-p", project, "-f", path, *args], env=_env(),
                          capture_output=True, text=True, timeout=timeout)


def test_compose_up_down(tmp_path):
    # The reference bed's engine has no bridge, so there the service uses the
    # host network; on sockerless compose makes its default network, which a
    # backend without user-defined networks refuses (501).
    extra = "    network_mode: host\n" if host_network() else ""
    path = os.path.join(tmp_path, "docker-compose.yml")
    with open(path, "w") as f:
        f.write(COMPOSE_FILE.format(run_id=RUN_ID, extra=extra))
    project = "ske2e" + uuid.uuid4().hex[:8]
    try:
        p = compose(project, path, "up", "--abort-on-container-exit")
        out = p.stdout + p.stderr
        if p.returncode != 0 and TARGET == "sockerless" and "network" in out.lower() and (
                "501" in out or "not support" in out.lower() or "Not Implemented" in out):
            pytest.xfail("this backend has no user-defined networks (501), "
                         "which compose's default network needs")
        assert p.returncode == 0, out
        assert "up" in out, out
        assert "exited with code 0" in out, out
        ps = dk("ps", "-a", "--filter", f"label=com.docker.compose.project={project}",
                "--format", "{{.Names}} {{.Status}}")
        rows = ps.stdout.splitlines()
        assert len(rows) == 1 and "Exited (0)" in rows[0], rows
        p = compose(project, path, "logs", "--no-color")
        assert p.returncode == 0 and "up" in p.stdout, (p.stdout, p.stderr)
    finally:
        d = compose(project, path, "down", "--remove-orphans", "-t", "2")
    assert d.returncode == 0, (d.stdout, d.stderr)
    left = dk("ps", "-aq", "--filter", f"label=com.docker.compose.project={project}")
    assert left.stdout.strip() == "", left.stdout
