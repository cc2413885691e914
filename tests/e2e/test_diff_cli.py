"""Differential suite, the docker CLI with --format templates: the same
commands against the reference dockerd and Sockerless, compared field by
field (diff_lib.py; allowed differences cite docs/compat.md, section
"Differential suite")."""
import json
import re

import pytest

import diff_lib
from diff_lib import DIFF_LABEL, cli, compare, endpoints, net_args, unique

INSPECT_FIELDS = [
    ".Name", ".Path", ".Args", ".Config.Image", ".Config.Cmd", ".Config.Env",
    ".Config.WorkingDir", ".Config.User", ".Config.Labels", ".Config.Tty",
    ".Config.OpenStdin", ".Config.AttachStdout", ".Config.Entrypoint",
    ".State.Status", ".State.Running", ".State.ExitCode", ".State.Error",
    ".State.OOMKilled", ".RestartCount", ".HostConfig.GroupAdd",
    ".HostConfig.Runtime", ".HostConfig.Links", ".HostConfig.DeviceCgroupRules",
    ".HostConfig.LogConfig", ".HostConfig.RestartPolicy", ".HostConfig.AutoRemove",
    ".HostConfig.Privileged", ".HostConfig.ReadonlyRootfs", ".HostConfig.CapAdd",
    ".HostConfig.Dns", ".HostConfig.ExtraHosts", ".Mounts", ".ExecIDs",
]
TEMPLATE = "{" + ",".join(f'"{f}":{{{{json {f}}}}}' for f in INSPECT_FIELDS) + "}"

PS_TEMPLATE = ("{{json .Names}}|{{json .Image}}|{{json .Command}}|{{json .Status}}|"
               "{{json .Ports}}|{{json .Labels}}|{{json .Mounts}}|{{json .State}}")


@pytest.fixture(scope="module")
def eps():
    e = dict(endpoints())
    for host in e.values():
        rc, _, err = cli(host, "pull", "-q", "busybox:latest")
        assert rc == 0, err
    yield e
    for host in e.values():
        diff_lib.cleanup(host)


def _inspect(host, name):
    rc, out, err = cli(host, "inspect", "--format", TEMPLATE, name)
    assert rc == 0, err
    return json.loads(out)


def _status(s):
    """"Exited (0) 3 seconds ago" -> "Exited (0) <ago>"."""
    return re.sub(r"(Up|\)) .*", r"\1 <duration>", s)


def _program(kind, host, name):
    out = {}
    rc, _, err = cli(host, "create", *net_args(kind), "--name", name, "--label", DIFF_LABEL,
                     "--runtime", "runc", "-e", "A=1",
                     "-w", "/tmp", "busybox", "sh", "-c", "echo hi; echo err >&2; exit 5")
    assert rc == 0, err
    out["created"] = _inspect(host, name)
    rc, so, se = cli(host, "start", "-a", name)
    out["start"] = {"rc": rc, "stdout": so, "stderr": se}
    out["exited"] = _inspect(host, name)
    rc, so, _ = cli(host, "ps", "-a", "--filter", f"name=^{name}$", "--format", PS_TEMPLATE)
    fields = [json.loads(x) for x in so.strip().split("|")]
    fields[3] = _status(fields[3])
    out["ps"] = fields
    rc, so, se = cli(host, "logs", name)
    out["logs"] = {"rc": rc, "stdout": so, "stderr": se}
    rc, so, se = cli(host, "rm", name)
    out["rm"] = {"rc": rc, "stdout": so.strip() == name, "stderr": se}
    rc, so, _ = cli(host, "images", "--filter", "reference=busybox", "--format",
                    "{{.Repository}}:{{.Tag}}")
    out["images"] = sorted(so.split())
    rc, so, _ = cli(host, "version", "--format",
                    "{{json .Server}}")
    out["version"] = json.loads(so)
    errs = {}
    for what, args in {
        "inspect_missing": ["inspect", name],
        "image_inspect_missing": ["image", "inspect", "sk-diff-nosuch:1"],
        "rmi_missing": ["rmi", "sk-diff-nosuch:1"],
        "tag_missing": ["tag", "sk-diff-nosuch:1", "sk-diff-x:y"],
        "history_missing": ["history", "sk-diff-nosuch:1"],
        "start_missing": ["start", name],
        "rm_missing": ["rm", name],
        "logs_missing": ["logs", name],
        "bad_runtime": ["create", *net_args(kind), "--runtime", "sk-nope", "busybox"],
    }.items():
        rc, so, se = cli(host, *args)
        errs[what] = {"rc": rc, "stdout": so, "stderr": se}
    out["errors"] = errs
    return out


def test_diff_cli_format(eps):
    name = unique()
    res = {kind: _program(kind, host, name) for kind, host in eps.items()}
    ref, sk = res["reference"], res["sockerless"]
    # `docker version` and `docker images` go to their own programs so that
    # the allowed rows name them.
    compare("version", ref.pop("version"), sk.pop("version"))
    compare("cli", ref, sk)


def _events_program(kind, host, name):
    """A container's life as `docker events` reports it."""
    import time
    since = int(time.time()) - 1
    cli(host, "run", *net_args(kind), "--name", name, "--label", DIFF_LABEL, "busybox",
        "sh", "-c", "echo x")
    cli(host, "run", "-d", *net_args(kind), "--name", name + "-s", "--label", DIFF_LABEL,
        "busybox", "sh", "-c", "trap 'exit 0' TERM; sleep 300 & wait")
    cli(host, "stop", name + "-s")
    cli(host, "rm", name, name + "-s")
    until = int(time.time()) + 1
    rc, out, err = cli(host, "events", "--since", str(since), "--until", str(until),
                       "--filter", f"container={name}", "--filter", f"container={name}-s",
                       "--format", "{{json .}}")
    assert rc == 0, err
    evs = [json.loads(x) for x in out.splitlines() if x.strip()]
    # Two containers' events interleave by time; compare each one's sequence.
    seq = {}
    for e in evs:
        attrs = {k: v for k, v in e["Actor"]["Attributes"].items()}
        who = attrs.get("name", "?").replace(name, "NAME")
        seq.setdefault(who, []).append({"Type": e["Type"], "Action": e["Action"],
                                        "scope": e.get("scope"), "Attributes": attrs})
    for evl in seq.values():
        for e in evl:
            e["Attributes"]["name"] = e["Attributes"]["name"].replace(name, "NAME")
    return seq


def test_diff_cli_events(eps):
    name = unique()
    res = {kind: _events_program(kind, host, name) for kind, host in eps.items()}
    compare("events", res["reference"], res["sockerless"])
