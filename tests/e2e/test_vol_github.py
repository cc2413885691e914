"""Issue 14, replay 2: a GitHub Actions container job with a service that
has a health check, as actions/runner makes the calls
(src/Runner.Worker/Container/DockerCommandManager.cs for each docker CLI
line, src/Runner.Worker/ContainerOperationProvider.cs for the order):

- `docker network prune --force --filter label=L`, `docker network create
  --label L github_network_<guid>`;
- the service: `docker pull`, `docker create --name N --label L --network
  NET --network-alias web -p 8080 --health-cmd ... IMAGE CMD`, `docker
  start`, `docker ps --all --filter id=ID --filter status=running
  --no-trunc --format "{{.ID}} {{.Status}}"`, `docker port ID`, then the
  health waited with the runner's own template `docker inspect
  --format="{{if .Config.Healthcheck}}{{print .State.Health.Status}}{{end}}"`
  until "healthy" (ContainerHealthCheck, with back-off);
- the job container: `docker create` with `--workdir /__w/<repo>/<repo>`,
  the runner's `-v` list (ContainerOperationProvider/ContainerInfo mount
  volumes: /var/run/docker.sock, _work -> /__w, externals -> /__e:ro,
  _work/_temp -> /__w/_temp, _work/_actions -> /__w/_actions, _work/_tool
  -> /__w/_tool, _temp/_github_home -> /github/home, _temp/_github_workflow
  -> /github/workflow) and `--entrypoint tail IMAGE -f /dev/null`, start,
  ps, `docker inspect` of Config.Env;
- each step: the runner writes the script to _work/_temp/<guid>.sh on its
  host and runs `docker exec -i --workdir /__w/repo/repo -e ... ID sh -e
  /__w/_temp/<guid>.sh`; file commands (GITHUB_ENV) written by the step
  under /__w/_temp/_runner_file_commands are read back on the host;
- a step that runs `docker run` inside the job through the bind-mounted
  docker.sock, with a static docker CLI the test puts in _work/_temp;
- cleanup: `docker rm --force` of each container, `docker network rm`.

The runner's _work tree is a directory under the target's shared_paths
(e2e_lib.shared_dir()); the socket bound at /var/run/docker.sock is the one
the client uses (e2e_lib.docker_sock_path()). Against the reference dockerd
both are plain host paths. The wall time (and on sockerless the cloud calls)
are printed, never asserted.
"""
import os
import shutil
import time
import uuid

import pytest

from e2e_lib import (BUSYBOX, DOCKER, RUN_ID, cloud_left, cloud_snapshot, dk, dk_ok,
                     docker_sock_path, httpd_cmd, shared_dir, wait_for)

HEALTH_TEMPLATE = "{{if .Config.Healthcheck}}{{print .State.Health.Status}}{{end}}"


def _runner_dirs(root):
    """The runner's directories on its host (Runner.Common/HostContext).
    _work and externals are root + "_work" and root + "externals", siblings
    at the top of the shared tree: an EFS access point's root is at most
    four directories deep, and _work/_temp/_github_home is bound on its own
    (docs/volumes.md says how an operator maps the runner's tree)."""
    d = {"work": root + "_work", "externals": root + "externals"}
    d["temp"] = os.path.join(d["work"], "_temp")
    d["actions"] = os.path.join(d["work"], "_actions")
    d["tool"] = os.path.join(d["work"], "_tool")
    d["home"] = os.path.join(d["temp"], "_github_home")
    d["workflow"] = os.path.join(d["temp"], "_github_workflow")
    d["files"] = os.path.join(d["temp"], "_runner_file_commands")
    d["repo"] = os.path.join(d["work"], "repo", "repo")
    for p in d.values():
        os.makedirs(p, exist_ok=True)
        os.chmod(p, 0o777)
    with open(os.path.join(d["externals"], "node.txt"), "w") as f:
        f.write("externals\n")
    return d


def _mount_args(d):
    vols = [(docker_sock_path(), "/var/run/docker.sock", ""),
            (d["work"], "/__w", ""), (d["externals"], "/__e", ":ro"),
            (d["temp"], "/__w/_temp", ""), (d["actions"], "/__w/_actions", ""),
            (d["tool"], "/__w/_tool", ""), (d["home"], "/github/home", ""),
            (d["workflow"], "/github/workflow", "")]
    out = []
    for src, dst, mode in vols:
        out += ["-v", f"{src}:{dst}{mode}"]
    return out


def _wait_healthy(sid):
    """ContainerHealthCheck: the template until "healthy" (the runner
    gives up after its retries; here a deadline)."""
    def healthy():
        st = dk_ok("inspect", f"--format={HEALTH_TEMPLATE}", sid).strip()
        assert st in ("starting", "healthy"), st
        return st == "healthy"
    wait_for(healthy, timeout=120, interval=1, what="the service to be healthy")


def _step(jid, d, script, env=()):
    """One `run:` step: the script file on the runner's host, executed by
    `docker exec -i ... sh -e /__w/_temp/<guid>.sh`."""
    guid = str(uuid.uuid4())
    with open(os.path.join(d["temp"], guid + ".sh"), "w") as f:
        f.write(script)
    envs = []
    for e in env:
        envs += ["-e", e]
    return dk("exec", "-i", "--workdir", "/__w/repo/repo", *envs, jid, "sh", "-e",
              f"/__w/_temp/{guid}.sh", input="", timeout=300)


def test_github_container_job_with_service(names):
    root = shared_dir()
    if root is None:
        pytest.skip("SK_RUN_DIR is not set: the stack's shared_paths prefix is unknown")
    root = root + "-" + uuid.uuid4().hex[:8]
    d = _runner_dirs(root)
    # A static docker CLI for the step that runs docker inside the job.
    shutil.copy(DOCKER, os.path.join(d["temp"], "docker"))
    label = "sk" + uuid.uuid4().hex[:6]
    net = "github_network_" + uuid.uuid4().hex
    svc, job = names("skghsvc"), names("skghjob")
    before = cloud_snapshot()
    t0 = time.monotonic()
    try:
        dk_ok("network", "prune", "--force", "--filter", f"label={label}")
        dk_ok("network", "create", "--label", label, net)
        dk_ok("pull", BUSYBOX)
        sid = dk_ok("create", "--name", svc, "--label", label, "--network", net,
                    "--network-alias", "web", "-p", "8080", "-e", "GITHUB_ACTIONS=true",
                    "-e", "CI=true", "--health-cmd", "wget -qO- http://127.0.0.1:8080/ || exit 1",
                    "--health-interval", "1s", "--health-timeout", "5s", "--health-retries", "30",
                    BUSYBOX, *httpd_cmd(8080)).strip()
        dk_ok("start", sid)
        ps = dk_ok("ps", "--all", "--filter", f"id={sid}", "--filter", "status=running",
                   "--no-trunc", "--format", "{{.ID}} {{.Status}}")
        assert ps.startswith(sid + " Up"), ps
        ports = [x for x in dk_ok("port", sid).splitlines() if x.startswith("8080/tcp -> ")]
        assert ports and int(ports[0].rsplit(":", 1)[1]) > 0, ports
        _wait_healthy(sid)

        jid = dk_ok("create", "--name", job, "--label", label, "--workdir", "/__w/repo/repo",
                    "--network", net, "-e", "HOME=/github/home", "-e", "GITHUB_ACTIONS=true",
                    "-e", "CI=true", *_mount_args(d), "--entrypoint", "tail", BUSYBOX,
                    "-f", "/dev/null").strip()
        dk_ok("start", jid)
        ps = dk_ok("ps", "--all", "--filter", f"id={jid}", "--filter", "status=running",
                   "--no-trunc", "--format", "{{.ID}} {{.Status}}")
        assert ps.startswith(jid + " Up"), ps
        env = dk_ok("inspect", "--format", "{{range .Config.Env}}{{println .}}{{end}}", jid)
        assert "HOME=/github/home" in env.splitlines(), env

        # checkout: the runner's host writes the workspace; the step sees it.
        with open(os.path.join(d["repo"], "README"), "w") as f:
            f.write("checked-out\n")
        envfile = "/__w/_temp/_runner_file_commands/set_env_" + uuid.uuid4().hex
        p = _step(jid, d, "cat README\ncat /__e/node.txt\necho out > built.txt\n"
                  "echo FOO=bar >> \"$GITHUB_ENV\"\n", env=[f"GITHUB_ENV={envfile}"])
        assert p.returncode == 0 and p.stdout == "checked-out\nexternals\n", (p.stdout,
                                                                           p.stderr)
        host_env = os.path.join(d["files"], os.path.basename(envfile))
        wait_for(lambda: os.path.exists(host_env), timeout=30, what=host_env)
        with open(host_env) as f:
            assert f.read() == "FOO=bar\n"
        with open(os.path.join(d["repo"], "built.txt")) as f:
            assert f.read() == "out\n"
        # /__e is read-only.
        p = _step(jid, d, "touch /__e/x\n")
        assert p.returncode != 0 and "Read-only file system" in p.stderr, p.stderr
        # The service by its alias.
        p = _step(jid, d, "wget -qO- http://web:8080/\n")
        assert p.returncode == 0 and p.stdout.startswith("hello-"), (p.stdout, p.stderr)
        # docker inside the job: a sibling container through the socket.
        p = _step(jid, d, f"/__w/_temp/docker run --rm --label sk.e2e.run={RUN_ID} "
                  f"{BUSYBOX} echo hi\n")
        assert p.returncode == 0 and p.stdout == "hi\n", (p.stdout, p.stderr)
        p = _step(jid, d, f"/__w/_temp/docker inspect --format '{{{{.Name}}}}' {job}\n")
        assert p.returncode == 0 and p.stdout == f"/{job}\n", (p.stdout, p.stderr)

        dk_ok("rm", "--force", jid)
        dk_ok("rm", "--force", sid)
        dk_ok("network", "rm", net)
    finally:
        dk("rm", "--force", job, svc)
        dk("network", "rm", net)
    wall = time.monotonic() - t0
    print(f"\nGitHub Actions replay: {wall:.1f} s wall time")
    assert dk("network", "inspect", net).returncode != 0
    for c in (job, svc):
        assert dk("container", "inspect", c).returncode != 0, c
    if before is not None:
        left, calls = cloud_left(before, cloud_snapshot())
        print(f"GitHub Actions replay cloud calls: {calls}")
        assert left == {"access_points": [], "security_groups": [], "task_definitions": []}, left
    shutil.rmtree(d["work"], ignore_errors=True)
    shutil.rmtree(d["externals"], ignore_errors=True)
