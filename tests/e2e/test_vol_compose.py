"""Issue 14, replay 3: docker-compose v1 (Debian's 1.29) with a named
volume, a health-gated depends_on and a restart policy, as compose makes the
calls (compose/project.py up: the project's volumes created first
(compose/volume.py ProjectVolumes.initialize: VolumeCreate `<project>_<name>`
with the com.docker.compose.* labels), then the services in dependency
order, a `condition: service_healthy` dependency waited by polling the
container's State.Health.Status (compose/parallel.py feed_queue's readiness
check calling Service.is_healthy in compose/service.py); `restart:` passed as HostConfig.RestartPolicy
(compose/service.py build_container_options / config/types.py
parse_restart_spec); `exec -T` (compose/cli/main.py exec_command: exec
create + start without a tty); `logs` (LogPrinter over each container's
logs, follow off); `down -v` (project.down: containers stopped and removed,
the network, then the project's volumes removed, remove_volumes=True)).

File format 2.4: v1 honours `condition:` only in the 2.x formats. Runs the
same against the reference dockerd.
"""
import os
import subprocess
import uuid

import pytest

from e2e_lib import COMPOSE, RUN_ID, _env, dk, dk_ok, host_network, inspect, wait_for

COMPOSE_FILE = """\
version: "2.4"
services:
  db:
    image: busybox
    command: ["sh", "-c", "mkdir -p /www && echo db-ok > /www/index.html && exec httpd -f -p 8080 -h /www"]
    healthcheck:
      test: ["CMD-SHELL", "wget -qO- http://127.0.0.1:8080/ || exit 1"]
      interval: 1s
      timeout: 5s
      retries: 60
    volumes:
      - data:/data
    labels:
      sk.e2e.run: "{run_id}"
  app:
    image: busybox
    depends_on:
      db:
        condition: service_healthy
    restart: on-failure
    command:
      - sh
      - -c
      - |
        if [ ! -f /data/first-run ]; then
          echo first-run > /data/first-run
          echo app-attempt-1
          exit 3
        fi
        echo app-attempt-2
        wget -qO- http://db:8080/ > /data/from-db
        echo app-ready
        exec sleep 600
    volumes:
      - data:/data
    labels:
      sk.e2e.run: "{run_id}"
volumes:
  data:
    labels:
      sk.e2e.run: "{run_id}"
"""


def compose(project, path, *args, timeout=300):
    return subprocess.run([COMPOSE, "-p", project, "-f", path, *args], env=_env(),
                          capture_output=True, text=True, timeout=timeout)


def _ctr(project, service):
    ids = dk_ok("ps", "-aq", "--filter", f"label=com.docker.compose.project={project}",
                "--filter", f"label=com.docker.compose.service={service}").split()
    assert len(ids) == 1, ids
    return ids[0]


def test_compose_volume_health_restart(tmp_path):
    if host_network():
        pytest.skip("the engine has no bridge network: services cannot reach each other by name")
    path = os.path.join(tmp_path, "docker-compose.yml")
    with open(path, "w") as f:
        f.write(COMPOSE_FILE.format(run_id=RUN_ID))
    project = "skvolc" + uuid.uuid4().hex[:8]
    vol = f"{project}_data"
    try:
        p = compose(project, path, "up", "-d")
        assert p.returncode == 0, (p.stdout, p.stderr)
        v = inspect(vol, kind="volume")
        assert v["Labels"]["com.docker.compose.project"] == project, v
        assert v["Labels"]["com.docker.compose.volume"] == "data", v
        assert v["Labels"]["sk.e2e.run"] == RUN_ID, v
        db, app = _ctr(project, "db"), _ctr(project, "app")
        # up -d returned after db was healthy: the gate held.
        assert inspect(db)["State"]["Health"]["Status"] == "healthy"
        hc = inspect(app)["HostConfig"]
        assert hc["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 0}, hc
        # The first attempt fails; the restart policy runs it again.
        d = wait_for(lambda: (lambda x: x if x["RestartCount"] >= 1 and
                              x["State"]["Status"] == "running" else None)(inspect(app)),
                     timeout=180, what="app restarted and running")
        assert d["RestartCount"] == 1, d["RestartCount"]
        out = wait_for(lambda: (lambda r: r.stdout if r.returncode == 0 else None)(
            compose(project, path, "exec", "-T", "app", "cat", "/data/first-run", "/data/from-db")),
            timeout=120, what="app's files")
        assert out == "first-run\ndb-ok\n", out
        # The named volume is the same in both services.
        p = compose(project, path, "exec", "-T", "db", "cat", "/data/from-db")
        assert p.returncode == 0 and p.stdout == "db-ok\n", (p.stdout, p.stderr)
        # exec's exit code.
        p = compose(project, path, "exec", "-T", "app", "sh", "-c", "exit 7")
        assert p.returncode == 7, (p.returncode, p.stderr)
        p = compose(project, path, "logs", "--no-color", "app")
        assert p.returncode == 0, p.stderr
        for word in ("app-attempt-1", "app-attempt-2", "app-ready"):
            assert word in p.stdout, p.stdout
        assert p.stdout.index("app-attempt-1") < p.stdout.index("app-attempt-2"), p.stdout
    finally:
        d = compose(project, path, "down", "-v", "--remove-orphans", "-t", "2")
    assert d.returncode == 0, (d.stdout, d.stderr)
    assert dk("volume", "inspect", vol).returncode != 0, "down -v left the volume"
    left = dk("ps", "-aq", "--filter", f"label=com.docker.compose.project={project}")
    assert left.stdout.strip() == "", left.stdout
    assert dk("network", "inspect", f"{project}_default").returncode != 0
