"""Issue 10, slice core: what a client sends that the cloud would refuse
gets dockerd's 400 before any cloud call; cloud validation errors are 400
with the cloud's words."""
import http.client
import json
import os
import socket
import threading

import pytest

from e2e_lib import BUSYBOX, HOST, RUN_LABEL, TARGET, dk, sim_call, sim_url


class _UnixConn(http.client.HTTPConnection):
    def __init__(self, path, timeout=60):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


def _post(path, body):
    assert HOST.startswith("unix://"), HOST
    conn = _UnixConn(HOST[len("unix://"):])
    try:
        data = json.dumps(body).encode()
        conn.request("POST", path, body=data,
                     headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        return resp.status, resp.read().decode("utf-8", "replace")
    finally:
        conn.close()


def _count_containers():
    p = dk("ps", "-aq", "--filter", f"label={RUN_LABEL}")
    return len(p.stdout.split())


def test_non_string_label_values_are_400():
    """dockerd decodes Labels as map[string]string: a number, bool or
    object value is a 400 naming the field, and nothing is created."""
    before = _count_containers()
    for bad in (1, True, {"x": "y"}, ["a"]):
        status, body = _post("/v1.44/containers/create", {
            "Image": BUSYBOX, "Cmd": ["true"],
            "Labels": {RUN_LABEL.split("=")[0]: RUN_LABEL.split("=")[1], "n": bad}})
        assert status == 400, (bad, status, body)
        msg = json.loads(body)["message"]
        assert "cannot unmarshal" in msg and "Labels" in msg, msg
    status, body = _post("/v1.44/containers/create", {
        "Image": BUSYBOX, "Cmd": ["true"], "Labels": ["a=b"]})
    assert status == 400, (status, body)
    assert "Labels" in json.loads(body)["message"]
    assert _count_containers() == before
    if TARGET == "sockerless":
        # String labels still work, end to end.
        p = dk("run", "--rm", "--label", "sk.core=1", BUSYBOX, "echo", "labelled")
        assert p.returncode == 0 and p.stdout == "labelled\n", (p.returncode, p.stderr)


# --- the log service failing (issue 10 #6) --------------------------------


@pytest.fixture
def sim():
    if TARGET != "sockerless" or os.environ.get("SK_BACKEND", "ecs") != "ecs" or not sim_url():
        pytest.skip("needs sockerless on ECS and its AWS simulator")
    sim_call("DELETE", "/_sim/faults")
    try:
        yield sim_call
    finally:
        sim_call("DELETE", "/_sim/faults")


def test_failed_log_reads_are_read_again(sim, name):
    """GetLogEvents failing all of httpcli's attempts, twice, under a
    following logs: the stream reads again from its cursor; nothing lost,
    nothing repeated. (A running container's first run is read from its
    agent, so this is its second run, whose logs hold the first's too:
    the log service's.)"""
    script = "echo one; echo two >&2; sleep 2; echo three; exit 3"
    assert dk("run", "--name", name, BUSYBOX, "sh", "-c", script).returncode == 3
    dk("start", name, check=True)
    sim("POST", "/_sim/faults", {"service": "logs", "operation": "GetLogEvents",
                                 "error": "ThrottlingException", "count": 6})
    p = dk("logs", "-f", name, timeout=180)
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
    assert p.stdout == "one\nthree\none\nthree\n", p.stdout
    assert p.stderr == "two\ntwo\n", p.stderr
    assert sim("GET", "/_sim/faults") == []  # the faults were met
    assert dk("wait", name, timeout=120).stdout == "3\n"


def test_unreadable_output_is_an_error(sim, names):
    """When the output cannot be had (reads failing for longer than the
    retry window), logs says so and exits non-zero, as the docker CLI does
    on dockerd's in-stream error, following or not; never a silent success
    with no output."""
    done = names()
    dk("run", "--name", done, BUSYBOX, "echo", "kept", check=True)
    live = names()
    # A second run: the first run's logs are the agent's while it runs.
    script = "sleep 1; echo lost; exit 4"
    assert dk("run", "--name", live, BUSYBOX, "sh", "-c", script).returncode == 4
    dk("start", live, check=True)
    sim("POST", "/_sim/faults", {"service": "logs", "operation": "GetLogEvents",
                                 "error": "ThrottlingException", "count": None})
    out = {}

    def logs():
        out["logs"] = dk("logs", done, timeout=180)
    t = threading.Thread(target=logs)
    t.start()
    p = dk("logs", "-f", live, timeout=180)
    t.join()
    # The in-stream error ends the stream; the status stays the
    # container's.
    assert p.returncode != 0, (p.returncode, p.stdout, p.stderr)
    assert "Error grabbing logs" in p.stderr and "Throttl" in p.stderr, p.stderr
    assert dk("wait", live, timeout=120).stdout == "4\n"
    q = out["logs"]
    assert q.returncode != 0, (q.returncode, q.stdout, q.stderr)
    assert "Error grabbing logs" in q.stderr, q.stderr
    sim("DELETE", "/_sim/faults")
    assert dk("logs", done, timeout=60).stdout == "kept\n"
    assert dk("logs", live, timeout=60).stdout == "lost\nlost\n"


def test_cloud_validation_errors_are_400(sim):
    """ECS refusing the request as invalid (ClientException, 400) reaches
    the client as a 400 with ECS's words, not a 500 (issue 10 #14)."""
    import uuid
    sim("POST", "/_sim/faults", {"service": "ecs", "operation": "RegisterTaskDefinition",
                                 "error": "ClientException", "status": 400, "count": 1,
                                 "message": "Invalid setting for container 'main'"})
    status, body = _post("/v1.44/containers/create", {
        "Image": BUSYBOX, "Cmd": ["true"], "Env": [f"SK_UNIQUE={uuid.uuid4().hex}"],
        "Labels": {RUN_LABEL.split("=")[0]: RUN_LABEL.split("=")[1]}})
    assert status == 400, (status, body)
    msg = json.loads(body)["message"]
    assert "ClientException: Invalid setting for container 'main'" in msg, msg
    assert sim("GET", "/_sim/faults") == []
