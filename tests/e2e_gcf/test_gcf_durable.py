"""kill -9 drills of the gcf backend: after a restart a run that was in
flight ends with the exit status and output its agent's marker lines left
in Cloud Logging (not 125 and nothing), the pool's functions are found
again (no new function for the next run of the same image), and a
container whose start never sent its run ends with 125."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "blackbox"))
from hard_durable_lib import RUN, kill_backend, restart_backend  # noqa: E402
from gcf_lib import id_token, pool_urls, probe  # noqa: E402
from test_gcf import CREATE, sim_calls  # noqa: E402

pytestmark = pytest.mark.skipif(not RUN, reason="needs SK_RUN_DIR (the local default)")


def test_kill_during_run_recovers_status_and_output(docker, name):
    docker("run", "-d", "--name", name, "busybox", "sh", "-c",
           "echo one; sleep 4; echo two; echo err >&2; exit 9", check=True, timeout=300)
    kill_backend()
    restart_backend()
    assert docker("wait", name, timeout=120, check=True).stdout.strip() == "9"
    p = docker("logs", name, check=True)
    assert p.stdout.split() == ["one", "two"], p.stdout
    assert p.stderr.split() == ["err"], p.stderr
    assert docker("inspect", "-f", "{{.State.ExitCode}}", name,
                  check=True).stdout.strip() == "9"


def test_pool_found_again_after_restart(docker):
    docker("run", "--rm", "busybox", "true", check=True, timeout=300)
    before = sim_calls().get(CREATE, 0)
    kill_backend()
    restart_backend()
    docker("run", "--rm", "busybox", "true", check=True, timeout=300)
    assert sim_calls().get(CREATE, 0) == before


def test_a_busy_function_sends_the_run_elsewhere(docker):
    import json
    import threading
    import time
    import urllib.error
    import urllib.request
    from e2e_lib import wait_for
    docker("run", "--rm", "busybox", "true", check=True, timeout=300)
    urls = pool_urls()
    tokens = {u: id_token(u) for u in urls}
    live = [u for u in urls if probe(u, tokens[u]) != 404]
    assert live
    def occupy(url):
        # a function still finishing the run above answers 429 for a moment:
        # ask again until ours is the run it holds
        deadline = time.monotonic() + 60
        while True:
            req = urllib.request.Request(
                url, json.dumps({"argv": ["sleep", "20"]}).encode(),
                {"Authorization": "Bearer " + tokens[url], "Content-Type": "application/json"})
            try:
                urllib.request.urlopen(req, timeout=90).read()
                return
            except urllib.error.HTTPError as e:
                if e.code != 429 or time.monotonic() > deadline:
                    return
            time.sleep(0.2)

    for url in live:    # every function of the pool busy with a run of our own
        threading.Thread(target=occupy, args=(url,), daemon=True).start()
    wait_for(lambda: all(probe(u, tokens[u]) == 429 for u in live), 60,
             what="the pool's functions to be busy")
    before = sim_calls().get(CREATE, 0)
    p = docker("run", "--rm", "busybox", "echo", "elsewhere", timeout=300)
    assert (p.returncode, p.stdout) == (0, "elsewhere\n"), p.stderr
    # it could only run on a new function (the others were busy)
    assert sim_calls().get(CREATE, 0) > before


def idle_pool():
    """Waits until no function of the pool is busy (a test's own runs)."""
    from e2e_lib import wait_for
    urls = pool_urls()
    tokens = {u: id_token(u) for u in urls}
    wait_for(lambda: all(probe(u, tokens[u]) != 429 for u in urls), 60,
             what="the pool's functions to be idle")


def test_full_pool_answers_503_with_a_sentence(docker, name):
    idle_pool()
    restart_backend(extra_env={"SOCKERLESS_GCF_POOL_MAX": "1", "SOCKERLESS_GCF_POOL_WAIT": "0"})
    try:
        docker("run", "-d", "--name", name, "busybox", "sleep", "5", check=True, timeout=300)
        p = docker("run", "--rm", "busybox", "true", timeout=300)
        assert p.returncode != 0
        assert "Cloud Run functions of the pool are busy (gcf.pool_max)" in p.stderr, p.stderr
        assert docker("wait", name, timeout=120, check=True).stdout.strip() == "0"
    finally:
        restart_backend()


def test_rm_of_a_running_container_frees_its_function_when_the_run_ends(docker, name):
    # One function: the rm -f'd run holds it until its request returns
    # (Cloud Run cannot cancel a request), then the pool takes it back at
    # once; before, it stayed out of use for gcf.timeout and the second
    # run got the full pool's 503 after gcf.pool_wait.
    idle_pool()
    restart_backend(extra_env={"SOCKERLESS_GCF_POOL_MAX": "1", "SOCKERLESS_GCF_POOL_WAIT": "60"})
    try:
        docker("run", "-d", "--name", name, "busybox", "sleep", "4", check=True, timeout=300)
        docker("rm", "-f", name, check=True, timeout=60)
        p = docker("run", "--rm", "busybox", "echo", "after", timeout=300)
        assert (p.returncode, p.stdout) == (0, "after\n"), p.stderr
    finally:
        restart_backend()


def test_idle_functions_are_deleted(docker):
    delete = "cloudfunctions.projects.locations.functions.delete"
    restart_backend(extra_env={"SOCKERLESS_GCF_POOL_IDLE": "10"})
    try:
        before = sim_calls().get(delete, 0)
        docker("run", "--rm", "busybox", "true", check=True, timeout=300)
        from e2e_lib import wait_for
        wait_for(lambda: sim_calls().get(delete, 0) > before, 60,
                 what="an idle pool function to be deleted")
        # and the pool makes a new one when it needs one
        docker("run", "--rm", "busybox", "echo", "again", check=True, timeout=300)
    finally:
        restart_backend()
