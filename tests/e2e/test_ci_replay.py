"""Replays of the Docker API call sequences of the two CI runners people
point at sockerless, as their sources make them:

- GitLab Runner, docker executor (executors/docker: createContainer,
  then the attach-before-start in executors/docker/internal/exec: attach
  with stream/stdin/stdout/stderr, start, the job script written to the
  hijacked stdin and closed, output demultiplexed to EOF, wait, inspect for
  the exit code, remove with force). The build container is created with
  OpenStdin, StdinOnce, AttachStdin/out/err and a shell detection command.
- GitHub Actions runner, container jobs (src/Runner.Worker/Container/
  DockerCommandManager.cs): `docker create` with `--entrypoint tail IMAGE
  -f /dev/null`, `docker start`, `docker ps --filter status=running`,
  `docker inspect` of Config.Env, then every step as `docker exec -i
  --workdir DIR -e K ... CID sh -e SCRIPT` with the script fed on stdin
  here (the runner writes it to a bind-mounted _temp directory; this
  backend has no bind mounts, so the replay copies it in with docker cp
  first and also runs one step from stdin), then `docker rm --force`.
  With services (ContainerOperationProvider): `docker network prune
  --force --filter label=L`, `docker network create --label L
  github_network_<id>`, each service created with `--network N
  --network-alias NAME -p PORT`, started, `docker port` read, its health
  inspected; the job container on the same network reaches the service by
  its alias; `docker rm --force` of each, then `docker network rm N`.
- GitLab Runner with services (executors/docker/services.go): with a
  per-build network (FF_NETWORK_PER_BUILD) the network is created with the
  runner's labels, services are created on it with their aliases, the
  service wait container gets WAIT_FOR_SERVICE_TCP_ADDR=<the service's
  12-character id> and WAIT_FOR_SERVICE_<port>_TCP_PORT (so the short id
  must resolve), and the build container reaches the service by alias;
  without it, legacy links: the wait container links the service as
  `service`, the build container links it by its alias. The helper image's
  `health-check` is played by a busybox loop that connects the same way.
"""
import socket
import struct
import uuid

import pytest

from e2e_lib import (BUSYBOX, RELAY, RUN_ID, dk, dk_ok, http_get_eventually, httpd_cmd, inspect,
                     wait_for)

GITLAB_SHELL_DETECT = (
    "if [ -x /usr/local/bin/bash ]; then\n\texec /usr/local/bin/bash \n"
    "elif [ -x /usr/bin/bash ]; then\n\texec /usr/bin/bash \n"
    "elif [ -x /bin/bash ]; then\n\texec /bin/bash \n"
    "elif [ -x /usr/local/bin/sh ]; then\n\texec /usr/local/bin/sh \n"
    "elif [ -x /usr/bin/sh ]; then\n\texec /usr/bin/sh \n"
    "elif [ -x /bin/sh ]; then\n\texec /bin/sh \n"
    "elif [ -x /busybox/sh ]; then\n\texec /busybox/sh \n"
    "else\n\techo shell not found\n\texit 1\nfi\n")


def _read_frames(sock):
    """Docker's stdcopy: reads multiplexed frames until EOF."""
    out, err, buf = b"", b"", b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        buf += chunk
        while len(buf) >= 8:
            kind, size = buf[0], struct.unpack(">I", buf[4:8])[0]
            if len(buf) < 8 + size:
                break
            payload, buf = buf[8:8 + size], buf[8 + size:]
            if kind == 1:
                out += payload
            elif kind == 2:
                err += payload
    assert buf == b"", buf
    return out, err


def _gitlab_job(apiclient, name, script, network=None, links=None, binds=None, user=None,
                working_dir="/", kind="build"):
    """One stage: create (binds: the build and cache volumes, user: the
    runner's `user` setting), attach before start, the script on stdin;
    (wait status, exit code, stdout, stderr)."""
    # The runner pulls (per its pull policy) before it creates.
    apiclient.pull(BUSYBOX, tag="latest")
    hc = {}
    if network:
        hc["network_mode"] = network
    if links:
        hc["links"] = links
    if binds:
        hc["binds"] = binds
    c = apiclient.create_container(
        BUSYBOX, name=name, command=["sh", "-c", GITLAB_SHELL_DETECT],
        stdin_open=True, tty=False, detach=False, user=user,
        environment=["CI=true", "CI_JOB_ID=1", "GITLAB_CI=true"],
        labels={"sk.e2e.run": RUN_ID, "com.gitlab.gitlab-runner.type": kind},
        working_dir=working_dir, host_config=apiclient.create_host_config(**hc))
    cid = c["Id"]
    # The runner sets StdinOnce and the Attach flags in its Config.
    assert inspect(cid)["Config"]["OpenStdin"] is True
    sock = apiclient.attach_socket(cid, params={"stdin": 1, "stdout": 1, "stderr": 1,
                                                "stream": 1})
    raw = sock._sock if hasattr(sock, "_sock") else sock
    apiclient.start(cid)
    raw.sendall(script.encode())
    raw.shutdown(socket.SHUT_WR)
    raw.settimeout(180)
    out, err = _read_frames(raw)
    raw.close()
    status = apiclient.wait(cid, timeout=180)["StatusCode"]
    code = apiclient.inspect_container(cid)["State"]["ExitCode"]
    apiclient.remove_container(cid, force=True)
    return status, code, out.decode(), err.decode()


def test_gitlab_runner_job(apiclient, name):
    script = ("set -eo pipefail\n"
              "echo '$ echo building'\n"
              "echo building\n"
              "echo warn >&2\n"
              "for i in 1 2 3; do echo step-$i; done\n"
              "exit 0\n")
    status, code, out, err = _gitlab_job(apiclient, name, script)
    assert (status, code) == (0, 0), (out, err)
    assert out == "$ echo building\nbuilding\nstep-1\nstep-2\nstep-3\n", out
    assert err == "warn\n", err


def test_gitlab_runner_job_failure(apiclient, name):
    status, code, out, err = _gitlab_job(apiclient, name, "echo before\nexit 42\necho never\n")
    assert (status, code) == (42, 42), (out, err)
    assert out == "before\n", out


def test_gitlab_runner_large_script_output(apiclient, name):
    # 3 MB of output through the hijacked stream: nothing lost.
    status, code, out, err = _gitlab_job(
        apiclient, name, "i=0; while [ $i -lt 30000 ]; do "
        "echo line-$i-0123456789012345678901234567890123456789012345678901234567890123456789"
        "0123456; i=$((i+1)); done\n")
    assert (status, code) == (0, 0), err
    lines = out.splitlines()
    assert len(lines) == 30000 and lines[-1].startswith("line-29999-"), lines[-3:]


def test_github_actions_container_job(docker, name, tmp_path):
    cid = dk_ok("create", "--name", name, "--label", "a9e6c5", "--workdir", "/__w/repo/repo",
                "-e", "HOME=/github/home", "-e", "GITHUB_ACTIONS=true", "-e", "CI=true",
                "--entrypoint", "tail", BUSYBOX, "-f", "/dev/null").strip()
    dk_ok("start", cid)
    ps = dk_ok("ps", "--all", "--filter", f"id={cid}", "--filter", "status=running",
               "--no-trunc", "--format", "{{.ID}} {{.Status}}")
    assert ps.startswith(cid + " Up"), ps
    env = dk_ok("inspect", "--format", "{{range .Config.Env}}{{println .}}{{end}}", cid)
    assert "GITHUB_ACTIONS=true" in env.splitlines(), env
    # The runner prepares its directories with an exec first.
    p = dk("exec", cid, "sh", "-c", "mkdir -p /__w/_temp /__w/repo/repo /github/home")
    assert p.returncode == 0, p.stderr
    # Step 1: a script file (copied in: no bind mounts here), as the runner
    # runs `sh -e {0}`.
    script = tmp_path / "step1.sh"
    script.write_text("echo \"step one in $(pwd) as $GITHUB_STEP\"\necho to-err >&2\n")
    dk_ok("cp", str(script), f"{cid}:/__w/_temp/step1.sh")
    p = dk("exec", "-i", "--workdir", "/__w/repo/repo", "-e", "GITHUB_STEP", "-e",
           "GITHUB_ENV=/__w/_temp/_runner_file_commands/set_env", cid, "sh", "-e",
           "/__w/_temp/step1.sh", input="")
    assert p.returncode == 0, p.stderr
    assert p.stdout == "step one in /__w/repo/repo as \n", p.stdout
    assert p.stderr == "to-err\n", p.stderr
    # Step 2: fails; the runner reads the exit code of docker exec.
    p = dk("exec", "-i", "--workdir", "/__w/repo/repo", "-e", "STEP=2", cid, "sh", "-e",
           input="echo $STEP\nfalse\necho unreachable\n")
    assert p.returncode == 1 and p.stdout == "2\n", (p.returncode, p.stdout, p.stderr)
    # Step 3: a long-running step with output arriving over time.
    p = dk("exec", "-i", cid, "sh", "-c", "for i in 1 2 3; do echo t$i; sleep 0.3; done")
    assert p.returncode == 0 and p.stdout == "t1\nt2\nt3\n", p.stdout
    assert dk("rm", "--force", cid).returncode == 0
    assert dk("inspect", cid).returncode != 0


# --- networks and services ---

def test_github_actions_services_network(names):
    label = "sk" + uuid.uuid4().hex[:6]
    net = "github_network_" + uuid.uuid4().hex
    svc, job = names("skghsvc"), names("skghjob")
    dk_ok("network", "prune", "--force", "--filter", f"label={label}")
    dk_ok("network", "create", "--label", label, net)
    try:
        sid = dk_ok("create", "--name", svc, "--label", label, "--network", net,
                    "--network-alias", "web", "-p", "8080", "-e", "GITHUB_ACTIONS=true",
                    "-e", "CI=true", BUSYBOX, *httpd_cmd(8080)).strip()
        dk_ok("start", sid)
        ps = dk_ok("ps", "--all", "--filter", f"id={sid}", "--filter", "status=running",
                   "--no-trunc", "--format", "{{.ID}} {{.Status}}")
        assert ps.startswith(sid + " Up"), ps
        ports = [x for x in dk_ok("port", sid).splitlines() if x.startswith("8080/tcp -> ")]
        assert ports, dk_ok("port", sid)
        hostport = int(ports[0].rsplit(":", 1)[1])
        health = dk_ok("inspect", "--format",
                       "{{if .Config.Healthcheck}}{{print .State.Health.Status}}{{end}}", sid)
        assert health.strip() == "", health
        assert http_get_eventually(hostport).startswith("hello-")
        jid = dk_ok("create", "--name", job, "--label", label, "--workdir", "/__w/repo/repo",
                    "--network", net, "-e", "GITHUB_ACTIONS=true", "-e", "CI=true",
                    "--entrypoint", "tail", BUSYBOX, "-f", "/dev/null").strip()
        dk_ok("start", jid)

        def step():
            p = dk("exec", "-i", "--workdir", "/", jid, "sh", "-e",
                   input="wget -qO- http://web:8080/\n")
            return p.stdout if p.returncode == 0 else None
        out = wait_for(step, timeout=60, interval=1, what="the job to reach service web")
        assert out.startswith("hello-"), out
        assert dk("rm", "--force", jid).returncode == 0
        assert dk("rm", "--force", sid).returncode == 0
        dk_ok("network", "rm", net)
    finally:
        dk("rm", "--force", svc, job)
        dk("network", "rm", net)
    assert dk("network", "inspect", net).returncode != 0


# The helper image's `gitlab-runner-helper health-check`, played by busybox:
# connect to the service's address on each WAIT_FOR_SERVICE_*_TCP_PORT (per-
# build network) or on the `service` link's SERVICE_PORT_*_TCP_ADDR/PORT.
WAIT_SCRIPT = r"""
i=0
while [ $i -lt 120 ]; do
  if [ -n "$WAIT_FOR_SERVICE_TCP_ADDR" ]; then
    addr=$WAIT_FOR_SERVICE_TCP_ADDR port=$WAIT_FOR_SERVICE_8080_TCP_PORT
  else
    addr=$SERVICE_PORT_8080_TCP_ADDR port=$SERVICE_PORT_8080_TCP_PORT
  fi
  if wget -qO- "http://$addr:$port/" >/dev/null 2>&1; then echo "service up at $addr:$port"; exit 0; fi
  i=$((i+1)); sleep 0.5
done
echo "service did not come up at $addr:$port"; exit 1
"""


def _gitlab_service(apiclient, name, network, aliases):
    labels = {"sk.e2e.run": RUN_ID, "com.gitlab.gitlab-runner.type": "service",
              "com.gitlab.gitlab-runner.service": "busybox"}
    kw = {}
    hc = {"restart_policy": {"Name": "no"}}
    if network:
        hc["network_mode"] = network
        kw["networking_config"] = apiclient.create_networking_config(
            {network: apiclient.create_endpoint_config(aliases=aliases)})
    c = apiclient.create_container(BUSYBOX, name=name, command=httpd_cmd(8080), ports=[8080],
                                   labels=labels, host_config=apiclient.create_host_config(**hc),
                                   **kw)
    apiclient.start(c["Id"])
    return c["Id"]


def _gitlab_wait(apiclient, name, service_id, service_name, network):
    """The runner's wait container: exit code 0 when the service answers."""
    hc = {"restart_policy": {"Name": "no"}}
    env = []
    if network:
        hc["network_mode"] = network
        env = ["WAIT_FOR_SERVICE_TCP_ADDR=" + service_id[:12], "WAIT_FOR_SERVICE_8080_TCP_PORT=8080"]
    else:
        hc["links"] = {service_name: "service"}
    c = apiclient.create_container(BUSYBOX, name=name, command=["sh", "-c", WAIT_SCRIPT],
                                   environment=env, labels={
                                       "sk.e2e.run": RUN_ID, "com.gitlab.gitlab-runner.type": "wait",
                                       "wait": service_id},
                                   host_config=apiclient.create_host_config(**hc))
    apiclient.start(c["Id"])
    code = apiclient.wait(c["Id"], timeout=180)["StatusCode"]
    logs = apiclient.logs(c["Id"]).decode()
    apiclient.remove_container(c["Id"], force=True)
    return code, logs


def test_gitlab_runner_network_per_build(apiclient, names):
    net = f"runner-sk{uuid.uuid4().hex[:8]}-project-1-concurrent-0-job-1-network"
    svc, wait, build = names("skglsvc"), names("skglwait"), names("skglbuild")
    apiclient.create_network(net, driver="bridge", labels={
        "sk.e2e.run": RUN_ID, "com.gitlab.gitlab-runner.job.id": "1",
        "com.gitlab.gitlab-runner.managed": "true"})
    try:
        sid = _gitlab_service(apiclient, svc, net, ["web", "busybox"])
        code, logs = _gitlab_wait(apiclient, wait, sid, svc, net)
        assert code == 0 and f"service up at {sid[:12]}:8080" in logs, logs
        status, code, out, err = _gitlab_job(apiclient, build, "wget -qO- http://web:8080/\n",
                                             network=net)
        assert (status, code) == (0, 0) and out.startswith("hello-"), (out, err)
        apiclient.remove_container(sid, force=True)
        apiclient.remove_network(net)
    finally:
        dk("rm", "-f", svc, wait, build)
        dk("network", "rm", net)


@pytest.mark.skipif(RELAY, reason="relay mode (cloudrun, aca): the default bridge and its --link "
                    "names are not relayed, so GitLab Runner needs FF_NETWORK_PER_BUILD there "
                    "(docs/backend-cloudrun.md): test_gitlab_runner_network_per_build covers it")
def test_gitlab_runner_legacy_links(apiclient, names):
    svc, wait, build = names("skglsvc"), names("skglwait"), names("skglbuild")
    try:
        sid = _gitlab_service(apiclient, svc, None, None)
        code, logs = _gitlab_wait(apiclient, wait, sid, svc, None)
        assert code == 0 and "service up at " in logs, logs
        status, code, out, err = _gitlab_job(apiclient, build, "wget -qO- http://web:8080/\n",
                                             links={svc: "web"})
        assert (status, code) == (0, 0) and out.startswith("hello-"), (out, err)
    finally:
        dk("rm", "-f", svc, wait, build)
