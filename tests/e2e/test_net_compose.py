"""docker-compose (v1, Debian's 1.29) with its default network: a plain
two-service file (`web`, a busybox httpd; `client`, which fetches
http://web:8080/ by the service name), `up -d`, `exec`, `logs`, `down`,
which removes the project's network."""
import os
import subprocess
import uuid

from e2e_lib import COMPOSE, RUN_ID, _env, dk, dk_ok, inspect, wait_for

COMPOSE_FILE = """\
version: "2.4"
services:
  web:
    image: busybox
    command: ["sh", "-c", "mkdir -p /www && echo hello-compose > /www/index.html && echo web up && exec httpd -f -p 8080 -h /www"]
    labels:
      sk.e2e.run: "{run_id}"
  client:
    image: busybox
    command: ["sleep", "600"]
    depends_on: [web]
    labels:
      sk.e2e.run: "{run_id}"
"""


def compose(project, path, *args, timeout=300):
    return subprocess.run([COMPOSE, "-p", project, "-f", path, *args], env=_env(),
                          capture_output=True, text=True, timeout=timeout)


def test_compose_default_network(tmp_path):
    path = os.path.join(tmp_path, "docker-compose.yml")
    with open(path, "w") as f:
        f.write(COMPOSE_FILE.format(run_id=RUN_ID))
    project = "skenet" + uuid.uuid4().hex[:8]
    net = f"{project}_default"
    try:
        p = compose(project, path, "up", "-d")
        assert p.returncode == 0, p.stdout + p.stderr
        d = inspect(net, kind="network")
        assert d["Driver"] == "bridge", d
        assert d["Labels"].get("com.docker.compose.network") == "default", d["Labels"]
        assert d["Labels"].get("com.docker.compose.project") == project, d["Labels"]
        web = f"{project}_web_1"
        ep = inspect(web)["NetworkSettings"]["Networks"][net]
        assert "web" in ep["Aliases"], ep

        def fetch():
            r = compose(project, path, "exec", "-T", "client", "wget", "-qO-", "http://web:8080/",
                        timeout=120)
            return r.stdout if r.returncode == 0 else None
        body = wait_for(fetch, timeout=90, interval=1, what="client to fetch http://web:8080/")
        assert body.strip() == "hello-compose", body
        p = compose(project, path, "logs", "--no-color", "web")
        assert p.returncode == 0 and "web up" in p.stdout, (p.stdout, p.stderr)
        members = inspect(net, kind="network")["Containers"]
        assert len(members) == 2, members
    finally:
        down = compose(project, path, "down", "--remove-orphans", "-t", "2")
    assert down.returncode == 0, (down.stdout, down.stderr)
    assert f"Removing network {net}" in down.stderr, down.stderr
    assert dk("network", "inspect", net).returncode != 0
    left = dk_ok("ps", "-aq", "--filter", f"label=com.docker.compose.project={project}")
    assert left.strip() == "", left
