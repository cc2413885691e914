"""sockerless-agent in Lambda mode against a fake Runtime API (http.server on
loopback). The binary is static, so it runs the host's /bin/sh and friends.
SK_AGENT names the binary; default build/sockerless-agent."""
import base64
import json
import os
import queue
import re
import signal
import socket
import stat
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
AGENT = os.environ.get("SK_AGENT") or os.path.join(ROOT, "build", "sockerless-agent")
CID = "0123456789abcdef" * 4
ENVELOPE_MAX = 5_000_000

pytestmark = pytest.mark.skipif(not os.access(AGENT, os.X_OK),
                                reason=f"{AGENT} not built")


def now_ms():
    return int(time.time() * 1000)


class Runtime:
    """A fake Lambda Runtime API: events go in, the agent's posts come out."""

    def __init__(self, port=0):
        self.events = queue.Queue()
        self.posts = queue.Queue()
        self.post_status = []   # statuses for the next posts (default 202)
        self.closing = False
        self.nexts = 0
        rt = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # no 40 ms wait per answer

            def log_message(self, *args):
                pass

            def do_GET(self):
                assert self.path == "/2018-06-01/runtime/invocation/next", self.path
                rt.nexts += 1
                while True:
                    try:
                        ev = rt.events.get(timeout=0.1)
                        break
                    except queue.Empty:
                        if rt.closing:
                            self.close_connection = True
                            return
                if ev.get("status", 200) != 200:
                    self.reply(ev["status"], b'{"errorType":"Runtime.Broken"}')
                    return
                self.send_response(200)
                self.send_header("Lambda-Runtime-Aws-Request-Id", ev["rid"])
                self.send_header("Lambda-Runtime-Deadline-Ms", str(ev["deadline"]))
                self.send_header("Lambda-Runtime-Invoked-Function-Arn",
                                 "arn:aws:lambda:us-east-1:123456789012:function:f")
                if ev.get("trace"):
                    self.send_header("Lambda-Runtime-Trace-Id", ev["trace"])
                self.send_header("Content-Type", "application/json")
                body = ev["body"]
                if ev.get("chunked"):
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for i in range(0, len(body), 7):
                        part = body[i:i + 7]
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                    self.wfile.write(b"0\r\n\r\n")
                else:
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                m = re.match(r"^/2018-06-01/runtime/invocation/([^/]+)/(response|error)$",
                             self.path)
                assert m, self.path
                status = rt.post_status.pop(0) if rt.post_status else 202
                rt.posts.put({"rid": m[1], "kind": m[2], "headers": dict(self.headers),
                              "raw": body, "status": status,
                              "env": json.loads(body, object_pairs_hook=lambda kv: kv)})
                self.reply(status, b'{"status":"OK"}')

            def reply(self, status, body):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.api = "127.0.0.1:%d" % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def queue_event(self, rid=None, body=None, deadline=None, **kw):
        rid = rid or "req-%d-%d" % (os.getpid(), time.monotonic_ns())
        if body is None:
            body = json.dumps({"sockerless": 1, "container": CID}).encode()
        self.events.put(dict(rid=rid, body=body,
                             deadline=deadline or now_ms() + 60000, **kw))
        return rid

    def invoke(self, timeout=15, **kw):
        rid = self.queue_event(**kw)
        post = self.posts.get(timeout=timeout)
        assert post["rid"] == rid
        return post

    def close(self):
        self.closing = True
        self.httpd.shutdown()
        self.httpd.server_close()


class Agent:
    def __init__(self, api, argv, tmp_path, env=None):
        self.out_path = tmp_path / ("stdout-%d" % time.monotonic_ns())
        self.err_path = tmp_path / ("stderr-%d" % time.monotonic_ns())
        e = dict(os.environ, **(env or {}))
        if api is None:
            e.pop("AWS_LAMBDA_RUNTIME_API", None)
        else:
            e["AWS_LAMBDA_RUNTIME_API"] = api
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.p = subprocess.Popen([AGENT, "--lambda", "--", *argv],
                                      stdout=out, stderr=err, env=e)

    def stdout(self):
        return self.out_path.read_bytes()

    def stderr(self):
        return self.err_path.read_text(errors="replace")

    def wait_stderr(self, text, timeout=10):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if text in self.stderr():
                return
            time.sleep(0.02)
        raise AssertionError(f"{text!r} not in agent stderr: {self.stderr()!r}")

    def stop(self):
        """SIGTERM while idle: the agent exits 0."""
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        return self.p.wait(timeout=10)


@pytest.fixture
def rt():
    r = Runtime()
    yield r
    r.close()


@pytest.fixture
def agent(rt, tmp_path):
    agents = []

    def start(*argv, env=None, api=rt.api):
        a = Agent(api, list(argv), tmp_path, env)
        agents.append(a)
        return a
    yield start
    for a in agents:
        if a.p.poll() is None:
            assert a.stop() == 0, a.stderr()


def members(env):
    return [k for k, _ in env]


def as_dict(env):
    return dict(env)


def streams(env):
    out = {1: b"", 2: b""}
    for stream, ts, data in as_dict(env)["output"]:
        out[stream] += base64.b64decode(data)
    return out


def test_success_envelope(rt, agent):
    a = agent("sh", "-c", "printf out1; sleep 0.05; printf err1 >&2; sleep 0.05; "
              "printf 'out2\\n'")
    t0 = time.time()
    post = rt.invoke()
    assert post["kind"] == "response"
    assert post["headers"]["Content-Type"] == "application/json"
    assert "Lambda-Runtime-Function-Error-Type" not in post["headers"]
    env = post["env"]
    assert members(env) == ["sockerless", "exitCode", "output", "outputTruncated"]
    d = as_dict(env)
    assert d["sockerless"] == 1 and d["exitCode"] == 0 and d["outputTruncated"] is False
    assert [r[0] for r in d["output"]] == [1, 2, 1]
    assert streams(env) == {1: b"out1out2\n", 2: b"err1"}
    ts = [r[1] for r in d["output"]]
    assert ts == sorted(ts)
    assert t0 * 1e6 - 1e6 < ts[0] < time.time() * 1e6
    # The tee keeps the platform's log capture working.
    a.wait_stderr(f"request {post['rid']} exit status 0\n")
    assert a.stdout() == b"out1out2\n"
    err = a.stderr()
    assert f"sockerless-agent: container {CID} request {post['rid']} started\n" in err
    assert "err1" in err


def test_output_bytes_are_exact(rt, agent):
    # Every byte value, both streams, more than one pipe read's worth.
    agent("sh", "-c", "i=0; while [ $i -lt 300 ]; do printf '\\000\\001\\377\\n'; i=$((i+1)); "
          "done; head -c 200000 /dev/zero | tr '\\0' x >&2")
    post = rt.invoke()
    s = streams(post["env"])
    assert s[1] == b"\x00\x01\xff\n" * 300
    assert s[2] == b"x" * 200000


def test_nonzero_exit_is_a_function_error(rt, agent):
    a = agent("sh", "-c", "echo bye; exit 3")
    post = rt.invoke()
    assert post["kind"] == "error"
    assert post["headers"]["Lambda-Runtime-Function-Error-Type"] == "Sockerless.ExitStatus"
    env = post["env"]
    assert members(env) == ["sockerless", "exitCode", "output", "outputTruncated",
                            "errorType", "errorMessage", "stackTrace"]
    d = as_dict(env)
    assert d["exitCode"] == 3
    assert d["errorType"] == "Sockerless.ExitStatus"
    assert d["errorMessage"] == "exit status 3"
    assert d["stackTrace"] == []
    assert streams(env)[1] == b"bye\n"
    a.wait_stderr(f"container {CID} request {post['rid']} exit status 3\n")


def test_killed_by_signal(rt, agent):
    a = agent("sh", "-c", "echo before; kill -9 $$")
    post = rt.invoke()
    assert post["kind"] == "error"
    env = post["env"]
    assert members(env)[:3] == ["sockerless", "exitCode", "signal"]
    d = as_dict(env)
    assert d["exitCode"] == 137 and d["signal"] == "SIGKILL"
    assert "timedOut" not in d
    assert d["errorMessage"] == "exit status 137 (signal SIGKILL)"
    a.wait_stderr(f"request {post['rid']} exit status 137 (signal SIGKILL)\n")


def test_deadline_sigterm(rt, agent):
    a = agent("sleep", "30")
    t0 = time.monotonic()
    post = rt.invoke(deadline=now_ms() + 2500)
    took = time.monotonic() - t0
    d = as_dict(post["env"])
    assert members(post["env"])[:4] == ["sockerless", "exitCode", "signal", "timedOut"]
    assert d["exitCode"] == 143 and d["signal"] == "SIGTERM" and d["timedOut"] is True
    assert d["errorMessage"] == "exit status 143 (timed out)"
    assert 0.8 < took < 2.3, took
    a.wait_stderr(f"request {post['rid']} exit status 143 (timed out)\n")


def test_deadline_sigkill_when_term_ignored(rt, agent):
    # An ignored SIGTERM is inherited by sleep too: only SIGKILL ends it.
    agent("sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.1; done")
    t0 = time.monotonic()
    post = rt.invoke(deadline=now_ms() + 2500)
    took = time.monotonic() - t0
    d = as_dict(post["env"])
    assert d["exitCode"] == 137 and d["signal"] == "SIGKILL" and d["timedOut"] is True
    assert d["errorMessage"] == "exit status 137 (timed out)"
    assert streams(post["env"])[1] == b"ready\n"
    assert 1.6 < took < 2.5, took


def test_output_truncated_over_5mb(rt, agent):
    a = agent("sh", "-c", "head -c 6000000 /dev/zero; echo done >&2")
    post = rt.invoke(timeout=30)
    assert post["kind"] == "response"
    assert len(post["raw"]) <= ENVELOPE_MAX
    d = as_dict(post["env"])
    assert d["outputTruncated"] is True
    s = streams(post["env"])
    assert 3_600_000 < len(s[1]) < 3_750_001
    assert s[1] == b"\0" * len(s[1])
    assert s[2] == b""   # recording stopped before it
    # Teeing goes on regardless.
    a.wait_stderr("exit status 0\n")
    assert len(a.stdout()) == 6_000_000
    assert "done\n" in a.stderr()


def test_413_retried_without_output(rt, agent):
    rt.post_status = [413]
    agent("sh", "-c", "echo hello; exit 2")
    first = rt.invoke()
    assert first["status"] == 413 and streams(first["env"])[1] == b"hello\n"
    second = rt.posts.get(timeout=10)
    assert second["rid"] == first["rid"] and second["kind"] == "error"
    d = as_dict(second["env"])
    assert d["output"] == [] and d["outputTruncated"] is True and d["exitCode"] == 2


def test_exec_missing_program(rt, agent):
    a = agent("/nonexistent/prog", "x")
    post = rt.invoke()
    d = as_dict(post["env"])
    assert post["kind"] == "error"
    assert d["exitCode"] == 127 and d["errorMessage"] == "exit status 127"
    assert "signal" not in d
    assert streams(post["env"]) == {
        1: b"", 2: b"sockerless-agent: exec /nonexistent/prog: No such file or directory\n"}
    a.wait_stderr("exit status 127\n")


def test_exec_not_executable(rt, agent, tmp_path):
    f = tmp_path / "script"
    f.write_text("#!/bin/sh\necho no\n")
    f.chmod(stat.S_IRUSR | stat.S_IWUSR)
    agent(str(f))
    d = as_dict(rt.invoke()["env"])
    assert d["exitCode"] == 126
    assert base64.b64decode(d["output"][0][2]) == (
        f"sockerless-agent: exec {f}: Permission denied\n".encode())


def test_two_invocations_reuse_the_environment(rt, agent, tmp_path):
    count = tmp_path / "count"
    a = agent("sh", "-c", f"echo run >> {count}; cat {count} | wc -l")
    p1 = rt.invoke(rid="first-1")
    p2 = rt.invoke(rid="second-2", body=json.dumps(
        {"sockerless": 1, "container": "f" * 64}).encode())
    assert streams(p1["env"])[1].strip() == b"1"
    assert streams(p2["env"])[1].strip() == b"2"
    assert a.p.poll() is None
    a.wait_stderr(f"container {'f' * 64} request second-2 exit status 0\n")
    err = a.stderr()
    assert f"container {CID} request first-1 started\n" in err
    assert err.index("first-1 exit status") < err.index("second-2 started")


def test_event_without_container(rt, agent):
    a = agent("true")
    rt.invoke(rid="plain-event", body=b'{"key1":"v","nested":{"container":"no"},"n":[1,2]}')
    rt.invoke(rid="not-json", body=b"hello")
    rt.invoke(rid="bad-id", body=b'{"container":"a\\nb"}')
    for rid in ("plain-event", "not-json", "bad-id"):
        a.wait_stderr(f"container - request {rid} started\n")


def test_chunked_next_and_trace_id(rt, agent):
    agent("sh", "-c", 'printf "%s" "$_X_AMZN_TRACE_ID"')
    post = rt.invoke(chunked=True, trace="Root=1-5759e988-bd862e3fe1be46a994272793")
    assert streams(post["env"])[1] == b"Root=1-5759e988-bd862e3fe1be46a994272793"


def test_stdin_is_dev_null(rt, agent):
    agent("sh", "-c", "cat; echo rc=$?")
    post = rt.invoke(timeout=5)
    assert streams(post["env"])[1] == b"rc=0\n"


def test_grandchild_holding_the_pipes(rt, agent, tmp_path):
    pidfile = tmp_path / "pid"
    agent("sh", "-c", f"sleep 30 & echo $! > {pidfile}; echo main done")
    t0 = time.monotonic()
    post = rt.invoke()
    assert time.monotonic() - t0 < 2
    assert as_dict(post["env"])["exitCode"] == 0
    assert streams(post["env"])[1] == b"main done\n"
    # The rest of the process group goes with the main process.
    pid = int(pidfile.read_text())
    for _ in range(100):
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().split(") ")[1][0] == "Z":
                    break
        except FileNotFoundError:
            break
        time.sleep(0.02)
    else:
        raise AssertionError("background sleep still running")


def test_signal_forwarded_to_child(rt, agent):
    a = agent("sh", "-c", "echo up; exec sleep 30")
    rid = rt.queue_event()
    a.wait_stderr(f"request {rid} started")
    time.sleep(0.2)
    a.p.send_signal(signal.SIGTERM)
    post = rt.posts.get(timeout=10)
    d = as_dict(post["env"])
    assert d["exitCode"] == 143 and d["signal"] == "SIGTERM" and "timedOut" not in d
    assert d["errorMessage"] == "exit status 143 (signal SIGTERM)"
    assert a.p.poll() is None   # the agent itself goes on


def test_retries_until_runtime_api_is_up(agent, tmp_path):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    a = agent("sh", "-c", "echo late", api=f"127.0.0.1:{port}")
    time.sleep(0.5)
    late = Runtime(port)
    try:
        post = late.invoke()
        assert streams(post["env"])[1] == b"late\n"
        assert a.stop() == 0
    finally:
        late.close()


def test_next_error_exits(rt, agent):
    a = agent("true")
    rt.queue_event(status=500)
    assert a.p.wait(timeout=10) == 1
    assert "runtime API next: HTTP 500" in a.stderr()


def test_idle_sigterm_exits_0(rt, agent):
    a = agent("true")
    for _ in range(200):
        if rt.nexts:
            break
        time.sleep(0.01)
    assert a.stop() == 0


def test_plain_exec_without_runtime_api(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "AWS_LAMBDA_RUNTIME_API"}
    p = subprocess.run([AGENT, "--lambda", "--", "sh", "-c", "echo x $$; exit 7"],
                       capture_output=True, env=env, timeout=10)
    assert p.returncode == 7 and p.stdout.startswith(b"x ")
    p = subprocess.run([AGENT, "--lambda", "--", "/nonexistent/prog"],
                       capture_output=True, env=env, timeout=10)
    assert p.returncode == 127
    assert p.stderr == b"sockerless-agent: exec /nonexistent/prog: No such file or directory\n"
    # Plain exec: the command replaces the agent (same pid).
    p = subprocess.Popen([AGENT, "--lambda", "--", "sh", "-c", "echo $$"],
                         stdout=subprocess.PIPE, env=env)
    out, _ = p.communicate(timeout=10)
    assert int(out) == p.pid


def test_version():
    p = subprocess.run([AGENT, "--version"], capture_output=True, text=True, timeout=10)
    assert p.returncode == 0
    assert re.fullmatch(r"sockerless-agent \d+\.\d+\.\d+\n", p.stdout)


@pytest.mark.parametrize("args", [[], ["--lambda"], ["--lambda", "--"], ["--bogus", "--", "true"],
                                  ["true"]])
def test_bad_usage(args):
    p = subprocess.run([AGENT, *args], capture_output=True, text=True, timeout=10)
    assert p.returncode == 125
    assert "usage: sockerless-agent" in p.stderr
