"""The C Azure code (common/cloud/azure*.c) against the simulator, through
tests/tools/azure_probe (one JSON line per step): the token in every
credential form, a job's whole life (put, list through nextLink, start,
wait, the console logs of stdout and stderr apart, the live log stream,
delete), the ACR exchange, and the error paths (a wrong secret, a
throttled start, a slow operation, a body the spec refuses).

Skipped when the build directory (SK_BUILD, else build/) has no probe;
the tests that run containers or pull need the test bed's engine and
registry."""

import json
import os
import subprocess
import time

import pytest

from conftest import AzSim, needs_bed

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
PROBE = os.path.join(ROOT, os.environ.get("SK_BUILD", "build"), "tests", "tools", "azure_probe")
ARM = "https://management.azure.com/.default"
LOGS = "https://api.loganalytics.io/.default"
PREVIEW = "2023-11-02-preview"   # replicas and getAuthToken (the az CLI's)

pytestmark = pytest.mark.skipif(not os.path.exists(PROBE),
                                reason="no %s: build it with make" % PROBE)


@pytest.fixture(scope="module")
def sim(workdir):
    """A simulator of this module's, with pages of two items so that
    listing follows nextLink."""
    old = os.environ.get("AZURESIM_PAGE_SIZE")
    os.environ["AZURESIM_PAGE_SIZE"] = "2"
    try:
        s = AzSim(workdir).start()
    finally:
        if old is None:
            del os.environ["AZURESIM_PAGE_SIZE"]
        else:
            os.environ["AZURESIM_PAGE_SIZE"] = old
    yield s
    s.stop()


@pytest.fixture(autouse=True)
def _no_faults(request):
    yield
    if "sim" in request.fixturenames:
        request.getfixturevalue("sim").delete("/_sim/faults")


def probe(sim, *steps, form=None, env_file=None):
    """The probe's lines, one dict per step."""
    args = [PROBE] + ([form] if form else []) + [env_file or sim.creds_file, sim.url]
    out = subprocess.run(args + list(steps), capture_output=True, timeout=300)
    err = out.stderr.decode("utf-8", "replace")
    lines = [json.loads(line) for line in out.stdout.decode().splitlines() if line.strip()]
    assert lines, err[-3000:]
    # exit 1 when a step failed; the sanitizers' reports fail the test
    assert out.returncode == (0 if all(line["ok"] for line in lines) else 1), err[-3000:]
    for word in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
        assert word not in err, err[-3000:]
    return lines


def ok(line):
    assert line["ok"], line
    return line


def calls(sim):
    return sim.get("/_sim/calls").json()


@pytest.mark.parametrize("form,source", [
    (None, "client secret for app"), ("--cert", "client certificate"),
    ("--federated", "workload identity"), ("--mi-appservice", "managed identity (App Service"),
    ("--mi-imds", "managed identity (IMDS)")])
def test_token_every_form(sim, form, source):
    arm, logs = probe(sim, "token", ARM, "token", LOGS, form=form)
    assert ok(arm)["source"].startswith(source) and ok(logs)["length"] > 100


def test_wrong_secret_gives_entra_sentence(sim, tmp_path):
    bad = tmp_path / "bad.env"
    with open(sim.creds_file) as f:
        bad.write_text("".join("export AZURE_CLIENT_SECRET='n0t-the-s3cret'\n"
                               if line.startswith("export AZURE_CLIENT_SECRET=") else line
                               for line in f))
    (line,) = probe(sim, "list-jobs", env_file=str(bad))
    assert not line["ok"] and line["step"] == "open"
    assert "AADSTS7000215" in line["message"]
    assert "check the client secret" in line["message"]
    assert "n0t-the-s3cret" not in line["message"]


def test_bad_body_gives_simulators_400(sim):
    body = {"location": "westeurope", "properties": {
        "configuration": {"triggerType": "Manual", "replicaTimeout": "x"}}}
    (line,) = probe(sim, "put-raw", "bad-body", json.dumps(body))
    assert not line["ok"] and line["status"] == 400
    assert line["code"] == "InvalidRequestContent"
    assert "properties.configuration.replicaTimeout" in line["message"]


def _start(sim, job):
    return ok(probe(sim, "start", job)[0])["execution"]


def test_job_life(sim):
    needs_bed()
    put, put2, put3 = probe(sim, "put-job", "life-ok", "echo to-out; echo to-err >&2",
                            "put-job", "life-bad", "echo failing >&2; exit 3",
                            "put-job", "life-3", "")
    assert ok(put)["body"]["properties"]["provisioningState"] == "Succeeded"
    assert ok(put2) and ok(put3)
    # three jobs in pages of two: the list followed nextLink
    before = calls(sim).get("Jobs_ListByResourceGroup", 0)
    names = {j["name"] for j in ok(probe(sim, "list-jobs")[0])["body"]["value"]}
    assert {"life-ok", "life-bad", "life-3"} <= names
    assert calls(sim)["Jobs_ListByResourceGroup"] - before >= 2

    good, bad = _start(sim, "life-ok"), _start(sim, "life-bad")
    w1, w2 = probe(sim, "wait", "life-ok", good, "wait", "life-bad", bad)
    assert ok(w1)["status"] == "Succeeded" and ok(w2)["status"] == "Failed"

    out, err = probe(sim, "logs", "life-ok", good, "1", "to-out",
                     "logs", "life-ok", good, "2", "to-err")
    assert {"stream": 1, "text": "to-out"} in ok(out)["lines"]
    assert {"stream": 2, "text": "to-err"} in ok(err)["lines"]
    assert {"stream": 1, "text": "to-err"} not in out["lines"]
    (failed,) = probe(sim, "logs", "life-bad", bad, "2", "failing")
    assert ok(failed)["lines"] == [{"stream": 2, "text": "failing"}]

    lines = probe(sim, "delete-job", "life-ok", "delete-job", "life-bad",
                  "delete-job", "life-3", "list-jobs")
    for line in lines:
        ok(line)
    assert not {"life-ok", "life-bad", "life-3"} & {j["name"] for j in lines[-1]["body"]["value"]}


def _replica(sim, job, ex, deadline=60):
    end = time.time() + deadline
    while time.time() < end:
        resp = sim.call("GET", sim.arm_path("jobs/%s/executions/%s/replicas" % (job, ex)),
                        api_version=PREVIEW)
        assert resp.status == 200, resp.body
        if resp.json()["value"]:
            return resp.json()["value"][0]["name"]
        time.sleep(0.2)
    raise AssertionError("no replica of %s" % ex)


def test_log_stream_of_running_container(sim):
    """The workload's lines as they come, without the service's two
    connection lines."""
    needs_bed()
    script = "sleep 2; for i in 1 2 3; do echo line-$i; sleep 1; done; echo oops >&2"
    ok(probe(sim, "put-job", "streamed", script)[0])
    ex = _start(sim, "streamed")
    replica = _replica(sim, "streamed", ex)
    resp = sim.call("POST", sim.arm_path("jobs/streamed/getAuthToken"), api_version=PREVIEW)
    assert resp.status == 200, resp.body
    token = resp.json()["properties"]["token"]
    endpoint = sim.call("GET", sim.arm_path("jobs/streamed")).json()[
        "properties"]["eventStreamEndpoint"]
    url = "%s%s/jobs/streamed/executions/%s/replicas/%s/containers/main/logstream" % (
        endpoint[:endpoint.index("/subscriptions/")], sim.arm_path("").split("/providers/")[0],
        ex, replica)
    (line,) = probe(sim, "stream", url, token, "60")
    assert ok(line)["closed"]
    assert [entry["text"] for entry in line["lines"]] == ["line-1", "line-2", "line-3", "oops"]
    ok(probe(sim, "delete-job", "streamed")[0])


def test_log_stream_wrong_token(sim):
    needs_bed()
    ok(probe(sim, "put-job", "stream-401", "")[0])
    url = "%s%s/jobs/stream-401/executions/x/replicas/y/containers/main/logstream" % (
        sim.url, sim.arm_path("").split("/providers/")[0])
    (line,) = probe(sim, "stream", url, "not-a-token", "10")
    assert not line["ok"] and line["status"] == 401
    ok(probe(sim, "delete-job", "stream-401")[0])


def test_throttled_start_retried_after_retry_after(sim):
    needs_bed()
    ok(probe(sim, "put-job", "throttled", "true")[0])
    fault = sim.post("/_sim/faults", {"op": "Jobs_Start", "kind": "throttle", "retry_after": 1})
    assert fault.status == 200, fault.body
    before = calls(sim).get("Jobs_Start", 0)
    start = time.monotonic()
    ex = _start(sim, "throttled")
    assert time.monotonic() - start >= 1
    assert calls(sim)["Jobs_Start"] - before == 2
    assert ok(probe(sim, "wait", "throttled", ex)[0])["status"] == "Succeeded"
    ok(probe(sim, "delete-job", "throttled")[0])


def test_slow_operation_polled_to_its_end(sim):
    fault = sim.post("/_sim/faults", {"op": "Jobs_CreateOrUpdate", "kind": "slow", "polls": 3})
    assert fault.status == 200, fault.body
    before = calls(sim).get("OperationStatus_Get", 0)
    (put,) = probe(sim, "put-job", "slow-job", "")
    assert ok(put)["body"]["properties"]["provisioningState"] == "Succeeded"
    assert calls(sim)["OperationStatus_Get"] - before >= 4
    ok(probe(sim, "delete-job", "slow-job")[0])


def test_acr_exchange_and_repository_token(sim):
    needs_bed()
    host = sim.creds["AZURE_SK_ACR_HOST"]
    before = calls(sim)
    (line,) = probe(sim, "acr", host, "library/busybox:latest")
    assert ok(line)["digest"].startswith("sha256:")
    after = calls(sim)
    assert after["ACR_Exchange"] - before.get("ACR_Exchange", 0) == 1
    assert after["ACR_Token"] - before.get("ACR_Token", 0) >= 1


def test_logs_of_azure_monitor_environment(sim):
    """An environment whose destination is azure-monitor writes the newer
    table alone (ContainerAppName, JobName, ContainerGroupName, Stream,
    Log): the reader's second leg finds the execution's lines there."""
    needs_bed()
    env = sim.arm_path("managedEnvironments/probe-monitor-env")
    resp = sim.call("PUT", env, {"location": "westeurope", "properties": {
        "appLogsConfiguration": {"destination": "azure-monitor"}}})
    assert resp.status in (200, 201), resp.body
    deadline = time.time() + 60
    while sim.call("GET", env).json()["properties"]["provisioningState"] != "Succeeded":
        assert time.time() < deadline, "the environment was not made"
        time.sleep(0.2)
    body = {"location": "westeurope", "properties": {
        "environmentId": env,
        "configuration": {"triggerType": "Manual", "replicaTimeout": 60},
        "template": {"containers": [{
            "name": "main", "image": "busybox", "resources": {"cpu": 0.25, "memory": "0.5Gi"},
            "command": ["sh", "-c", "echo mon-out; echo mon-err >&2"]}]}}}
    ok(probe(sim, "put-raw", "mon-probe", json.dumps(body))[0])
    ex = _start(sim, "mon-probe")
    assert ok(probe(sim, "wait", "mon-probe", ex)[0])["status"] == "Succeeded"
    out, err = probe(sim, "logs", "mon-probe", ex, "1", "mon-out",
                     "logs", "mon-probe", ex, "2", "mon-err")
    assert {"stream": 1, "text": "mon-out"} in ok(out)["lines"]
    assert {"stream": 2, "text": "mon-err"} in ok(err)["lines"]
    # each line once, on its own stream
    assert sorted(err["lines"], key=lambda line: line["stream"]) == [
        {"stream": 1, "text": "mon-out"}, {"stream": 2, "text": "mon-err"}]
    ok(probe(sim, "delete-job", "mon-probe")[0])


def test_refused_token_is_fetched_again(sim):
    """A token the service no longer takes (a restarted simulator forgets
    its tokens) fails that call with 401 and is dropped: the next call
    fetches a new one (azure-core's BearerTokenCredentialPolicy)."""
    before = calls(sim).get("Entra_Token", 0)
    first, expired, refused, again = probe(sim, "list-jobs", "expire-token", "list-jobs",
                                           "list-jobs")
    ok(first)
    ok(expired)
    assert not refused["ok"] and refused["status"] == 401
    assert refused["code"] == "InvalidAuthenticationToken"
    ok(again)
    assert calls(sim)["Entra_Token"] - before == 2


def test_slow_start_location_polled_to_its_end(sim):
    """Jobs_Start answers Location (not Azure-AsyncOperation): 202 with
    Retry-After while running, then 200 with the execution."""
    needs_bed()
    ok(probe(sim, "put-job", "slow-start", "true")[0])
    fault = sim.post("/_sim/faults", {"op": "Jobs_Start", "kind": "slow", "polls": 3})
    assert fault.status == 200, fault.body
    before = calls(sim).get("OperationResult_Get", 0)
    (start,) = probe(sim, "start", "slow-start")
    assert ok(start)["body"]["name"] == start["execution"]
    assert calls(sim)["OperationResult_Get"] - before >= 4
    assert ok(probe(sim, "wait", "slow-start", start["execution"])[0])["status"] == "Succeeded"
    ok(probe(sim, "delete-job", "slow-start")[0])


@pytest.mark.parametrize("form", ["--cert", "--mi-imds"])
def test_other_credentials_call_arm_and_logs(sim, form):
    """The tokens of the other forms are taken by ARM and Log Analytics
    alike; an execution without lines reads as none."""
    listed, logs = probe(sim, "list-jobs", "logs", "nojob", "nojob-0000000", "1", "",
                         form=form)
    assert isinstance(ok(listed)["body"]["value"], list)
    assert ok(logs)["lines"] == []
