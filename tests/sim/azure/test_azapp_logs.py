"""The console logs of job executions: rows in the Log Analytics store
for stdout and stderr (the `_CL` table of the log-analytics destination,
the newer ContainerAppConsoleLogs table of azure-monitor), and the live
log stream the az CLI reads (getAuthToken's token, follow, tailLines,
output) following a running container to its end."""

import json
import time
import urllib.request

import pytest

from azapp_testlib import BASE, ENV_ID, HttpError, appsim, container, needs_engine  # noqa: F401

pytestmark = needs_engine


def _rows_for(appsim, table, key, value, count, deadline=30):
    end = time.time() + deadline
    while time.time() < end:
        rows = [r for r in appsim.rows(table) if r.get(key) == value]
        if len(rows) >= count:
            return rows
        time.sleep(0.2)
    raise AssertionError("fewer than %d rows of %s=%s in %s" % (count, key, value, table))


def test_stdout_and_stderr_rows_in_cl_table(appsim):
    appsim.create_job("log-job", [container(command=["sh", "-c",
                                                    "echo out-1; echo err-1 >&2; echo out-2"])])
    ex = appsim.start("log-job")
    assert appsim.wait_done("log-job", ex)["properties"]["status"] == "Succeeded"
    rows = _rows_for(appsim, "ContainerAppConsoleLogs_CL", "ContainerJobName_s", "log-job", 3)
    by_stream = {}
    for r in rows:
        by_stream.setdefault(r["Stream_s"], []).append(r["Log_s"])
    assert by_stream == {"stdout": ["out-1", "out-2"], "stderr": ["err-1"]}
    row = rows[0]
    assert row["ContainerGroupName_s"].startswith(ex + "-")
    assert row["ContainerName_s"] == "main"
    assert row["EnvironmentName_s"] == "sockerless-env"
    assert row["_ResourceId"].endswith("/jobs/log-job")
    assert row["TimeGenerated"].endswith("Z") and len(row["TimeGenerated"]) == 28
    assert not [r for r in appsim.rows("ContainerAppConsoleLogs") or []
                if r.get("ContainerAppName") == "log-job"]


def test_azure_monitor_environment_writes_new_table(appsim):
    status, _, headers = appsim.arm("PUT", BASE + "/managedEnvironments/monitor-env", {
        "location": "westeurope", "properties": {"appLogsConfiguration": {
            "destination": "azure-monitor"}}})
    appsim.poll(headers)
    env_id = BASE + "/managedEnvironments/monitor-env"
    body = {"location": "westeurope", "properties": {
        "environmentId": env_id,
        "configuration": {"triggerType": "Manual", "replicaTimeout": 60},
        "template": {"containers": [container(command=["sh", "-c", "echo a; echo b >&2"])]}}}
    _, _, headers = appsim.arm("PUT", BASE + "/jobs/mon-job", body)
    appsim.poll(headers)
    ex = appsim.start("mon-job")
    appsim.wait_done("mon-job", ex)
    rows = _rows_for(appsim, "ContainerAppConsoleLogs", "JobName", ex, 2)
    assert sorted((r["Stream"], r["Log"]) for r in rows) == [("stderr", "b"), ("stdout", "a")]
    assert rows[0]["ContainerAppName"] == "mon-job"
    assert rows[0]["ContainerGroupName"].startswith(ex + "-")
    assert rows[0]["EnvironmentName"] == "monitor-env"
    assert ENV_ID != env_id


def _stream_url(appsim, job, ex, replica, container_name, **params):
    token = appsim.arm("POST", BASE + "/jobs/%s/getAuthToken" % job,
                      api="2023-11-02-preview")[1]["properties"]["token"]
    endpoint = appsim.get(BASE + "/jobs/" + job)["properties"]["eventStreamEndpoint"]
    base = endpoint[:endpoint.index("/subscriptions/")]
    sub_rg = BASE.split("/providers/")[0]
    url = "%s%s/jobs/%s/executions/%s/replicas/%s/containers/%s/logstream?%s" % (
        base, sub_rg, job, ex, replica, container_name,
        "&".join("%s=%s" % kv for kv in params.items()))
    return url, token


def _replica(appsim, job, ex, deadline=30):
    end = time.time() + deadline
    while time.time() < end:
        _, body, _ = appsim.arm("GET", BASE + "/jobs/%s/executions/%s/replicas" % (job, ex),
                               api="2023-11-02-preview")
        if body["value"]:
            return body["value"][0]["name"]
        time.sleep(0.2)
    raise AssertionError("no replica")


def test_log_stream_follows_running_container(appsim):
    script = "for i in 1 2 3; do echo line-$i; sleep 1; done; echo oops >&2"
    appsim.create_job("stream-job", [container(command=["sh", "-c", script])])
    ex = appsim.start("stream-job")
    replica = _replica(appsim, "stream-job", ex)
    url, token = _stream_url(appsim, "stream-job", ex, replica, "main", follow="true",
                             tailLines="300", output="json")
    req = urllib.request.Request(url, headers={"Authorization": "Bearer " + token})
    logs = []
    with urllib.request.urlopen(req, timeout=60) as resp:
        for raw in resp:
            if raw.strip():
                line = json.loads(raw)
                assert set(line) == {"TimeStamp", "Log"}
                logs.append(line["Log"])
    # The connection lines first, then every line until the container ended.
    assert logs[0].startswith("Connecting to the container 'main'")
    assert logs[1].startswith("Successfully Connected to container: 'main'")
    assert logs[2:] == ["line-1", "line-2", "line-3", "oops"]
    assert appsim.wait_done("stream-job", ex)["properties"]["status"] == "Succeeded"


def test_log_stream_tail_text_and_auth(appsim):
    appsim.create_job("tail-job", [container(command=["sh", "-c", "seq 1 5"])])
    ex = appsim.start("tail-job")
    appsim.wait_done("tail-job", ex)
    replica = _replica(appsim, "tail-job", ex)
    url, token = _stream_url(appsim, "tail-job", ex, replica, "main", follow="false",
                             tailLines="2", output="text")
    req = urllib.request.Request(url, headers={"Authorization": "Bearer " + token})
    with urllib.request.urlopen(req, timeout=30) as resp:
        lines = resp.read().decode().splitlines()
    assert [line.split(" ", 1)[1] for line in lines[2:]] == ["4", "5"]
    status, _, _ = appsim.raw("GET", url, headers={"Authorization": "Bearer nope"})
    assert status == 401
    status, _, _ = appsim.raw("GET", url)
    assert status == 401
    bad = url.replace("tailLines=2", "tailLines=1000")
    status, _, _ = appsim.raw("GET", bad, headers={"Authorization": "Bearer " + token})
    assert status == 400
    missing = url.replace("/containers/main/", "/containers/nosuch/")
    status, _, _ = appsim.raw("GET", missing, headers={"Authorization": "Bearer " + token})
    assert status == 404


def test_environment_token_opens_the_stream(appsim):
    appsim.create_job("envtok-job", [container(command=["echo", "hi"])])
    ex = appsim.start("envtok-job")
    appsim.wait_done("envtok-job", ex)
    replica = _replica(appsim, "envtok-job", ex)
    url, _ = _stream_url(appsim, "envtok-job", ex, replica, "main", follow="false")
    token = appsim.arm("POST", BASE + "/managedEnvironments/sockerless-env/getAuthtoken")[1]
    req = urllib.request.Request(url, headers={
        "Authorization": "Bearer " + token["properties"]["token"]})
    with urllib.request.urlopen(req, timeout=30) as resp:
        logs = [json.loads(line)["Log"] for line in resp.read().decode().splitlines()]
    assert logs[-1] == "hi"


def test_unknown_job_token_refused(appsim):
    with pytest.raises(HttpError) as err:
        appsim.arm("POST", BASE + "/jobs/nosuch/getAuthToken", api="2023-11-02-preview")
    assert err.value.status == 404


def test_ingestion_delay_and_both_tables_flags():
    import shutil
    import tempfile
    from azapp_testlib import AzureSim
    workdir = tempfile.mkdtemp(prefix="azapp-delay-")
    sim = AzureSim(workdir, env={"AZURESIM_LA_DELAY_MS": "300",
                                 "AZURESIM_LA_BOTH_TABLES": "1"}, ports=2).launch()
    try:
        sim.create_job("delay-job", [container(command=["echo", "late"])])
        ex = sim.start("delay-job")
        sim.wait_done("delay-job", ex)
        old = _rows_for(sim, "ContainerAppConsoleLogs_CL", "ContainerJobName_s", "delay-job", 1)
        new = _rows_for(sim, "ContainerAppConsoleLogs", "JobName", ex, 1)
        assert old[0]["Log_s"] == new[0]["Log"] == "late"
    finally:
        sim.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _la_delay(appsim, ms):
    status, body, _ = appsim.raw("POST", "/_azapp/la_delay", json.dumps({"ms": ms}).encode(),
                                 {"Content-Type": "application/json"})
    return status, body


def test_stream_ahead_of_log_analytics_with_the_same_times(appsim):
    """With an ingestion delay the stream has a line before Log Analytics
    does, and both carry the same time for it (the seam of
    backend-aca's followers, docs/backend-aca.md "Logs")."""
    assert _la_delay(appsim, -1)[0] == 400
    assert _la_delay(appsim, "5")[0] == 400
    assert _la_delay(appsim, 3000) == (200, {"ms": 3000})
    try:
        appsim.create_job("lag-job", [container(command=["sh", "-c", "echo lagged"])])
        ex = appsim.start("lag-job")
        appsim.wait_done("lag-job", ex)
        replica = _replica(appsim, "lag-job", ex)
        url, token = _stream_url(appsim, "lag-job", ex, replica, "main", follow="false",
                                 tailLines="10", output="json")
        req = urllib.request.Request(url, headers={"Authorization": "Bearer " + token})
        with urllib.request.urlopen(req, timeout=30) as resp:
            streamed = [json.loads(raw) for raw in resp if raw.strip()][2:]
        assert [s["Log"] for s in streamed] == ["lagged"]
        assert not [r for r in appsim.rows("ContainerAppConsoleLogs_CL")
                    if r.get("ContainerJobName_s") == "lag-job"]
    finally:
        _la_delay(appsim, 0)
    (row,) = _rows_for(appsim, "ContainerAppConsoleLogs_CL", "ContainerJobName_s", "lag-job", 1)
    assert row["TimeGenerated"] == streamed[0]["TimeStamp"]


def test_whole_output_in_stream_and_rows_when_finished(appsim):
    """The logging agent flushes at the container's exit: when the
    execution is reported finished, every line of a large output is in the
    log stream and in Log Analytics (no ingestion delay set; no waiting)."""
    appsim.create_job("big-job", [container(command=["sh", "-c", "seq 1 3000"])])
    ex = appsim.start("big-job")
    assert appsim.wait_done("big-job", ex)["properties"]["status"] == "Succeeded"
    rows = [r for r in appsim.rows("ContainerAppConsoleLogs_CL")
            if r.get("ContainerJobName_s") == "big-job"]
    assert [r["Log_s"] for r in rows] == [str(i) for i in range(1, 3001)]
