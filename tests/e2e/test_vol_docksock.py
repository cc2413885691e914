"""The Docker socket inside a container (docs/volumes.md): a container
that bind-mounts the Docker socket runs the docker CLI against it and gets
this installation's answers, `docker ps` and a sibling `docker run`, as a
CI job does. The static docker CLI is put into the running container with
`docker cp` (busybox has no client that speaks HTTP over a unix socket)
and run with `docker exec`. Each test also holds against a plain dockerd
(SK_TARGET=reference), where the bind is the engine's own socket."""
import pytest

from e2e_lib import BUSYBOX, DOCKER, HOST, RUN_LABEL, TARGET, dk, dk_ok, host_network, wait_state

SLEEP = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"]


def _socket_source():
    """The host path to bind: the reference engine's own socket; on
    sockerless one of docker_socket_paths (default /var/run/docker.sock)."""
    if TARGET == "reference":
        if not HOST.startswith("unix://"):
            pytest.skip("the reference engine is not on a unix socket")
        return HOST[len("unix://"):]
    return "/var/run/docker.sock"


def _job(name, target="/var/run/docker.sock"):
    """A running container with the socket at target and the docker CLI in
    /bin (busybox's PATH)."""
    dk_ok("run", "-d", "--name", name, "--stop-timeout", "2",
          "-v", f"{_socket_source()}:{target}", BUSYBOX, *SLEEP)
    wait_state(name, "running")
    dk_ok("cp", DOCKER, f"{name}:/bin/docker", timeout=300)


def _inner(name, *args, host="unix:///var/run/docker.sock", timeout=180):
    return dk("exec", "-e", f"DOCKER_HOST={host}", name, "docker", *args,
              timeout=timeout)


def test_docker_ps_and_run_inside(names):
    job, sib = names(), names()
    _job(job)
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


def test_socket_at_another_target(names):
    job = names()
    _job(job, target="/tmp/sk/docker.sock")
    p = _inner(job, "version", "--format", "{{.Server.APIVersion}}",
               host="unix:///tmp/sk/docker.sock")
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert p.stdout.strip(), p.stdout
    # The default path has nothing there in this container.
    p = _inner(job, "ps", timeout=60)
    assert p.returncode != 0, p.stdout
