"""The Lambda backend through the real docker CLI and docker-py: short-lived
containers run as functions, exit codes and output come back, and every
operation Lambda cannot do is a clear 501."""
import json
import os
import time
import urllib.request

import pytest

from e2e_lib import RUN_ID, dk_ok, inspect

# Any image runs (the backend pushes a derived image with the agent to the
# simulator's ECR, which is the bed registry); ECR images too.
ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
BUSYBOX = "busybox"
ECR_BUSYBOX = ECR + "/library/busybox"
TESTIMAGE = "sockerless/testimage:latest"

NOT_SUPPORTED = ("This backend (lambda) does not support {}. CI runners require "
                 "exec-capable backends (ecs, cloudrun, aca, docker).")


def sim_url():
    port = os.environ.get("SK_SIM_PORT", "35201")
    return f"http://127.0.0.1:{port}"


def sim_calls():
    with urllib.request.urlopen(sim_url() + "/_sim/calls", timeout=10) as r:
        return json.load(r)


def test_info_names_lambda(docker):
    info = json.loads(dk_ok("info", "--format", "{{json .}}"))
    assert "AWS Lambda" in info["OperatingSystem"], info["OperatingSystem"]
    assert "sockerless.backend=lambda" in info["Labels"]


def test_run_echo(docker):
    p = docker("run", "--rm", BUSYBOX, "echo", "hi", timeout=300)
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


def test_ecr_image(docker):
    p = docker("run", "--rm", ECR_BUSYBOX, "echo", "from ecr", timeout=300)
    assert (p.returncode, p.stdout) == (0, "from ecr\n"), p.stderr


def test_derived_image_is_reused(docker):
    dk_ok("run", "--rm", BUSYBOX, "true", timeout=300)
    before = sim_calls()
    dk_ok("run", "--rm", BUSYBOX, "true", timeout=300)
    after = sim_calls()
    assert after.get("lambda.CreateFunction", 0) == before.get("lambda.CreateFunction", 0) + 1
    reg = os.environ.get("SK_REGISTRY", "")
    if reg:
        with urllib.request.urlopen(f"http://{reg}/v2/sockerless-lambda/tags/list",
                                    timeout=10) as r:
            tags = json.load(r)["tags"]
        # One derived tag per source image (busybox, the ECR busybox,
        # testimage...), never one per run.
        assert len(tags) == len(set(tags)) and len(tags) <= 4, tags


def test_command_not_found(docker):
    p = docker("run", "--rm", BUSYBOX, "no-such-command-here", timeout=300)
    assert p.returncode == 127, (p.returncode, p.stderr)
    assert "no-such-command-here" in p.stderr


def test_create_start_wait_logs_inspect(docker, name):
    dk_ok("create", "--name", name, "-e", "GREETING=hello", BUSYBOX,
          "sh", "-c", 'echo "$GREETING from $PWD"; echo oops >&2; exit 7', timeout=300)
    d = inspect(name)
    assert d["State"]["Status"] == "created"
    dk_ok("start", name, timeout=120)
    p = docker("wait", name, timeout=300)
    assert p.stdout.strip() == "7"
    d = inspect(name)
    assert d["State"]["Status"] == "exited" and d["State"]["ExitCode"] == 7
    assert d["State"]["Error"] == ""
    p = docker("logs", name)
    assert p.stdout == "hello from /\n" and p.stderr == "oops\n", (p.stdout, p.stderr)
    p = docker("logs", "--timestamps", name)
    assert p.stdout.startswith("20") and p.stdout.endswith(" hello from /\n"), p.stdout
    p = docker("logs", "--tail", "0", name)
    assert p.stdout == "" and p.stderr == ""


def test_workdir_and_env(docker):
    p = docker("run", "--rm", "-w", "/tmp", "-e", "AB=1", BUSYBOX,
               "sh", "-c", 'echo "$PWD $AB"', timeout=300)
    assert p.returncode == 0 and p.stdout == "/tmp 1\n", (p.stdout, p.stderr)


def test_image_entrypoint_and_cmd(docker):
    # ENTRYPOINT ["/bin/echo"], CMD ["from-cmd"], ENV, WORKDIR of the image
    # run through the agent like Docker runs them.
    p = docker("run", "--rm", TESTIMAGE, timeout=300)
    assert (p.returncode, p.stdout) == (0, "from-cmd\n"), p.stderr
    p = docker("run", "--rm", TESTIMAGE, "other", "args", timeout=300)
    assert p.stdout == "other args\n", p.stderr
    p = docker("run", "--rm", "--entrypoint", "sh", TESTIMAGE, "-c", 'echo "$TESTVAR $PWD"',
               timeout=300)
    assert p.stdout == "fromimage /work\n", p.stderr


def test_exec_is_501(docker, name):
    dk_ok("create", "--name", name, BUSYBOX, "sleep", "1", timeout=300)
    p = docker("exec", name, "true")
    assert p.returncode != 0
    assert NOT_SUPPORTED.format("exec") in p.stderr, p.stderr


def test_interactive_attach_is_501(docker, name):
    cid = dk_ok("create", "--name", name, "-i", BUSYBOX, "cat", timeout=300).strip()
    status, body = api("POST", f"/containers/{cid}/attach?stream=1&stdin=1&stdout=1")
    assert status == 501, (status, body)
    assert json.loads(body)["message"] == NOT_SUPPORTED.format("attach")
    # The CLI only says the upgrade was refused; it fails all the same.
    p = docker("run", "--rm", "-i", BUSYBOX, "cat", input="x\n", timeout=300)
    assert p.returncode != 0 and "501" in p.stderr, p.stderr
    # Without stdin (what docker run does), attach is served.
    status, _ = api("POST", f"/containers/{cid}/attach?stream=0&logs=1&stdout=1")
    assert status == 200


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


def test_networks_and_volumes_are_501(docker):
    p = docker("network", "create", f"sklam-{RUN_ID}")
    assert p.returncode != 0, p.stderr
    assert "This backend (lambda) does not support networks" in p.stderr, p.stderr
    p = docker("volume", "create", f"sklam-{RUN_ID}")
    assert p.returncode != 0, p.stderr
    assert "This backend (lambda) does not support volumes" in p.stderr, p.stderr


def test_logs_follow_is_501(docker, name):
    dk_ok("run", "--name", name, BUSYBOX, "echo", "x", timeout=300)
    p = docker("logs", "-f", name)
    assert p.returncode != 0 and "This backend (lambda) does not support" in p.stderr, \
        p.stderr


def test_stop_lets_a_running_function_go(docker, name):
    dk_ok("run", "-d", "--name", name, BUSYBOX, "sleep", "20", timeout=300)
    t0 = time.monotonic()
    dk_ok("stop", name, timeout=60)
    assert time.monotonic() - t0 < 15
    d = inspect(name)
    assert d["State"]["Status"] == "exited"
    dk_ok("rm", name)


def test_rm_deletes_the_function(docker, name):
    before = sim_calls().get("lambda.DeleteFunction", 0)
    dk_ok("run", "--name", name, BUSYBOX, "true", timeout=300)
    dk_ok("rm", name)
    assert sim_calls().get("lambda.DeleteFunction", 0) == before + 1


def test_dockerpy_run(pyclient):
    # containers.run() without detach follows the logs, which Lambda's
    # capabilities leave out (logs_follow false): it gets the 501.
    import docker as dockerpy
    with pytest.raises(dockerpy.errors.APIError) as ei:
        pyclient.containers.run(BUSYBOX, ["echo", "x"], remove=True,
                                labels={"sk.e2e.run": RUN_ID})
    assert ei.value.status_code == 501
    c = pyclient.containers.run(BUSYBOX, ["sh", "-c", "echo from docker-py; exit 2"],
                                detach=True, labels={"sk.e2e.run": RUN_ID})
    try:
        assert c.wait(timeout=300)["StatusCode"] == 2
        assert c.logs() == b"from docker-py\n"
    finally:
        c.remove(force=True)


def test_memory_too_large_is_400(docker):
    p = docker("create", "-m", "20g", BUSYBOX, "true", timeout=120)
    assert p.returncode != 0 and "at most 10240 MiB" in p.stderr, p.stderr


def test_env_name_lambda_refuses_is_400(docker):
    # Lambda's model: [a-zA-Z]([a-zA-Z0-9_])+. These names used to come
    # back as Lambda's own validation error ("Lambda rejected the
    # container"), from the cloud, after the image was derived.
    for name in ("A", "my.var", "1X"):
        p = docker("create", "-e", f"{name}=1", BUSYBOX, "true", timeout=120)
        assert p.returncode != 0 and f"rename {name} (" in p.stderr, p.stderr


def test_reserved_env_is_400(docker):
    p = docker("create", "-e", "AWS_REGION=eu-west-1", BUSYBOX, "true", timeout=120)
    assert p.returncode != 0 and "reserves the environment variable AWS_REGION" in p.stderr, \
        p.stderr
