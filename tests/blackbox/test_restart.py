"""State survives a backend restart: a running container is re-adopted and
its exit code, logs and events are still right afterwards."""
import time


def test_running_container_survives_backend_restart(docker, name, local):
    cid = docker("run", "-d", "--name", name, "busybox", "sh", "-c",
                 "echo before; sleep 6; echo after; exit 7", check=True).stdout.strip()
    assert len(cid) == 64
    local("restart-backend")
    ps = docker("ps", "--filter", f"name={name}", "--format", "{{.ID}} {{.Status}}",
                check=True).stdout
    assert cid[:12] in ps and "Up" in ps, ps
    wait = docker("wait", name, timeout=180, check=True)
    assert wait.stdout.strip() == "7"
    logs = docker("logs", name, check=True).stdout.split()
    assert logs == ["before", "after"], logs
    inspect = docker("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", name,
                     check=True).stdout.split()
    assert inspect == ["exited", "7"]
    docker("rm", name, check=True)


def test_exit_code_kept_while_backend_was_down(docker, name, local):
    docker("run", "-d", "--name", name, "busybox", "sh", "-c", "exit 5", check=True)
    docker("wait", name, timeout=180, check=True)
    local("restart-backend")
    deadline = time.time() + 30
    status = ""
    while time.time() < deadline:
        status = docker("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", name).stdout
        if status:
            break
        time.sleep(0.2)
    assert status.split() == ["exited", "5"]
    assert docker("wait", name, check=True).stdout.strip() == "5"
    docker("rm", name, check=True)


def test_frontend_survives_backend_restart(docker):
    # The frontend keeps serving across the restart without being touched.
    assert docker("version", "--format", "{{.Server.Version}}", check=True).stdout.strip()
