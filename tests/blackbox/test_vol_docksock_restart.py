"""The Docker socket inside a container survives a backend restart
(docs/volumes.md): the restarted backend dials the running container's
agent link again on its own, so the workload's next connections reach the
Docker API without any client call bringing the link up (no exec, no
attach: the workload's log is read from the cloud's log service)."""
import os
import time

PART = 12 << 20
DOCKER_CLI = "/usr/local/bin/docker"
LOOP = ("while true; do if [ -x /bin/docker ]; then "
        "if /bin/docker ps -q >/dev/null 2>&1; then echo \"ok $(date +%s)\"; "
        "else echo \"fail $(date +%s)\"; fi; fi; sleep 1; done")


def _put_cli(docker, name, tmp):
    """The static docker CLI into /bin, in parts (an archive put is
    bounded)."""
    with open(DOCKER_CLI, "rb") as f:
        cli = f.read()
    parts = []
    for i in range(0, len(cli), PART):
        p = os.path.join(tmp, f"docker.{i // PART:03d}")
        with open(p, "wb") as f:
            f.write(cli[i:i + PART])
        docker("cp", p, f"{name}:/tmp/", check=True, timeout=300)
        parts.append("/tmp/" + os.path.basename(p))
    docker("exec", name, "sh", "-c",
           f"cat {' '.join(parts)} > /bin/docker.new && chmod 755 /bin/docker.new && "
           "mv /bin/docker.new /bin/docker", check=True)


def _ok_after(docker, name, since, timeout=90):
    deadline = time.time() + timeout
    while True:
        out = docker("logs", name).stdout.split("\n")
        oks = [int(ln.split()[1]) for ln in out if ln.startswith("ok ")]
        if any(t > since for t in oks):
            return
        assert time.time() < deadline, out[-10:]
        time.sleep(1)


def test_docker_socket_after_backend_restart(docker, name, local, tmp_path):
    docker("run", "-d", "--name", name, "-v", "/var/run/docker.sock:/var/run/docker.sock",
           "busybox", "sh", "-c", LOOP, check=True)
    try:
        _put_cli(docker, name, str(tmp_path))
        _ok_after(docker, name, 0)
        local("restart-backend")
        restarted = int(time.time())
        _ok_after(docker, name, restarted + 1)
    finally:
        docker("rm", "-f", name)
