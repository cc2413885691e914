"""The differential suite's machinery (tests/e2e/test_diff_*.py): one client
program runs against the reference dockerd of the test bed and against
Sockerless, and the two results are compared field by field after
normalisation.

Environment: SK_REF_DOCKER_HOST, the reference dockerd (tests/run.sh passes
the bed's SK_ENGINE_HOST), beside SK_DOCKER_HOST (Sockerless, SK_TARGET=
sockerless). Without both, the differential tests skip.

Normalisation masks what differs by nature on any two engines: ids and
digests, times, sizes, process ids. A difference that remains fails the
test unless its field path matches a row of ALLOWED, and every row there
cites the docs/compat.md row (by its id, "D1", ...) that says why.
"""
import atexit
import fnmatch
import json
import os
import re
import subprocess
import uuid

import pytest

from e2e_lib import DOCKER, HOST, HERE, RELAY, TARGET

REF = os.environ.get("SK_REF_DOCKER_HOST", "")
COMPAT = os.path.join(HERE, "..", "..", "docs", "compat.md")
DIFF_LABEL = "sk.diff=1"

# Field path (fnmatch pattern over "program.a.b[0]") -> docs/compat.md row id.
ALLOWED = {
    # The bed's dockerd has no bridge network: its containers use the host
    # network, Sockerless's the default one (the cloud's network).
    "*.HostConfig.NetworkMode": "D1",
    "*.NetworkSettings.Networks.*": "D1",
    "*.NetworkSettings.IPAddress": "D1",
    "*.NetworkSettings.IPPrefixLen": "D1",
    "*.NetworkSettings.SandboxKey": "D1",
    "*.NetworkSettings.SandboxID": "D1",
    "*.NetworkSettings.Bridge": "D1",
    "*.NetworkSettings.Gateway": "D1",
    "*.NetworkSettings.MacAddress": "D1",
    "*.Config.Hostname": "D1",
    "*.HostConfig.NetworkMode()": "D1",
    # Storage: dockerd's overlay2 paths; Sockerless names its backend.
    "*.Driver": "D2",
    "*.GraphDriver.*": "D2",
    "*.HostnamePath": "D2",
    "*.HostsPath": "D2",
    "*.ResolvConfPath": "D2",
    "*.LogPath": "D2",
    # dockerd's own isolation defaults (masked and read-only /proc paths,
    # IPC and cgroup namespaces, /dev/shm size) describe its runc set-up.
    "*.HostConfig.MaskedPaths*": "D3",
    "*.HostConfig.ReadonlyPaths*": "D3",
    "*.HostConfig.IpcMode": "D3",
    "*.HostConfig.CgroupnsMode": "D3",
    "*.HostConfig.ShmSize": "D3",
    # The API version: the bed runs dockerd 20.10 (API 1.41), Sockerless
    # speaks 1.44.
    "version.*Version*": "D4",
    "version.GitCommit": "D4",
    "version.GoVersion": "D4",
    "version.BuildTime": "D4",
    "version.KernelVersion": "D4",
    "version.Components*": "D4",
    "version.Platform.Name": "D4",
    "version.Experimental": "D4",
    # Image metadata not recorded from the registry.
    "*image.DockerVersion": "D5",
    "*image.Container": "D5",
    "*image.ContainerConfig*": "D5",
    "*image.Parent": "D5",
    "*image.Metadata.LastTagTime": "D5",
    "*image.RepoTags*": "D5",
    "*image.RepoDigests*": "D5",
    # The bed built its test images itself: its history has the ids and
    # tags of local images where a pulled image's has "<missing>".
    "lowlevel.history*.Id": "D10",
    "lowlevel.history*.Tags*": "D10",
    "lowlevel.history*.Size": "D10",
    # dockerd omits an empty ProcessConfig.user.
    "exec.exec_inspect.ProcessConfig.user": "D7",
    # dockerd 20.10 says the image name twice on image inspect.
    "*.inspect_image.explanation": "D8",
    "highlevel.images.get.explanation": "D8",
    "cli.errors.image_inspect_missing.stderr": "D8",
    "dockerode.missing_image.message": "D8",
    # A TTY container's logs without the pty's \r (served from the cloud's
    # log service; an attach reads the agent's bytes).
    "dockerode.logs": "D9",
    # Networks (test_net_diff.py): a network in use answers 403 on dockerd
    # 20.10 and 409 on API 1.44 engines; --network host has no meaning for
    # a workload in the cloud and Sockerless refuses it with a sentence.
    "net.rm_in_use.*": "D11",
    "net.run_host.*": "D11",
    # A Fargate ENI's MAC address is not reported.
    "net.container.endpoint.MacAddress": "D12",
}
if RELAY:
    # Relay mode (cloudrun): an endpoint has no address a peer could
    # reach, so inspect shows none.
    ALLOWED["net.container.endpoint.IPAddress"] = "D13"

_ID = re.compile(r"^(sha256:)?[0-9a-f]{64}$")
_SHORT = re.compile(r"^[0-9a-f]{12}$")
_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
_MASKED_KEYS = {"Size", "VirtualSize", "SizeRw", "SizeRootFs", "Pid", "Created",
                "SharedSize", "Containers", "StartedAt", "FinishedAt", "ID"}


def mask(v, key=None):
    """The value with ids, times, sizes and pids replaced by placeholders."""
    if isinstance(v, dict):
        return {k: mask(x, k) for k, x in v.items()}
    if isinstance(v, list):
        return [mask(x) for x in v]
    if key in _MASKED_KEYS and v not in (None, "", 0, "0001-01-01T00:00:00Z"):
        return f"<{key}>"
    if isinstance(v, str):
        if _ID.match(v):
            return "<id>"
        if _SHORT.match(v):
            return "<id12>"
        if _TIME.match(v) and not v.startswith("0001-"):
            return "<time>"
        v = re.sub(r"sha256:[0-9a-f]{64}", "<id>", v)
        v = re.sub(r"\b[0-9a-f]{64}\b", "<id>", v)
    return v


def flatten(v, path):
    """{"a": {"b": [1]}} -> {"p.a.b[0]": 1}; empty containers stay leaves."""
    out = {}
    if isinstance(v, dict) and v:
        for k, x in v.items():
            out.update(flatten(x, f"{path}.{k}"))
    elif isinstance(v, list) and v:
        for i, x in enumerate(v):
            out.update(flatten(x, f"{path}[{i}]"))
    else:
        out[path] = v
    return out


ABSENT = "<absent>"

# Every difference the suite met, allowed ones included: {path: (ref, sk, row)}.
SEEN = {}
STATS = {"programs": set(), "comparisons": 0, "fields": 0}


def _report():
    """With SK_DIFF_REPORT=FILE, the suite's size and the allowed
    differences it met are written there at exit (JSON)."""
    path = os.environ.get("SK_DIFF_REPORT")
    if not path or not STATS["comparisons"]:
        return
    with open(path, "w") as f:
        json.dump({"programs": sorted(STATS["programs"]),
                   "comparisons": STATS["comparisons"], "fields": STATS["fields"],
                   "allowed": {p: {"reference": r, "sockerless": k, "row": row}
                               for p, (r, k, row) in sorted(SEEN.items())}},
                  f, indent=1, default=str)


atexit.register(_report)


def compare(program, ref, sk):
    """Compares two results of one program; fails on a difference that no
    ALLOWED row covers. Returns the allowed differences."""
    a = flatten(mask(ref), program)
    b = flatten(mask(sk), program)
    bad, allowed = [], {}
    for p in sorted(set(a) | set(b)):
        ra, rb = a.get(p, ABSENT), b.get(p, ABSENT)
        if ra == rb:
            continue
        row = next((r for pat, r in ALLOWED.items() if fnmatch.fnmatchcase(p, pat)), None)
        if row is None:
            bad.append(f"{p}: reference={json.dumps(ra)} sockerless={json.dumps(rb)}")
        else:
            allowed[p] = (ra, rb, row)
    SEEN.update(allowed)
    STATS["programs"].add(program)
    STATS["comparisons"] += 1
    STATS["fields"] += len(set(a) | set(b))
    assert not bad, f"{program}: {len(bad)} unexplained differences:\n  " + "\n  ".join(bad)
    return allowed


def fields(program, ref, sk):
    """How many leaf fields a comparison covered (for the suite's size)."""
    return len(set(flatten(mask(ref), program)) | set(flatten(mask(sk), program)))


def endpoints():
    """[("reference", host), ("sockerless", host)], or skips."""
    if TARGET != "sockerless" or not HOST or not REF:
        pytest.skip("the differential suite needs SK_DOCKER_HOST (sockerless) "
                    "and SK_REF_DOCKER_HOST (the bed's reference dockerd)")
    return [("reference", REF), ("sockerless", HOST)]


def cli(host, *args, timeout=120, input=None):
    """The docker CLI against one endpoint: (rc, stdout, stderr)."""
    env = dict(os.environ, DOCKER_HOST=host)
    for k in ("DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"):
        env.pop(k, None)
    p = subprocess.run([DOCKER, *args], env=env, capture_output=True, text=True,
                       timeout=timeout, input=input)
    return p.returncode, p.stdout, p.stderr


def net_args(kind):
    """The bed has no bridge network (D1): its containers use the host's."""
    return ["--network", "host"] if kind == "reference" else []


def net_kw(kind):
    return {"network_mode": "host"} if kind == "reference" else {}


def unique(prefix="skdiff"):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def cleanup(host):
    rc, out, _ = cli(host, "ps", "-aq", "--filter", f"label={DIFF_LABEL}")
    ids = out.split()
    if ids:
        cli(host, "rm", "-f", *ids)
