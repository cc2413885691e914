"""docker-compose (v1, Debian's 1.29) against the endpoint."""
import os
import subprocess
import uuid

from e2e_lib import COMPOSE, RUN_ID, _env, dk, host_network

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
    # An engine without a bridge network (an older test bed) runs the
    # service on the host network; otherwise compose makes its default
    # network (test_net_compose.py checks its use).
    extra = "    network_mode: host\n" if host_network() else ""
    path = os.path.join(tmp_path, "docker-compose.yml")
    with open(path, "w") as f:
        f.write(COMPOSE_FILE.format(run_id=RUN_ID, extra=extra))
    project = "ske2e" + uuid.uuid4().hex[:8]
    try:
        p = compose(project, path, "up", "--abort-on-container-exit")
        out = p.stdout + p.stderr
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
