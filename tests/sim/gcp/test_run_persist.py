"""A restarted simulator keeps its Cloud Run jobs and executions (the
base's persisted state): a completed execution keeps its tasks' results;
one running at shutdown was cancelled and stays cancelled."""

import os
import shutil
import tempfile
import time

import pytest

from gcpsim_run_testlib import HERE, PARENT, GcpSim, bed


@pytest.fixture
def restartable():
    if not os.path.exists(os.path.join(HERE, "gcpsim.py")):
        pytest.skip("the GCP simulator's base (gcpsim.py) is not in the tree")
    engine, registry = bed()
    s = GcpSim(engine, registry, tempfile.mkdtemp(prefix="gcprun-persist-"))
    yield s
    if s.proc.poll() is None:
        s.stop()
    text = s.log_text()
    shutil.rmtree(s.workdir, ignore_errors=True)
    assert "Traceback" not in text, text[text.index("Traceback") - 2000:][:6000]


def test_restart_keeps_jobs_and_executions(restartable):
    s = restartable.start()
    s.create_job("kept", command=["sh", "-c", "exit 3"])
    done = s.wait_op(s.run_job("kept"))
    finished = done["metadata"]["name"]
    s.create_job("running", command=["sh", "-c", "while true; do sleep 0.1; done"])
    op = s.run_job("running")
    running = op["metadata"]["name"]
    deadline = time.time() + 60
    while s.call("GET", "/v2/" + running).get("runningCount") != 1:
        assert time.time() < deadline, "the execution never ran"
        time.sleep(0.1)
    s.stop()
    s.start()
    job = s.call("GET", "/v2/%s/jobs/kept" % PARENT)
    assert job["latestCreatedExecution"]["name"] == finished
    (task,) = s.tasks(finished)
    assert task["lastAttemptResult"]["exitCode"] == 3
    ex = s.call("GET", "/v2/" + running)
    assert ex["cancelledCount"] == 1 and ex["completionTime"]
    assert s.call("GET", "/v2/" + op["name"])["done"] is True
    s.stop()
