"""Issue 14, replay 1: a GitLab Runner docker-executor job with a service,
the build and cache volumes and the permission helper, as the runner's
sources make the calls (gitlab-runner executors/docker):

- docker.go prepare: the per-build network (internal/networks/manager.go:
  NetworkCreate `runner-<token>-project-<id>-concurrent-<n>-job-<id>-network`
  with the com.gitlab.gitlab-runner.* labels), or none in the legacy-links
  mode (FF_NETWORK_PER_BUILD off: services reached through Links);
- internal/volumes/manager.go and utils.go: each volume created with
  VolumeCreate, named `<prefix>-cache-<md5 of the destination>` and
  labelled com.gitlab.gitlab-runner.type=cache and .destination=<path>
  (the builds directory and /cache), then bound as `name:/path`;
- internal/volumes/permission (docker_linux_setter.go): a helper-image
  container with the volumes bound runs `chown -R UID:GID` on them for a
  non-root build image (the runner's `user`), started, waited, removed;
- services.go: the service container on the network with its aliases, the
  wait container probing WAIT_FOR_SERVICE_TCP_ADDR = the service's short id
  (test_ci_replay.py's _gitlab_service and _gitlab_wait);
- internal/exec (docker.go): every stage (get_sources and archive_cache in
  the helper container, build_script in the build container) created with
  OpenStdin/StdinOnce, attached before start, the script written to stdin
  (test_ci_replay.py's _gitlab_job), waited, inspected and removed;
- cleanup (docker.go Cleanup, volumes manager RemoveTemporary): containers
  removed with force and their volumes, the network removed, and here the
  cache volumes too, so nothing is left: on sockerless also no EFS access
  point, security group or task definition the job made (the simulator's
  own API, read with botocore; skipped on the reference).
The wall time of the replay and (on sockerless) the cloud calls it made are
printed (pytest -s shows them); nothing is asserted about them.
"""
import hashlib
import time
import uuid

import pytest

from e2e_lib import RELAY, RUN_ID, cloud_left, cloud_snapshot, dk, vol_rm
from test_ci_replay import _gitlab_job, _gitlab_service, _gitlab_wait

BUILD_UID = 1000

GET_SOURCES = """\
set -eo pipefail
echo 'Fetching changes...'
mkdir -p /builds/group/project
cd /builds/group/project
printf 'package main\\n' > main.go
echo 'v1' > VERSION
chown -R {uid}:{uid} /builds/group/project
echo "Checking out $(cat VERSION)"
"""

BUILD_SCRIPT = """\
set -eo pipefail
cd /builds/group/project
echo "$ id -u"
id -u
test -f main.go
echo "built $(cat VERSION)" > build.log
mkdir -p /cache/deps && echo dep > /cache/deps/lib
wget -qO- http://{service}:8080/
"""

ARCHIVE_CACHE = """\
set -eo pipefail
cat /builds/group/project/build.log
stat -c '%u' /builds/group/project/build.log
ls /cache/deps
"""


def _hash(path):
    return hashlib.md5(path.encode()).hexdigest()


def _volumes(apiclient, prefix):
    """VolumeCreate of the builds and cache volumes as the runner names
    and labels them."""
    made = {}
    for dest in ("/builds", "/cache"):
        name = f"{prefix}-cache-{_hash(dest)}"
        v = apiclient.create_volume(name=name, driver="local", labels={
            "sk.e2e.run": RUN_ID, "com.gitlab.gitlab-runner.type": "cache",
            "com.gitlab.gitlab-runner.destination": dest,
            "com.gitlab.gitlab-runner.job.id": "7",
            "com.gitlab.gitlab-runner.project.id": "42"})
        assert v["Name"] == name, v
        made[dest] = name
    return made


def _permission_helper(apiclient, name, binds, network):
    """The permission setter's container: chown -R on each volume path."""
    hc = {"binds": binds}
    if network:
        hc["network_mode"] = network
    c = apiclient.create_container(
        "busybox", name=name, labels={"sk.e2e.run": RUN_ID,
                                      "com.gitlab.gitlab-runner.type": "permission"},
        command=["sh", "-c", f"chown -R {BUILD_UID}:{BUILD_UID} /builds /cache"],
        host_config=apiclient.create_host_config(**hc))
    apiclient.start(c["Id"])
    code = apiclient.wait(c["Id"], timeout=180)["StatusCode"]
    logs = apiclient.logs(c["Id"]).decode()
    apiclient.remove_container(c["Id"], force=True)
    assert code == 0, logs


def _replay(apiclient, names, per_build_network):
    token = "sk" + uuid.uuid4().hex[:6]
    prefix = f"runner-{token}-project-42-concurrent-0"
    net = f"{prefix}-job-7-network" if per_build_network else None
    svc, wait, perm = names("skglsvc"), names("skglwait"), names("skglperm")
    helper1, build, helper2 = names("skglhelper"), names("skglbuild"), names("skglhelper")
    vols = {}
    before = cloud_snapshot()
    t0 = time.monotonic()
    try:
        if net:
            apiclient.create_network(net, driver="bridge", labels={
                "sk.e2e.run": RUN_ID, "com.gitlab.gitlab-runner.job.id": "7",
                "com.gitlab.gitlab-runner.managed": "true"})
        vols = _volumes(apiclient, prefix)
        binds = [f"{vols['/builds']}:/builds", f"{vols['/cache']}:/cache"]
        sid = _gitlab_service(apiclient, svc, net, ["web", "busybox"] if net else None)
        code, logs = _gitlab_wait(apiclient, wait, sid, svc, net)
        assert code == 0, logs
        if net:
            assert f"service up at {sid[:12]}:8080" in logs, logs
        _permission_helper(apiclient, perm, binds, net)
        links = None if net else {svc: "web"}
        status, code, out, err = _gitlab_job(apiclient, helper1, GET_SOURCES.format(uid=BUILD_UID),
                                             network=net, links=links, binds=binds,
                                             kind="predefined")
        assert (status, code) == (0, 0), (out, err)
        assert "Checking out v1" in out, out
        status, code, out, err = _gitlab_job(
            apiclient, build, BUILD_SCRIPT.format(service="web"), network=net, links=links,
            binds=binds, user=f"{BUILD_UID}:{BUILD_UID}", working_dir="/builds/group/project")
        assert (status, code) == (0, 0), (out, err)
        assert out.startswith(f"$ id -u\n{BUILD_UID}\n") and "hello-" in out, out
        status, code, out, err = _gitlab_job(apiclient, helper2, ARCHIVE_CACHE, network=net,
                                             links=links, binds=binds, kind="predefined")
        assert (status, code) == (0, 0), (out, err)
        assert out == f"built v1\n{BUILD_UID}\nlib\n", out
        apiclient.remove_container(sid, force=True, v=True)
        if net:
            apiclient.remove_network(net)
        for v in vols.values():
            apiclient.remove_volume(v)
    finally:
        dk("rm", "-f", "-v", svc, wait, perm, helper1, build, helper2)
        if net:
            dk("network", "rm", net)
        vol_rm(*vols.values())
    wall = time.monotonic() - t0
    mode = "per-build network" if net else "legacy links"
    print(f"\nGitLab replay ({mode}): {wall:.1f} s wall time")
    # Nothing left behind.
    for c in (svc, wait, perm, helper1, build, helper2):
        assert dk("container", "inspect", c).returncode != 0, c
    assert not [v for v in dk("volume", "ls", "-q").stdout.split() if token in v]
    if net:
        assert dk("network", "inspect", net).returncode != 0
    if before is not None:
        after = cloud_snapshot()
        left, calls = cloud_left(before, after)
        print(f"GitLab replay ({mode}) cloud calls: {calls}")
        assert left == {"access_points": [], "security_groups": [], "task_definitions": []}, left


def test_gitlab_job_with_volumes_per_build_network(apiclient, names):
    _replay(apiclient, names, per_build_network=True)


@pytest.mark.skipif(RELAY, reason="relay mode (cloudrun, aca): the default bridge and its --link "
                    "names are not relayed, so GitLab Runner needs FF_NETWORK_PER_BUILD there "
                    "(docs/backend-cloudrun.md): the per-build network replay covers it")
def test_gitlab_job_with_volumes_legacy_links(apiclient, names):
    _replay(apiclient, names, per_build_network=False)


def test_gitlab_cache_volume_survives_between_jobs(apiclient, names):
    """The cache volume is kept between jobs (the runner removes only its
    temporary volumes): a second job's helper finds the first one's cache."""
    token = "sk" + uuid.uuid4().hex[:6]
    name = f"runner-{token}-project-42-concurrent-0-cache-{_hash('/cache')}"
    apiclient.create_volume(name=name, driver="local", labels={
        "sk.e2e.run": RUN_ID, "com.gitlab.gitlab-runner.type": "cache",
        "com.gitlab.gitlab-runner.destination": "/cache"})
    try:
        for i, script in enumerate(("echo first > /cache/c\n", "cat /cache/c\n")):
            status, code, out, err = _gitlab_job(apiclient, names("skglcache"), script,
                                                 binds=[f"{name}:/cache"], kind="predefined")
            assert (status, code) == (0, 0), (out, err)
        assert out == "first\n", out
        # A second VolumeCreate of the same name answers the existing one.
        again = apiclient.create_volume(name=name, driver="local")
        assert again["Name"] == name
        assert again["Labels"]["com.gitlab.gitlab-runner.type"] == "cache", again
    finally:
        vol_rm(name)
    with pytest.raises(Exception):
        apiclient.inspect_volume(name)
