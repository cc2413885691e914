"""Issue 13 (slice ecsnet): the Linux options that were silently dropped are
applied where the cloud has them or refused with a 400 naming the option,
through the real docker CLI. Runs against either target (SK_TARGET): what
dockerd honours is checked on both; the refusals are sockerless's (dockerd
accepts them). The ECS backend's mapping is in docs/backend-ecs.md."""
import os
import uuid

import pytest

from e2e_lib import BUSYBOX, TARGET, dk, dk_ok, inspect, sim_url

# deploy/local.sh's simulator account.
REGION, AKID, SECRET = "us-east-1", "AKIDSOCKERLESSTEST", "sockerless-test-secret"
# Cloud Run jobs and Container Apps jobs have no setting for a read-only
# root, capabilities or resource limits: their backends refuse them all with
# a 400 at create (docs/compat.md, "Cloud Run jobs"; kit_job_sandbox), where
# ECS honours some.
BACKEND = os.environ.get("SK_BACKEND", "ecs")
JOBS = TARGET == "sockerless" and BACKEND in ("cloudrun", "aca")


def assert_jobs_refused(p, flag):
    """The job backend's refusal of flag: the sentence naming it and what to
    do, nothing run."""
    assert p.returncode == 125 and not p.stdout, (p.stdout, p.stderr)
    assert f"cannot be honoured by the {BACKEND} backend" in p.stderr, p.stderr
    assert f"Run the container without {flag}." in p.stderr, p.stderr


@pytest.fixture(autouse=True)
def _busybox():
    dk("pull", BUSYBOX)


def test_read_only_root(name):
    """--read-only: the root file system refuses writes (ECS
    readonlyRootFilesystem), reads work, inspect says so."""
    p = dk("run", "--name", name, "--read-only", BUSYBOX, "sh", "-c",
           "cat /etc/hostname >/dev/null && echo read-ok; touch /sk-x && echo wrote")
    if JOBS:
        assert_jobs_refused(p, "--read-only")
        return
    assert "read-ok" in p.stdout, (p.stdout, p.stderr)
    assert "wrote" not in p.stdout, (p.stdout, p.stderr)
    assert "Read-only file system" in p.stderr, p.stderr
    assert inspect(name)["HostConfig"]["ReadonlyRootfs"] is True
    dk("rm", "-f", name)


def test_caps_and_nofile_accepted(name):
    """What Fargate can do runs: SYS_PTRACE added, any drop, drop ALL with a
    default added back, the nofile limit."""
    args = ["--cap-drop", "ALL", "--cap-add", "CHOWN", "--cap-add", "SYS_PTRACE",
            "--cap-drop", "NET_RAW", "--ulimit", "nofile=100:200"]
    if JOBS:
        assert_jobs_refused(dk("run", "--rm", *args, BUSYBOX, "true"), "--cap-add")
        assert_jobs_refused(dk("run", "--rm", *args[-2:], BUSYBOX, "true"), "--ulimit")
        return
    out = dk_ok("run", "--rm", *args, BUSYBOX, "sh", "-c", "echo ran")
    assert out.strip() == "ran"


@pytest.mark.skipif(TARGET == "sockerless",
                    reason="the AWS simulator does not model ECS ulimits")
def test_nofile_applied(name):
    out = dk_ok("run", "--rm", "--ulimit", "nofile=100:200", BUSYBOX, "sh", "-c",
                "ulimit -n")
    assert out.strip() == "100"


def test_unknown_capability(name):
    p = dk("create", "--name", name, "--cap-add", "sk_nosuch", BUSYBOX)
    assert p.returncode != 0
    assert 'invalid CapAdd: unknown capability: "CAP_SK_NOSUCH"' in p.stderr, p.stderr


@pytest.mark.skipif(TARGET != "sockerless", reason="dockerd honours these")
@pytest.mark.parametrize("args, words", [
    (["--cap-add", "NET_ADMIN"], ["--cap-add NET_ADMIN", "SYS_PTRACE"]),
    (["--cap-add", "ALL"], ["--cap-add ALL", "SYS_PTRACE"]),
    (["--ulimit", "nproc=10"], ["--ulimit nproc", "nofile"]),
    (["--device", "/dev/fuse"], ["--device"]),
    (["--shm-size", "128m"], ["--shm-size"]),
    (["--pid", "host"], ["--pid=host"]),
    (["--ipc", "host"], ["--ipc=host"]),
    (["--uts", "host"], ["--uts=host"]),
    (["--group-add", "1234"], ["--group-add"]),
])
def test_refused_with_a_sentence(name, args, words):
    if JOBS and args[0] in ("--cap-add", "--ulimit"):
        # No capability or limit is offered to name in the sentence.
        words = [args[0]]
    p = dk("create", "--name", name, *args, BUSYBOX, "true")
    assert p.returncode != 0, p.stdout
    assert "Error response from daemon" in p.stderr
    for w in words:
        assert w in p.stderr, (w, p.stderr)
    assert "Run the container without" in p.stderr, p.stderr
    assert dk("inspect", name).returncode != 0  # nothing was created


@pytest.mark.skipif(TARGET != "sockerless", reason="dockerd honours these")
def test_refusal_status_is_400(apiclient, name):
    import docker.errors
    with pytest.raises(docker.errors.APIError) as ei:
        apiclient.create_container(BUSYBOX, ["true"], name=name,
                                   host_config=apiclient.create_host_config(
                                       cap_add=["SYS_ADMIN"]))
    assert ei.value.status_code == 400


@pytest.mark.parametrize("args", [
    ["--add-host", "sk-ro-peer:10.9.8.7"],
    ["--dns", "10.9.8.1"],
])
def test_read_only_with_name_files(name, args):
    """dockerd writes /etc/hosts and resolv.conf before the root turns
    read-only; on ECS the agent would write them after the task started,
    into files readonlyRootFilesystem makes read-only: refused, saying why."""
    p = dk("run", "--rm", "--name", name, "--read-only", *args, BUSYBOX,
           "cat", "/etc/hosts", "/etc/resolv.conf")
    if TARGET != "sockerless":
        assert p.returncode == 0, p.stderr
        assert args[1].split(":")[-1] in p.stdout, p.stdout
        return
    if JOBS:
        assert_jobs_refused(p, "--read-only")
        return
    assert p.returncode != 0, p.stdout
    assert f"--read-only cannot be combined with {args[0]} on ECS" in p.stderr, p.stderr


def _main_definition(label):
    """The ECS task definition's main container for the container carrying
    label (dockerLabels), read back from the simulator."""
    import botocore.session
    ecs = botocore.session.get_session().create_client(
        "ecs", region_name=REGION, endpoint_url=sim_url(),
        aws_access_key_id=AKID, aws_secret_access_key=SECRET)
    arns = ecs.list_task_definitions(sort="DESC")["taskDefinitionArns"]
    for arn in arns:
        td = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
        for cd in td["containerDefinitions"]:
            if cd.get("dockerLabels", {}).get("sk.ecsnet") == label:
                return cd
    raise AssertionError(f"no task definition carries sk.ecsnet={label}")


@pytest.mark.skipif(TARGET != "sockerless" or os.environ.get("SK_BACKEND", "ecs") != "ecs"
                    or not sim_url(), reason="reads the ECS task definition from the simulator")
def test_task_definition_fields(name):
    """What the ECS backend applies lands in the task definition ECS gets."""
    label = uuid.uuid4().hex
    dk_ok("create", "--name", name, "--label", f"sk.ecsnet={label}", "--read-only",
          "--cap-drop", "ALL", "--cap-add", "CHOWN", "--cap-add", "sys_ptrace",
          "--ulimit", "nofile=100:200", BUSYBOX, "true")
    cd = _main_definition(label)
    assert cd["readonlyRootFilesystem"] is True
    caps = cd["linuxParameters"]["capabilities"]
    assert caps["add"] == ["SYS_PTRACE"], caps
    assert "CHOWN" not in caps["drop"] and "KILL" in caps["drop"], caps
    assert cd["ulimits"] == [{"name": "nofile", "softLimit": 100, "hardLimit": 200}]
    dk("rm", "-f", name)
