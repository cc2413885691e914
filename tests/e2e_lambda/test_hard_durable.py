"""kill -9 drills of the Lambda backend (issue 10 #3, #15): after a restart
a run that was in flight ends with the exit status and output the agent's
marker lines left in CloudWatch Logs (not 125 and nothing), a --rm
container is removed with its function, and a create cut short leaves
neither a container nor a function."""
import os
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "blackbox"))
from hard_durable_lib import (RUN, calls, clear_faults, fault, kill_backend,  # noqa: E402
                              lambda_functions, restart_backend, wait_calls)
from e2e_lib import wait_for  # noqa: E402

pytestmark = pytest.mark.skipif(not RUN, reason="needs SK_RUN_DIR (the local default)")


def popen(*args):
    env = dict(os.environ, DOCKER_HOST=os.environ.get("SK_DOCKER_HOST", ""))
    return subprocess.Popen(["/usr/local/bin/docker", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture(autouse=True)
def _no_faults():
    clear_faults()
    yield
    clear_faults()


def fn_of(docker, name):
    cid = docker("inspect", "-f", "{{.Id}}", name, check=True).stdout.strip()
    return "sockerless-" + cid[:32]


def test_kill_during_invocation_recovers_status_and_output(docker, name):
    n = calls("lambda.Invoke")
    docker("run", "-d", "--name", name, "busybox", "sh", "-c",
           "echo one; sleep 4; echo two; exit 9", check=True, timeout=300)
    wait_calls("lambda.Invoke", n)
    time.sleep(1.5)
    kill_backend()
    restart_backend()
    assert docker("wait", name, timeout=120, check=True).stdout.strip() == "9"
    out = docker("logs", name, check=True).stdout.split()
    assert out == ["one", "two"], out
    assert docker("inspect", "-f", "{{.State.ExitCode}}", name,
                  check=True).stdout.strip() == "9"


def test_kill_during_run_rm_removes_container_and_function(docker, name):
    n = calls("lambda.Invoke")
    p = popen("run", "--rm", "--name", name, "busybox", "sh", "-c", "sleep 3; exit 2")
    wait_calls("lambda.Invoke", n, timeout=120)
    fn = fn_of(docker, name)
    time.sleep(1.0)
    kill_backend()
    p.wait(30)
    restart_backend()
    wait_for(lambda: docker("inspect", name).returncode != 0, 60,
               what="the --rm container to be removed")
    wait_for(lambda: fn not in lambda_functions(), 30, what="its function to be deleted")


def test_kill_in_create_window_leaves_nothing(docker, name):
    before = set(lambda_functions())
    n = calls("lambda.CreateFunction")
    # CreateFunction reaches Lambda only after the backend died.
    fault(service="lambda", operation="CreateFunction", latency_ms=2500, count=1)
    p = popen("create", "--name", name, "busybox", "true")
    wait_calls("lambda.CreateFunction", n, timeout=120)
    time.sleep(0.3)
    kill_backend()
    assert p.wait(30) != 0
    restart_backend()
    wait_for(lambda: docker("ps", "-aq", "--filter", f"name={name}").stdout.strip() == "",
               what="the interrupted create to be undone")
    wait_for(lambda: not (set(lambda_functions()) - before), 45,
               what="the late function to be found by its tags and deleted")


def test_failed_create_deletes_its_function(docker, name):
    before = set(lambda_functions())
    # The wait for Active fails after CreateFunction made the function.
    fault(service="lambda", operation="GetFunction", error="AccessDeniedException",
          status=403, count=1)
    p = docker("create", "--name", name, "busybox", "true", timeout=300)
    assert p.returncode != 0
    assert docker("ps", "-aq", "--filter", f"name={name}").stdout.strip() == ""
    wait_for(lambda: not (set(lambda_functions()) - before), 20,
               what="the failed create's function to be deleted")


def test_kill_during_second_run_does_not_take_the_first_runs_end(docker, name):
    docker("run", "-d", "--name", name, "busybox", "sh", "-c",
           "date +%s%N; sleep 3; exit 3", check=True, timeout=300)
    assert docker("wait", name, timeout=120, check=True).stdout.strip() == "3"
    first = docker("logs", name, check=True).stdout
    n = calls("lambda.Invoke")
    docker("start", name, check=True, timeout=120)
    wait_calls("lambda.Invoke", n)
    kill_backend()
    restart_backend()
    assert docker("wait", name, timeout=120, check=True).stdout.strip() == "3"
    second = docker("logs", name, check=True).stdout
    assert second.strip() and second != first, (first, second)
