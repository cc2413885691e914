"""Microsoft.App state across a simulator restart: environments,
storages, jobs and finished executions survive; an execution running
when the simulator stopped is Failed afterwards and its container is
gone."""

import shutil
import tempfile

from azapp_testlib import BASE, AzureSim, container, needs_engine

pytestmark = needs_engine
ENV = BASE + "/managedEnvironments/sockerless-env"


def test_restart_keeps_jobs_and_fails_running_executions():
    workdir = tempfile.mkdtemp(prefix="azapp-persist-")
    sim = AzureSim(workdir).launch()
    try:
        sim.arm("PUT", ENV + "/storages/keep", {"properties": {"azureFile": {
            "accountName": "acct", "accountKey": "k", "shareName": "keep",
            "accessMode": "ReadWrite"}}})
        sim.create_job("keep-job", [container(command=["sh", "-c"], args=["true"])])
        done = sim.start("keep-job")
        assert sim.wait_done("keep-job", done)["properties"]["status"] == "Succeeded"
        running = sim.start("keep-job", {"containers": [{"name": "main",
                                                         "args": ["sleep 120"]}]})
        sim.stop()
        sim.launch()
        assert sim.get(BASE + "/jobs/keep-job")["properties"]["provisioningState"] == \
            "Succeeded"
        assert sim.get(ENV + "/storages/keep")["properties"]["azureFile"]["shareName"] == "keep"
        assert sim.execution("keep-job", done)["properties"]["status"] == "Succeeded"
        after = sim.execution("keep-job", running)["properties"]
        assert after["status"] == "Failed" and after["endTime"]
        again = sim.start("keep-job")
        assert sim.wait_done("keep-job", again)["properties"]["status"] == "Succeeded"
    finally:
        sim.stop()
        shutil.rmtree(workdir, ignore_errors=True)
