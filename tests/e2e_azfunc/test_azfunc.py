"""The azfunc backend (Azure Functions) through the real docker CLI and
docker-py: short-lived containers run on the pool's function apps, exit
codes and output come back, the pool is reused (no site or re-pointing per
run of the same image), and every operation Azure Functions cannot do is a
clear 501."""
import json
import os
import time

import pytest

from e2e_lib import RUN_ID, dk_ok, inspect
from azfunc_lib import pool_sites, sim_calls

BUSYBOX = "busybox"
TESTIMAGE = "sockerless/testimage:latest"
NOT_SUPPORTED = ("This backend (azfunc) does not support {}. CI runners require "
                 "exec-capable backends (ecs, cloudrun, aca, docker).")
# Both making and re-pointing a site are WebApps_CreateOrUpdate.
CREATE = "WebApps_CreateOrUpdate"


def test_info_names_azfunc(docker):
    info = json.loads(dk_ok("info", "--format", "{{json .}}"))
    assert "Azure Functions" in info["OperatingSystem"], info["OperatingSystem"]
    assert "sockerless.backend=azfunc" in info["Labels"]


def test_run_echo(docker):
    p = docker("run", "--rm", BUSYBOX, "echo", "hi", timeout=600)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "hi\n"


@pytest.mark.parametrize("code", [0, 1, 3, 42, 255])
def test_exit_codes(docker, code):
    p = docker("run", "--rm", BUSYBOX, "sh", "-c", f"exit {code}", timeout=300)
    assert p.returncode == code, (p.returncode, p.stderr)


def test_stdout_and_stderr_apart(docker):
    p = docker("run", "--rm", BUSYBOX, "sh", "-c",
               "echo out1; echo err1 >&2; echo out2; exit 4", timeout=300)
    assert p.returncode == 4
    assert p.stdout == "out1\nout2\n"
    assert p.stderr == "err1\n"


def test_same_image_reuses_a_pointed_site(docker):
    dk_ok("run", "--rm", BUSYBOX, "true", timeout=300)
    before = sim_calls()
    for _ in range(3):
        dk_ok("run", "--rm", BUSYBOX, "true", timeout=300)
    after = sim_calls()
    assert after.get(CREATE, 0) == before.get(CREATE, 0)


def test_another_image_repoints_a_site(docker):
    dk_ok("run", "--rm", BUSYBOX, "true", timeout=300)
    before = sim_calls().get(CREATE, 0)
    p = docker("run", "--rm", TESTIMAGE, timeout=600)
    assert (p.returncode, p.stdout) == (0, "from-cmd\n"), p.stderr
    p = docker("run", "--rm", BUSYBOX, "echo", "back", timeout=600)
    assert (p.returncode, p.stdout) == (0, "back\n"), p.stderr
    # at most one make or re-point per image change
    assert sim_calls().get(CREATE, 0) - before <= 2


def test_command_not_found(docker):
    p = docker("run", "--rm", BUSYBOX, "no-such-command-here", timeout=300)
    assert p.returncode == 127, (p.returncode, p.stderr)
    assert "no-such-command-here" in p.stderr


def test_create_start_wait_logs_inspect(docker, name):
    dk_ok("create", "--name", name, "-e", "GREETING=hello", BUSYBOX,
          "sh", "-c", 'echo "$GREETING from $PWD"; echo oops >&2; exit 7', timeout=300)
    assert inspect(name)["State"]["Status"] == "created"
    dk_ok("start", name, timeout=300)
    p = docker("wait", name, timeout=300)
    assert p.stdout.strip() == "7"
    d = inspect(name)
    assert d["State"]["Status"] == "exited" and d["State"]["ExitCode"] == 7
    p = docker("logs", name)
    assert p.stdout == "hello from /\n" and p.stderr == "oops\n", (p.stdout, p.stderr)


def test_workdir_env_and_no_key(docker):
    p = docker("run", "--rm", "-w", "/tmp/made", "-e", "AB=1", BUSYBOX,
               "sh", "-c", 'echo "$PWD $AB ${SOCKERLESS_HTTP_KEY:-nokey}"', timeout=300)
    assert p.returncode == 0 and p.stdout == "/tmp/made 1 nokey\n", (p.stdout, p.stderr)


def test_image_entrypoint_and_cmd(docker):
    p = docker("run", "--rm", TESTIMAGE, timeout=300)
    assert (p.returncode, p.stdout) == (0, "from-cmd\n"), p.stderr
    p = docker("run", "--rm", "--entrypoint", "sh", TESTIMAGE, "-c", 'echo "$TESTVAR $PWD"',
               timeout=300)
    assert p.stdout == "fromimage /work\n", p.stderr


def test_user(docker):
    p = docker("run", "--rm", "-u", "1234:5678", BUSYBOX, "sh", "-c", "id -u; id -g",
               timeout=300)
    assert (p.returncode, p.stdout) == (0, "1234\n5678\n"), p.stderr


def test_exec_is_501(docker, name):
    dk_ok("create", "--name", name, BUSYBOX, "sleep", "1", timeout=300)
    p = docker("exec", name, "true")
    assert p.returncode != 0
    assert NOT_SUPPORTED.format("exec") in p.stderr, p.stderr


def test_networks_and_volumes_are_501(docker):
    p = docker("network", "create", f"skaz-{RUN_ID}")
    assert p.returncode != 0 and "This backend (azfunc) does not support networks" in p.stderr
    p = docker("volume", "create", f"skaz-{RUN_ID}")
    assert p.returncode != 0 and "This backend (azfunc) does not support volumes" in p.stderr


def test_interactive_attach_is_501(docker, name):
    cid = dk_ok("create", "--name", name, "-i", BUSYBOX, "cat", timeout=300).strip()
    status, body = api("POST", f"/containers/{cid}/attach?stream=1&stdin=1&stdout=1")
    assert status == 501, (status, body)
    assert json.loads(body)["message"] == NOT_SUPPORTED.format("attach")
    p = docker("run", "--rm", "-i", BUSYBOX, "cat", input="x\n", timeout=300)
    assert p.returncode != 0 and "501" in p.stderr, p.stderr


def api(method, path):
    import http.client
    import socket

    class Conn(http.client.HTTPConnection):
        def connect(self):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.connect(os.environ["SK_DOCKER_HOST"][len("unix://"):])
    c = Conn("localhost", timeout=60)
    c.request(method, "/v1.44" + path)
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, body


def test_logs_follow_is_501(docker, name):
    dk_ok("run", "--name", name, BUSYBOX, "echo", "x", timeout=300)
    p = docker("logs", "-f", name)
    assert p.returncode != 0 and "This backend (azfunc) does not support" in p.stderr, p.stderr


def test_stop_lets_a_running_run_go(docker, name):
    dk_ok("run", "-d", "--name", name, BUSYBOX, "sleep", "8", timeout=300)
    t0 = time.monotonic()
    dk_ok("stop", name, timeout=60)
    assert time.monotonic() - t0 < 15
    assert inspect(name)["State"]["Status"] == "exited"
    dk_ok("rm", name)


def test_dockerpy_detached(pyclient):
    c = pyclient.containers.run(BUSYBOX, ["sh", "-c", "echo from docker-py; exit 2"],
                                detach=True, labels={"sk.e2e.run": RUN_ID})
    try:
        assert c.wait(timeout=300)["StatusCode"] == 2
        assert c.logs() == b"from docker-py\n"
    finally:
        c.remove(force=True)


def test_memory_above_the_plan_is_400(docker):
    p = docker("create", "-m", "40g", BUSYBOX, "true", timeout=120)
    assert p.returncode != 0 and "at most 3584 MiB" in p.stderr, p.stderr


def test_many_runs_leave_at_most_pool_max_sites(docker):
    for _ in range(6):
        dk_ok("run", "--rm", BUSYBOX, "sh", "-c", "exit 0", timeout=300)
    assert 0 < len(pool_sites()) <= int(os.environ.get("SK_AZFUNC_POOL_MAX", "4"))
