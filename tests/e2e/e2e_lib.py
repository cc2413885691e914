"""Helpers of the end-to-end tests: the real docker CLI, python3-docker and docker-compose
(v1) against a Docker endpoint, exactly as a user drives it.

Environment (set by tests/run.sh):
  SK_DOCKER_HOST  the endpoint under test (unix:///.../docker.sock); without
                  it every test here is skipped
  SK_TARGET       "sockerless" (default) or "reference" (a plain dockerd, to
                  check that the tests themselves describe Docker's
                  behaviour)
  SK_RUN_DIR      the sockerless run directory (logs), optional
  SK_REF_DOCKER_HOST  the test bed's reference dockerd, for the
                  differential suite (test_diff_*.py, diff_lib.py) beside
                  SK_TARGET=sockerless; without it those tests skip

  SK_REF_NETNS    the network namespace the test bed's reference dockerd
                  runs in (bed.env); its published ports are reached from
                  inside it (ref_connect)
  SK_TEST_PORT_BASE  the first of the suite's ports (tests/run.sh, default
                  35100); published host ports come from the window
                  SK_TEST_PORT_BASE+190 .. +199 (publish_ports), inside a
                  200-port range and away from the +0..+101 run.sh uses

The test bed's reference engine has a default bridge (it runs in a network
namespace of its own). An engine without a "bridge" network (an older bed)
makes every `docker run`/`docker create` get `--network host` and the
port-publishing tests skip. With sockerless nothing is added.

Every container the suite creates carries the label sk.e2e.run=<RUN_ID>; a
session finaliser removes whatever is left with that label, and the tests
remove their own containers too.
"""
import ctypes
import datetime
import json
import os
import shutil
import re
import socket
import subprocess
import threading
import time
import urllib.request
import uuid


DOCKER = os.environ.get("SK_DOCKER_CLI") or shutil.which("/usr/local/bin/docker") or shutil.which("docker")
COMPOSE = "/usr/bin/docker-compose"
HOST = os.environ.get("SK_DOCKER_HOST", "")
TARGET = os.environ.get("SK_TARGET", "sockerless")
RUN_ID = uuid.uuid4().hex[:12]
RUN_LABEL = f"sk.e2e.run={RUN_ID}"
HERE = os.path.dirname(os.path.abspath(__file__))

# The images the test bed's registry mirror serves.
BUSYBOX = "busybox"
TESTIMAGE = "sockerless/testimage:latest"
OCIIMAGE = "sockerless/oci:latest"
MULTIARCH = "sockerless/multiarch:latest"
UDPIMAGE = "sockerless/udp:latest"  # busybox + udpecho (tests/bed/images/udpecho.c)

ZERO_TIME = "0001-01-01T00:00:00Z"


def _env():
    env = dict(os.environ, DOCKER_HOST=HOST)
    # Never let a user's context or config redirect the client.
    env.pop("DOCKER_CONTEXT", None)
    env.pop("DOCKER_TLS_VERIFY", None)
    env.pop("DOCKER_CERT_PATH", None)
    return env


_HOST_NET = None


def host_network():
    """True when containers must use --network host: a reference engine
    without a bridge network (the test bed's private dockerd)."""
    global _HOST_NET
    if _HOST_NET is None:
        _HOST_NET = False
        if TARGET == "reference":
            p = subprocess.run([DOCKER, "network", "ls", "-q", "--filter", "driver=bridge"],
                               env=_env(), capture_output=True, text=True, timeout=60)
            _HOST_NET = p.returncode == 0 and not p.stdout.strip()
    return _HOST_NET


def _inject(args):
    """Adds the suite's run label (and on the reference bed --network host)
    to `run`/`create` so every container is findable for cleanup."""
    args = list(args)
    if args[:2] == ["network", "create"]:
        pass
    elif args[:1] == ["container"] and args[1:2] and args[1] in ("run", "create"):
        pos = 2
    elif args[:1] and args[0] in ("run", "create"):
        pos = 1
    else:
        return args
    extra = ["--label", RUN_LABEL]
    if args[:2] == ["network", "create"]:
        return args[:2] + extra + args[2:]
    if host_network() and not any(a.startswith(("--network", "--net=")) or a == "--net"
                                  for a in args):
        extra += ["--network", "host"]
    return args[:pos] + extra + args[pos:]


def dk(*args, timeout=120, check=False, inject=True, input=None):
    """Runs the docker CLI against the endpoint under test."""
    argv = _inject(args) if inject else list(args)
    try:
        p = subprocess.run([DOCKER, *argv], env=_env(), capture_output=True,
                           text=True, timeout=timeout, input=input)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"docker {' '.join(argv)}: timed out after {timeout}s; "
                             f"stdout={e.stdout!r} stderr={e.stderr!r}") from None
    if check and p.returncode != 0:
        raise AssertionError(f"docker {' '.join(argv)}: rc={p.returncode} "
                             f"stdout={p.stdout!r} stderr={p.stderr!r}")
    return p


def dk_ok(*args, **kw):
    """Runs docker, asserts success and returns stdout."""
    return dk(*args, check=True, **kw).stdout


def inspect(ref, kind="container"):
    out = dk_ok(kind, "inspect", ref)
    data = json.loads(out)
    assert isinstance(data, list) and len(data) == 1, out
    return data[0]


def wait_for(pred, timeout=60, interval=0.25, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last={last!r})")


def wait_state(ref, status, timeout=60):
    """Waits until the container's State.Status is `status` (a string or a
    tuple of accepted values); returns the inspect document."""
    want = (status,) if isinstance(status, str) else tuple(status)

    def check():
        d = inspect(ref)
        return d if d["State"]["Status"] in want else None
    return wait_for(check, timeout=timeout, what=f"{ref} to be {want}")


def parse_ts(s):
    """Docker's RFC 3339 time with up to 9 fractional digits -> aware datetime."""
    m = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$", s)
    assert m, f"not an RFC 3339 time: {s!r}"
    frac = (m.group(2) or ".0")[1:][:6].ljust(6, "0")
    tz = "+00:00" if m.group(3) == "Z" else m.group(3)
    return datetime.datetime.fromisoformat(f"{m.group(1)}.{frac}{tz}")



def pyrun_kwargs():
    """Extra keyword arguments for docker-py's containers.run/create."""
    kw = {"labels": {"sk.e2e.run": RUN_ID}}
    if host_network():
        kw["network_mode"] = "host"
    return kw


def sim_url():
    """The AWS simulator's control API of the stack under test (SK_SIM_PORT,
    or the ports.env of SK_RUN_DIR), or None."""
    port = os.environ.get("SK_SIM_PORT")
    run = os.environ.get("SK_RUN_DIR")
    if not port and run and os.path.exists(os.path.join(run, "ports.env")):
        with open(os.path.join(run, "ports.env")) as f:
            for line in f:
                if line.startswith("SK_SIM_PORT="):
                    port = line.split("=", 1)[1].strip()
    return f"http://127.0.0.1:{port}" if port else None


def sim_call(method, path, body=None):
    """One call of the simulator's control API (/_sim/...); its JSON answer."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(sim_url() + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        raw = resp.read()
    return json.loads(raw) if raw else None


# --- networks and published ports ---

REF_NETNS = os.environ.get("SK_REF_NETNS", "")
PORT_BASE = int(os.environ.get("SK_TEST_PORT_BASE") or 35100)


def publish_ports(n=1, offset=0):
    """n host ports for -p, from the suite's window (SK_TEST_PORT_BASE+190..
    +199); offset picks different ones for tests that run side by side."""
    assert offset + n <= 10
    return [PORT_BASE + 190 + offset + i for i in range(n)]


def _setns(fd):
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    if libc.setns(fd, 0x40000000) != 0:  # CLONE_NEWNET
        e = ctypes.get_errno()
        raise OSError(e, "setns: " + os.strerror(e))


def socket_in(netns, kind=socket.SOCK_STREAM):
    """A socket (TCP unless kind says) made inside netns: a socket keeps the
    namespace of the thread that made it, so a short-lived thread joins
    netns, makes it, and ends (the test's own threads never change
    namespace)."""
    out = {}

    def make():
        try:
            fd = os.open(netns, os.O_RDONLY)
            try:
                _setns(fd)
            finally:
                os.close(fd)
            out["s"] = socket.socket(socket.AF_INET, kind)
        except OSError as e:
            out["e"] = e
    t = threading.Thread(target=make)
    t.start()
    t.join()
    if "e" in out:
        raise out["e"]
    return out["s"]


def host_connect(port, host="127.0.0.1", timeout=10):
    """Connects to a published port where a Docker user reaches it: the
    host's loopback for sockerless; for the reference engine of the bed,
    the loopback of the network namespace it runs in (SK_REF_NETNS)."""
    if TARGET == "reference" and REF_NETNS:
        s = socket_in(REF_NETNS)
        s.settimeout(timeout)
        try:
            s.connect((host, port))
        except OSError:
            s.close()
            raise
        return s
    return socket.create_connection((host, port), timeout=timeout)


def http_get(port, path="/", host="127.0.0.1", timeout=10):
    """GET http://host:port/path through host_connect: (status, body)."""
    s = host_connect(port, host, timeout)
    try:
        s.sendall(f"GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
        data = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    m = re.match(rb"HTTP/1\.[01] (\d+)", head)
    return (int(m.group(1)) if m else 0), body.decode(errors="replace")


def http_get_eventually(port, path="/", timeout=60, host="127.0.0.1"):
    """http_get until it answers 200 (the server in the container starts
    after `docker run -d` returns); the body."""
    def attempt():
        try:
            st, body = http_get(port, path, host)
        except OSError:
            return None
        return body if st == 200 else None
    return wait_for(attempt, timeout=timeout, what=f"http://{host}:{port}{path}")


def net_rm(*names):
    """Removes networks, ignoring the ones already gone."""
    if names:
        dk("network", "rm", *names, timeout=120)


# /etc/hostname, not `hostname`: on Fargate the agent cannot set the
# kernel's host name (no CAP_SYS_ADMIN), so --hostname and the default
# (the short id) are in /etc/hostname, /etc/hosts and $HOSTNAME only
# (docs/networks.md); dockerd writes the same file.
HTTPD_SCRIPT = "mkdir -p /www && echo hello-$(cat /etc/hostname) > /www/index.html && exec httpd -f -p {port} -h /www"


def httpd_cmd(port=8080):
    """A busybox httpd serving /www/index.html = "hello-<hostname>"."""
    return ["sh", "-c", HTTPD_SCRIPT.format(port=port)]


RUNNING_DISCONNECT_REFUSED = "cannot disconnect a running container from a network"
# Backends whose networks are carried by the agent relay (docs/networks.md,
# "Relay mode"): no network address a peer could reach, TCP to exposed or
# published ports only, and connect/disconnect of a running container.
RELAY_BACKENDS = ("cloudrun", "aca")


def relay_mode():
    """Whether the stack's backend carries networks by the agent relay
    (Cloud Run jobs, Container Apps jobs)."""
    return TARGET == "sockerless" and os.environ.get("SK_BACKEND", "ecs") in RELAY_BACKENDS


RELAY = relay_mode()


def disconnect_running(net, ctr, *flags):
    """`docker network disconnect` of a running container. ECS cannot
    change a running task's security groups, so Sockerless refuses with a
    sentence and the container is stopped first (docs/networks.md); in
    relay mode the disconnect is a change of the members' views."""
    if TARGET == "sockerless" and not RELAY:
        p = dk("network", "disconnect", *flags, net, ctr)
        assert p.returncode != 0 and RUNNING_DISCONNECT_REFUSED in p.stderr, p.stderr
        dk_ok("stop", "-t", "0", ctr)
    dk_ok("network", "disconnect", *flags, net, ctr)


def api(method, path, body=None):
    """One raw Engine API request to the endpoint under test (unversioned
    path): (status, parsed JSON or raw bytes). A str body is sent as is (bad
    JSON on purpose)."""
    import http.client
    assert HOST.startswith("unix://"), HOST

    class Conn(http.client.HTTPConnection):
        def connect(self):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(120)
            s.connect(HOST[len("unix://"):])
            self.sock = s
    conn = Conn("localhost")
    try:
        hdrs = {}
        if body is not None:
            hdrs["Content-Type"] = "application/json"
            if not isinstance(body, (str, bytes)):
                body = json.dumps(body)
        conn.request(method, path, body=body, headers=hdrs)
        r = conn.getresponse()
        data = r.read()
        try:
            return r.status, json.loads(data) if data else None
        except ValueError:
            return r.status, data
    finally:
        conn.close()


# --- volumes and files (issue 14) ---

def _ref_shared_root():
    return os.path.join("/tmp", f"sk-e2e-shared-{RUN_ID}")


def shared_dir():
    """The host directory a bind mount may use on the target, made if
    missing: for sockerless the run's directory under the stack's
    shared_paths prefix, $SK_RUN_DIR/shared/<run id> (deploy/local.sh maps
    $SK_RUN_DIR/shared onto the EFS file system's /shared); for the
    reference a directory under /tmp (its dockerd shares this machine's
    file systems). None when sockerless's run directory is unknown."""
    if TARGET == "reference":
        d = _ref_shared_root()
        if not os.path.isdir(d):
            import atexit
            atexit.register(shutil.rmtree, d, True)
    else:
        run = os.environ.get("SK_RUN_DIR")
        if not run:
            return None
        # deploy/local.sh makes it (a link into the simulated EFS file
        # system); a plain directory made here would not be shared.
        assert os.path.exists(os.path.join(run, "shared")), \
            f"the stack has no {run}/shared (deploy/local.sh's shared_paths prefix)"
        d = os.path.join(run, "shared", RUN_ID)
    os.makedirs(d, exist_ok=True)
    os.chmod(d, 0o777)
    return d


def docker_sock_path():
    """The path of the unix socket the client uses (SK_DOCKER_HOST): what a
    CI runner bind-mounts into a job as /var/run/docker.sock."""
    assert HOST.startswith("unix://"), HOST
    return HOST[len("unix://"):]


def bed_env():
    """The test bed's bed.env as a dict ($SK_RUN_DIR/bed/bed.env, or
    SK_BED_ENV), or {} when neither is there."""
    run = os.environ.get("SK_RUN_DIR", "/nonexistent")
    path = os.environ.get("SK_BED_ENV") or os.path.join(run, "bed", "bed.env")
    out = {}
    if not os.path.exists(path):
        return out
    with open(path) as f:
        for line in f:
            line = line.strip()
            if "=" in line and not line.startswith("#"):
                k, v = line.split("=", 1)
                if k.startswith("export "):
                    k = k[len("export "):]
                out[k.strip()] = v.strip().strip("'\"")
    return out


def push_image(context_dir, repo, tag):
    """Builds context_dir (a Dockerfile without RUN, classic builder) on the
    test bed's simulator engine and pushes it to the bed's registry as
    sockerless/<repo>:<tag>, which both targets pull through their mirror of
    docker.io; returns that name. Skips (pytest) without a test bed."""
    import pytest
    env = bed_env()
    engine, reg = env.get("SK_SIM_ENGINE_HOST"), env.get("SK_REGISTRY")
    if not engine or not reg:
        pytest.skip("no test bed (set SK_RUN_DIR to the stack's run directory or SK_BED_ENV)")
    benv = dict(_env(), DOCKER_HOST=engine, DOCKER_BUILDKIT="0")
    full = f"{reg}/sockerless/{repo}:{tag}"
    for argv in (["build", "-q", "--build-arg", f"REGISTRY={reg}", "-t", full, context_dir],
                 ["push", "-q", full]):
        p = subprocess.run([DOCKER, *argv], env=benv, capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, (argv, p.stdout, p.stderr)
    return f"sockerless/{repo}:{tag}"


def vol_rm(*names):
    """Removes volumes, ignoring the ones already gone."""
    if names:
        dk("volume", "rm", "-f", *names, timeout=120)


def aws_client(service):
    """A botocore client of the stack's AWS simulator (deploy/local.sh's
    account)."""
    import botocore.session
    return botocore.session.get_session().create_client(
        service, region_name="us-east-1", endpoint_url=sim_url(),
        aws_access_key_id="AKIDSOCKERLESSTEST", aws_secret_access_key="sockerless-test-secret")


_WARMED = False


def cloud_snapshot():
    """What the simulated cloud holds that a replay could leave behind: EFS
    access points, security groups, ACTIVE task definitions, as sets of ids;
    plus the simulator's API call counts, read before this function's own
    calls (counted in "own" so that cloud_left leaves them out). None on the
    reference or without a simulator."""
    if TARGET != "sockerless" or not sim_url():
        return None
    # The default network's security group is made on its first use and
    # kept, as dockerd's bridge is: one container first makes sure it is
    # there before the count (once a session: later snapshots of a replay
    # must not count it).
    global _WARMED
    if not _WARMED:
        dk("run", "--rm", BUSYBOX, "true", timeout=300)
        _WARMED = True
    calls = sim_call("GET", "/_sim/calls") or {}
    own = {}
    efs, ec2, ecs = aws_client("efs"), aws_client("ec2"), aws_client("ecs")
    aps, kw = set(), {}
    while True:
        page = efs.describe_access_points(**kw)
        own["efs.DescribeAccessPoints"] = own.get("efs.DescribeAccessPoints", 0) + 1
        aps |= {a["AccessPointId"] for a in page["AccessPoints"]}
        if not page.get("NextToken"):
            break
        kw["NextToken"] = page["NextToken"]
    sgs = {g["GroupId"] for g in ec2.describe_security_groups()["SecurityGroups"]}
    own["ec2.DescribeSecurityGroups"] = 1
    tds = set()
    for page in ecs.get_paginator("list_task_definitions").paginate(status="ACTIVE"):
        own["ecs.ListTaskDefinitions"] = own.get("ecs.ListTaskDefinitions", 0) + 1
        tds |= set(page["taskDefinitionArns"])
    return {"access_points": aps, "security_groups": sgs, "task_definitions": tds,
            "calls": calls, "own": own}


def taskdef_idle():
    """The stack's ecs.taskdef_idle (seconds a task definition no container
    uses stays registered for reuse; docs/backend-ecs.md), from its
    backend-ecs.yaml under SK_RUN_DIR; 600 (the default) when not set."""
    path = os.path.join(os.environ.get("SK_RUN_DIR", "/nonexistent"), "backend-ecs.yaml")
    if os.path.exists(path):
        with open(path) as f:
            m = re.search(r"^\s+taskdef_idle:\s*(\d+)", f.read(), re.M)
            if m:
                return int(m.group(1))
    return 600


def cloud_left(before, after):
    """The resources in `after` that were not in `before` (cloud_snapshot),
    by kind, and the API calls made in between ({op: count}), the
    snapshot's own calls left out. Task definitions count only when the
    stack deregisters them on remove (taskdef_idle 0); otherwise they wait
    out ecs.taskdef_idle for reuse, by design."""
    left = {k: sorted(after[k] - before[k])
            for k in ("access_points", "security_groups", "task_definitions")}
    if taskdef_idle() != 0:
        left["task_definitions"] = []
    calls = {}
    for op, n in after["calls"].items():
        d = n - before["calls"].get(op, 0) - before["own"].get(op, 0)
        if d > 0:
            calls[op] = d
    return left, calls
