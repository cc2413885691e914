"""Restarts of the azfunc backend: the pool's sites are found again (no new
site for the next run of the same image), a run in flight at a kill -9
ends with 125 and a sentence (its answer went to the killed process), the
time limit ends a run with the kit's note, and a Consumption plan is
refused at start-up with a sentence naming azfunc.plan."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "blackbox"))
from hard_durable_lib import RUN, kill_backend, restart_backend  # noqa: E402
from azfunc_lib import sim_calls  # noqa: E402
from test_azfunc import CREATE  # noqa: E402

pytestmark = pytest.mark.skipif(not RUN, reason="needs SK_RUN_DIR (the local default)")


def test_pool_found_again_after_restart(docker):
    docker("run", "--rm", "busybox", "true", check=True, timeout=300)
    before = sim_calls().get(CREATE, 0)
    kill_backend()
    restart_backend()
    docker("run", "--rm", "busybox", "true", check=True, timeout=300)
    assert sim_calls().get(CREATE, 0) == before


def test_kill_during_run_ends_with_125_and_why(docker, name):
    docker("run", "-d", "--name", name, "busybox", "sh", "-c", "sleep 4; exit 9",
           check=True, timeout=300)
    kill_backend()
    restart_backend()
    assert docker("wait", name, timeout=120, check=True).stdout.strip() == "125"
    err = docker("inspect", "-f", "{{.State.Error}}", name, check=True).stdout
    assert "the backend restarted during the run" in err, err


def test_time_limit_ends_the_run(docker):
    restart_backend({"SK_AZFUNC_TIMEOUT": "3"})
    try:
        p = docker("run", "--rm", "busybox", "sh", "-c", "echo started; sleep 60",
                   timeout=300)
        assert p.returncode != 0
        assert p.stdout == "started\n"
        assert "the time limit (3 s, azfunc.timeout) ended the container" in p.stderr, p.stderr
    finally:
        restart_backend()


def test_consumption_plan_is_refused_at_start_up(docker):
    log = os.path.join(RUN, "backend.log")
    size = os.path.getsize(log)
    try:
        with pytest.raises(Exception):
            restart_backend({"SK_AZFUNC_PLAN": "sockerless-consumption"})
        with open(log, errors="replace") as f:
            f.seek(size)
            text = f.read()
        assert "is a Consumption plan" in text, text[-2000:]
        assert "azfunc.plan" in text
        assert "Premium (Elastic Premium), Dedicated or Container Apps hosting" in text
    finally:
        restart_backend()
    docker("run", "--rm", "busybox", "true", check=True, timeout=300)
