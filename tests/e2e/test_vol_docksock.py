"""The Docker socket inside a container (docs/volumes.md): a container
that bind-mounts the Docker socket runs the docker CLI against it and gets
this installation's answers, `docker ps` and a sibling `docker run`, as a
CI job does. The static docker CLI is put into the running container with
`docker cp` (busybox has no client that speaks HTTP over a unix socket)
and run with `docker exec`. Each test also holds against a plain dockerd
(SK_TARGET=reference), where the bind is the engine's own socket."""
import os

import pytest

from e2e_lib import BUSYBOX, DOCKER, HOST, RUN_LABEL, TARGET, dk, dk_ok, host_network, wait_state

PART = 12 << 20
SLEEP = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"]


def _socket_source():
    """The host path to bind: the reference engine's own socket; on
    sockerless one of docker_socket_paths (default /var/run/docker.sock)."""
    if TARGET == "reference":
        if not HOST.startswith("unix://"):
            pytest.skip("the reference engine is not on a unix socket")
        return HOST[len("unix://"):]
    return "/var/run/docker.sock"


def _job(name, tmp, target="/var/run/docker.sock"):
    """A running container with the socket at target and the docker CLI in
    /bin (busybox's PATH)."""
    dk_ok("run", "-d", "--name", name, "--stop-timeout", "2",
          "-v", f"{_socket_source()}:{target}", BUSYBOX, *SLEEP)
    wait_state(name, "running")
    # In parts: one archive put is bounded (16 MiB on sockerless).
    with open(DOCKER, "rb") as f:
        cli = f.read()
    parts = []
    for i in range(0, len(cli), PART):
        p = os.path.join(tmp, f"docker.{i // PART:03d}")
        with open(p, "wb") as f:
            f.write(cli[i:i + PART])
        dk_ok("cp", p, f"{name}:/tmp/", timeout=300)
        parts.append("/tmp/" + os.path.basename(p))
    dk_ok("exec", name, "sh", "-c",
          f"cat {' '.join(parts)} > /bin/docker && chmod 755 /bin/docker && rm {' '.join(parts)}")


def _inner(name, *args, host="unix:///var/run/docker.sock", timeout=180):
    return dk("exec", "-e", f"DOCKER_HOST={host}", name, "docker", *args,
              timeout=timeout)


def test_docker_ps_and_run_inside(names, tmp_path):
    job, sib = names(), names()
    _job(job, str(tmp_path))
    p = _inner(job, "ps", "--format", "{{.Names}}")
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert job in p.stdout.split(), p.stdout
    # A sibling container, made through the job's socket.
    net = ["--network", "host"] if host_network() else []
    p = _inner(job, "run", "--rm", "--label", RUN_LABEL, "--name", sib, *net,
               BUSYBOX, "echo", "hello from a sibling")
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert p.stdout == "hello from a sibling\n", (p.stdout, p.stderr)
    # Keep-alive and a hijacked stream through the socket: exec -i back
    # into the job itself.
    p = dk("exec", "-i", job, "docker", "exec", "-i", job, "cat",
           input="through the socket\n", timeout=180)
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert p.stdout == "through the socket\n", (p.stdout, p.stderr)


def test_socket_at_another_target(names, tmp_path):
    job = names()
    _job(job, str(tmp_path), target="/tmp/sk/docker.sock")
    p = _inner(job, "version", "--format", "{{.Server.APIVersion}}",
               host="unix:///tmp/sk/docker.sock")
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert p.stdout.strip(), p.stdout
    # The default path has nothing there in this container.
    p = _inner(job, "ps", timeout=60)
    assert p.returncode != 0, p.stdout
