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
  The runner's `docker network create` is left out: user-defined networks
  are a separate capability.
"""
import socket
import struct

from e2e_lib import BUSYBOX, RUN_ID, dk, dk_ok, inspect

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


def _gitlab_job(apiclient, name, script):
    # The runner pulls (per its pull policy) before it creates.
    apiclient.pull(BUSYBOX, tag="latest")
    c = apiclient.create_container(
        BUSYBOX, name=name, command=["sh", "-c", GITLAB_SHELL_DETECT],
        stdin_open=True, tty=False, detach=False,
        environment=["CI=true", "CI_JOB_ID=1", "GITLAB_CI=true"],
        labels={"sk.e2e.run": RUN_ID, "com.gitlab.gitlab-runner.type": "build"},
        working_dir="/", host_config=apiclient.create_host_config())
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
