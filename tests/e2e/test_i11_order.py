"""Issue 11, items 6 and 7: the frontend checks a request before its
capability gate (bad JSON is a 400, a missing container a 404, as dockerd
answers them), and a slow backend capability answer does not stall the
event loop (/_ping keeps answering).

The first tests run a frontend of their own against a fake backend (a Unix
socket in a temporary directory) whose capabilities are all off and whose
/capabilities answer can be delayed; the last ones ask the shared stack."""
import http.client
import json
import os
import socket
import socketserver
import subprocess
import tempfile
import threading
import time

import pytest

from e2e_lib import HOST

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
BUILD = os.environ.get("SK_BUILD", "build")
FRONTEND = os.path.join(ROOT, BUILD, "sockerless-frontend")

CAPS = {"backend": "fake", "version": "0", "instance": "fake-1",
        "capabilities": {"max_timeout_seconds": 0}}


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path, timeout=10):
        super().__init__("localhost", timeout=timeout)
        self.sock_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.sock_path)


def call(path, method, url, body=None, timeout=10):
    c = UnixHTTP(path, timeout)
    headers = {"Content-Type": "application/json"} if body is not None else {}
    c.request(method, url, body=body, headers=headers)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


class FakeBackend(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    caps_delay = 0.0
    seen = None


class FakeHandler(socketserver.StreamRequestHandler):
    def handle(self):
        line = self.rfile.readline().decode()
        length = 0
        while True:
            h = self.rfile.readline().decode()
            if h in ("\r\n", "\n", ""):
                break
            if h.lower().startswith("content-length:"):
                length = int(h.split(":", 1)[1])
        if length:
            self.rfile.read(length)
        method, target = line.split()[:2]
        self.server.seen.append((method, target))
        if target == "/internal/v1/capabilities":
            time.sleep(self.server.caps_delay)
            self.reply(200, CAPS)
        elif target == "/internal/v1/containers/exists/json":
            self.reply(200, {"Id": "exists"})
        elif target.startswith("/internal/v1/containers/"):
            name = target.split("/")[4]
            self.reply(404, {"message": f"No such container: {name}"})
        else:
            self.reply(500, {"message": "the fake backend was not to be asked"})

    def reply(self, status, obj):
        body = json.dumps(obj).encode()
        self.wfile.write(b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\nConnection: close\r\n\r\n"
                         % (status, len(body)) + body)


@pytest.fixture
def stack(request):
    """(frontend socket, fake backend server) in a private directory; the
    parameter, if any, delays the backend's capabilities answer."""
    if not os.path.exists(FRONTEND):
        pytest.skip(f"{FRONTEND} is not built")
    d = tempfile.mkdtemp(prefix="sk-order-")
    srv = FakeBackend(os.path.join(d, "backend.sock"), FakeHandler)
    srv.seen = []
    srv.caps_delay = getattr(request, "param", 0.0)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    sock = os.path.join(d, "docker.sock")
    proc = subprocess.Popen([FRONTEND, f"--listen={sock}",
                             f"--backend={srv.server_address}",
                             "--log_level=warn"])
    for _ in range(100):
        if os.path.exists(sock):
            break
        time.sleep(0.05)
    yield sock, srv
    proc.terminate()
    rc = proc.wait(timeout=10)
    srv.shutdown()
    srv.server_close()
    assert rc == 0, f"the frontend exited {rc}"


@pytest.mark.parametrize("url", ["/v1.44/networks/create", "/v1.44/volumes/create"])
def test_bad_json_is_400_before_the_gate(stack, url):
    sock, _ = stack
    status, body = call(sock, "POST", url, body=b'{"Name": ')
    assert status == 400, body
    assert json.loads(body)["message"]


def test_unsupported_route_on_unknown_container_is_404(stack):
    sock, srv = stack
    status, body = call(sock, "POST", "/v1.44/containers/nosuch/exec",
                        body=b'{"Cmd": ["true"]}')
    assert status == 404, body
    assert json.loads(body)["message"] == "No such container: nosuch"
    status, body = call(sock, "GET", "/v1.44/containers/no%20such/top")
    assert status == 404, body


def test_unsupported_route_on_existing_container_is_501(stack):
    sock, srv = stack
    status, body = call(sock, "POST", "/v1.44/containers/exists/exec",
                        body=b'{"Cmd": ["true"]}')
    assert status == 501, body
    assert "does not support exec" in json.loads(body)["message"]
    assert ("POST", "/internal/v1/containers/exists/exec") not in srv.seen


@pytest.mark.parametrize("stack", [3.0], indirect=True)
def test_slow_capabilities_do_not_stall_ping(stack):
    """The backend takes 3 s to tell its capabilities: the frontend's
    start-up fetch is under way while clients call."""
    sock, srv = stack
    done = {}
    start = time.monotonic()

    def gated():
        done["r"] = call(sock, "GET", "/v1.44/containers/exists/top")
        done["t"] = time.monotonic()

    t = threading.Thread(target=gated)
    t.start()
    time.sleep(0.2)
    status, body = call(sock, "GET", "/_ping", timeout=10)
    took = time.monotonic() - start
    assert status == 200 and body == b"OK"
    assert took < 1.5, f"/_ping took {took:.1f} s behind a slow capability fetch"
    t.join(15)
    assert done["r"][0] == 501, done["r"]
    assert done["t"] - start > 2.0, "the gated request did not wait for the fetch"


@pytest.mark.skipif(not HOST, reason="SK_DOCKER_HOST is not set")
@pytest.mark.parametrize("url", ["/v1.44/networks/create", "/v1.44/volumes/create"])
def test_stack_bad_json_is_400(url):
    status, body = call(HOST[len("unix://"):], "POST", url, body=b'{"Name": ')
    assert status == 400, body
