"""sockerless-agent as an HTTP runtime (SOCKERLESS_HTTP_RUNTIME=1, the
Cloud Run functions backend): each POST runs the command once and is
answered with the envelope. The binary is static, so it runs the host's
/bin/sh. SK_AGENT names the binary; default build/sockerless-agent."""
import base64
import http.client
import json
import os
import signal
import socket
import subprocess
import threading
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
AGENT = os.environ.get("SK_AGENT") or os.path.join(ROOT, "build", "sockerless-agent")
CID = "0123456789abcdef" * 4

pytestmark = pytest.mark.skipif(not os.access(AGENT, os.X_OK),
                                reason=f"{AGENT} not built")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Runtime:
    def __init__(self, cmd, env=None, tmp=None):
        self.port = free_port()
        e = {"PATH": "/usr/bin:/bin", "SOCKERLESS_HTTP_RUNTIME": "1",
             "SOCKERLESS_HTTP_LISTEN": "127.0.0.1:%d" % self.port,
             "SOCKERLESS_SECRET": "hidden", "BASE": "base"}
        e.update(env or {})
        self.proc = subprocess.Popen([AGENT, "--"] + cmd, env=e, cwd=tmp,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("the runtime did not listen")

    def request(self, method, body=None, headers=None, timeout=30):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        c.request(method, "/", body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, data

    def post(self, body=None, **kw):
        status, data = self.request("POST", body if body is not None else b"", **kw)
        return status, json.loads(data, object_pairs_hook=lambda kv: kv)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            out, err = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
        return out, err


@pytest.fixture
def runtime(tmp_path):
    made = []

    def make(cmd, env=None):
        rt = Runtime(cmd, env, str(tmp_path))
        made.append(rt)
        return rt
    yield make
    for rt in made:
        rt.stop()


def streams(env):
    d = dict(env)
    out = {1: b"", 2: b""}
    for stream, ts, data in d["output"]:
        assert isinstance(ts, int)
        out[stream] += base64.b64decode(data)
    return out


def test_default_command_and_envelope(runtime):
    rt = runtime(["/bin/sh", "-c", "echo out; echo err >&2"])
    status, env = rt.post({"sockerless": 1, "container": CID, "request": "r-1"})
    assert status == 200
    assert [k for k, _ in env] == ["sockerless", "exitCode", "output", "outputTruncated"]
    assert dict(env)["exitCode"] == 0
    assert streams(env) == {1: b"out\n", 2: b"err\n"}
    out, err = rt.stop()
    assert rt.proc.returncode == 0
    assert b"out\n" in out
    assert ("sockerless-agent: container %s request r-1 started\n" % CID).encode() in err
    assert ("sockerless-agent: container %s request r-1 exit status 0\n" % CID).encode() in err


def test_runs_again_per_request_and_empty_body(runtime):
    rt = runtime(["/bin/sh", "-c", "echo run"])
    for _ in range(3):
        status, env = rt.post()
        assert status == 200 and streams(env)[1] == b"run\n"


def test_argv_env_workdir(runtime, tmp_path):
    rt = runtime(["/bin/false"])
    wd = str(tmp_path / "made" / "here")
    status, env = rt.post({"argv": ["/bin/sh", "-c", "pwd; echo $BASE $NEW; env | grep -c SOCKERLESS_ || true"],
                           "env": ["NEW=new", "BASE=replaced"], "workdir": wd})
    assert status == 200
    assert streams(env)[1] == ("%s\nreplaced new\n0\n" % wd).encode()


def test_nonzero_exit(runtime):
    rt = runtime(["/bin/sh", "-c", "exit 3"])
    status, env = rt.post()
    assert status == 200
    d = dict(env)
    assert d["exitCode"] == 3 and d["errorType"] == "Sockerless.ExitStatus"
    assert d["errorMessage"] == "exit status 3"


def test_exec_failure(runtime):
    rt = runtime(["/nonexistent/prog"])
    status, env = rt.post()
    assert dict(env)["exitCode"] == 127
    assert b"sockerless-agent: exec /nonexistent/prog:" in streams(env)[2]


def test_busy_gets_429_and_probe_answers(runtime, tmp_path):
    mark = tmp_path / "started"
    rt = runtime(["/bin/sh", "-c", "touch %s; sleep 2; echo done" % mark])
    res = {}
    t = threading.Thread(target=lambda: res.update(first=rt.post()))
    t.start()
    deadline = time.time() + 10
    while not mark.exists() and time.time() < deadline:
        time.sleep(0.05)
    assert mark.exists()
    status, body = rt.request("POST", b"{}")
    assert status == 429
    assert "one at a time" in json.loads(body)["message"]
    assert rt.request("GET")[0] == 200
    t.join(20)
    assert res["first"][0] == 200 and streams(res["first"][1])[1] == b"done\n"
    # free again
    assert rt.post()[0] == 200


@pytest.mark.parametrize("body,word", [
    (b"[1]", "JSON object"),
    (b"{\"argv\":[]}", "argv"),
    (b"{\"argv\":\"sh\"}", "argv"),
    (b"{\"env\":[\"NOEQUALS\"]}", "env"),
    (b"{\"workdir\":\"rel\"}", "workdir"),
    (b"{\"timeoutMs\":-1}", "timeoutMs"),
    (b"{\"container\":\"a/b\"}", "container"),
    (b"{\"a\":", "JSON"),
    (b"{} x", "JSON"),
])
def test_bad_bodies(runtime, body, word):
    rt = runtime(["/bin/true"])
    status, data = rt.request("POST", body)
    assert status == 400
    assert word in json.loads(data)["message"]


def test_methods_and_framing(runtime):
    rt = runtime(["/bin/true"])
    assert rt.request("PUT", b"{}")[0] == 405
    s = socket.create_connection(("127.0.0.1", rt.port))
    s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    assert s.recv(100).startswith(b"HTTP/1.1 411 ")
    s.close()
    s = socket.create_connection(("127.0.0.1", rt.port))
    s.sendall(b"POST / HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n")
    assert s.recv(100).startswith(b"HTTP/1.1 413 ")
    s.close()
    s = socket.create_connection(("127.0.0.1", rt.port))
    s.sendall(b"GET / HTTP/1.1\r\n" + b"X: " + b"a" * 20000)
    assert s.recv(100).startswith(b"HTTP/1.1 431 ")
    s.close()
    # a client that leaves mid-request does not stop the runtime
    s = socket.create_connection(("127.0.0.1", rt.port))
    s.sendall(b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n{")
    s.close()
    assert rt.post()[0] == 200


def test_timeout(runtime):
    rt = runtime(["/bin/sh", "-c", "echo ready; sleep 30"])
    status, env = rt.post({"timeoutMs": 2000})
    d = dict(env)
    assert d["timedOut"] is True and d["exitCode"] in (143, 137)
    assert d["errorMessage"].endswith("(timed out)")


def test_sigterm_forwarded_during_run_then_idle_exit(runtime, tmp_path):
    mark = tmp_path / "started"
    rt = runtime(["/bin/sh", "-c", "touch %s; sleep 30" % mark])
    res = {}
    t = threading.Thread(target=lambda: res.update(first=rt.post()))
    t.start()
    deadline = time.time() + 10
    while not mark.exists() and time.time() < deadline:
        time.sleep(0.05)
    rt.proc.send_signal(signal.SIGTERM)
    t.join(20)
    d = dict(res["first"][1])
    assert d["exitCode"] == 143 and d["signal"] == "SIGTERM"
    assert rt.proc.poll() is None   # the runtime outlives the run
    rt.proc.send_signal(signal.SIGTERM)
    assert rt.proc.wait(10) == 0


def test_bad_port():
    p = subprocess.run([AGENT, "--", "/bin/true"], env={"SOCKERLESS_HTTP_RUNTIME": "1",
                                                      "PORT": "99999"},
                       capture_output=True, timeout=10)
    assert p.returncode == 125
    assert b"PORT must be a port number" in p.stderr


def test_bad_listen_address():
    p = subprocess.run([AGENT, "--", "/bin/true"], env={"SOCKERLESS_HTTP_RUNTIME": "1",
                                                      "SOCKERLESS_HTTP_LISTEN": "nohost"},
                       capture_output=True, timeout=10)
    assert p.returncode == 1
    assert b"not a numeric host:port" in p.stderr


def test_without_the_runtime_env_the_command_runs_plainly():
    p = subprocess.run([AGENT, "--", "/bin/sh", "-c", "echo plain; exit 4"],
                       env={"PATH": "/bin"}, capture_output=True, timeout=10)
    assert p.returncode == 4 and p.stdout == b"plain\n"


def test_no_command_of_its_own(runtime):
    # the gcf backend's derived images: the agent alone, argv per request
    rt = runtime([])
    status, data = rt.request("POST", b"{}")
    assert status == 400 and "argv is required" in json.loads(data)["message"]
    status, env = rt.post({"argv": ["/bin/echo", "given"]})
    assert status == 200 and streams(env)[1] == b"given\n"


def test_no_command_is_still_a_usage_error_elsewhere():
    p = subprocess.run([AGENT, "--"], env={"PATH": "/bin"}, capture_output=True, timeout=10)
    assert p.returncode == 125 and b"no command given" in p.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
def test_user(runtime):
    import shutil
    rt = runtime(["/bin/false"])
    # under /tmp: pytest's own directories are closed to other users
    top = "/tmp/sk-gcf-httprt-%d" % os.getpid()
    wd = top + "/userdir"
    status, env = rt.post({"argv": ["/bin/sh", "-c", "id -u; id -g; pwd"], "user": "65534:65534",
                           "workdir": wd})
    assert status == 200, env
    assert dict(env)["exitCode"] == 0, streams(env)
    assert streams(env)[1] == ("65534\n65534\n%s\n" % wd).encode()
    # the runtime itself keeps its user: the next run is root again
    status, env = rt.post({"argv": ["/bin/sh", "-c", "id -u"]})
    assert streams(env)[1] == b"0\n"
    shutil.rmtree(top)


def test_unknown_user_is_126_with_dockers_words(runtime):
    rt = runtime(["/bin/true"])
    status, env = rt.post({"user": "no-such-user-here"})
    d = dict(env)
    assert status == 200 and d["exitCode"] == 126
    assert b"unable to find user no-such-user-here: no matching entries in passwd file" \
        in streams(env)[2]
    status, data = rt.request("POST", b'{"user":""}')
    assert status == 400 and "user" in json.loads(data)["message"]
