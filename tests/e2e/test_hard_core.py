"""Issue 10, slice core: what a client sends that the cloud would refuse
gets dockerd's 400 before any cloud call; cloud validation errors are 400
with the cloud's words."""
import http.client
import json
import socket

from e2e_lib import BUSYBOX, HOST, RUN_LABEL, TARGET, dk


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
