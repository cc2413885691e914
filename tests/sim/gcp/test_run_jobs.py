"""Cloud Run jobs on the simulator: create with Google's defaults and
checks (job ids, CPU/memory pairs, the 168 h timeout), get, list paging,
patch (allowMissing, etag), delete (also of a job with a running
execution), validateOnly, and the call counters."""

import time

import pytest

from gcpsim_run_testlib import PARENT, containers_of, error_of, gsim  # noqa: F401

JOB_TYPE = "type.googleapis.com/google.cloud.run.v2.Job"


def _body(**container):
    return {"template": {"template": {"containers": [dict({"image": "busybox"},
                                                          **container)]}}}


def _create(gsim, job_id, body):
    return gsim.call("POST", "/v2/%s/jobs?jobId=%s" % (PARENT, job_id), body)


def test_create_defaults_and_server_fields(gsim):
    op = _create(gsim, "defaults", _body(command=["true"]))
    assert op["done"] is False and op["metadata"]["@type"] == JOB_TYPE
    assert op["name"].startswith(PARENT + "/operations/")
    done = gsim.wait_op(op)
    job = done["response"]
    assert job["@type"] == JOB_TYPE
    assert job["name"] == PARENT + "/jobs/defaults"
    assert job["template"]["taskCount"] == 1
    assert job["template"]["template"]["maxRetries"] == 3
    assert job["template"]["template"]["timeout"] == "600s"
    assert job["template"]["template"]["containers"][0]["resources"]["limits"] == {
        "cpu": "1000m", "memory": "512Mi"}
    got = gsim.call("GET", "/v2/%s/jobs/defaults" % PARENT)
    for field in ("uid", "etag", "createTime", "updateTime", "creator", "launchStage"):
        assert got[field], field
    assert got["generation"] == "1"                       # int64: a JSON string
    assert got["terminalCondition"]["state"] == "CONDITION_SUCCEEDED"
    assert got["reconciling"] is False


def test_create_refusals(gsim):
    for bad in ("1job", "Upper", "ends-", "a" * 64, "under_score", ""):
        err = error_of(_create, gsim, bad, _body())
        assert err.status == 400 and err.error["status"] == "INVALID_ARGUMENT", bad
        assert "lowercase alphanumeric characters and dashes" in err.error["message"]
    gsim.wait_op(_create(gsim, "twice", _body()))
    err = error_of(_create, gsim, "twice", _body())
    assert err.status == 409 and err.error["status"] == "ALREADY_EXISTS"
    err = error_of(_create, gsim, "no-template", {})
    assert err.status == 400


def test_create_limits(gsim):
    long = {"template": {"template": {"containers": [{"image": "busybox"}],
                                      "timeout": "604801s"}}}
    err = error_of(_create, gsim, "too-long", long)
    assert err.status == 400 and "168 hours" in err.error["message"]
    week = {"template": {"template": {"containers": [{"image": "busybox"}],
                                      "timeout": "604800s"}}}
    gsim.wait_op(_create(gsim, "one-week", week))
    refused = [({"cpu": "3"}, "Invalid value specified for cpu"),
               ({"cpu": "0.05"}, "Invalid value specified for cpu"),
               ({"cpu": "1", "memory": "8Gi"}, "For 1.0 CPU, memory must be between 128Mi "
                                               "and 4Gi inclusive"),
               ({"cpu": "0.25", "memory": "1Gi"}, "For less than 0.5 CPU"),
               ({"cpu": "4", "memory": "1Gi"}, "For 4.0 CPU, memory must be between 2Gi"),
               ({"memory": "lots"}, "is not a quantity")]
    for i, (limits, words) in enumerate(refused):
        err = error_of(_create, gsim, "size-%d" % i, _body(resources={"limits": limits}))
        assert err.status == 400 and words in err.error["message"], (limits, err.error)
    for i, limits in enumerate(({"cpu": "2", "memory": "8Gi"}, {"cpu": "0.5", "memory": "1Gi"},
                                {"cpu": "8", "memory": "32Gi"}, {"cpu": "1000m"})):
        gsim.wait_op(_create(gsim, "sized-%d" % i, _body(resources={"limits": limits})))
    err = error_of(_create, gsim, "ported", _body(ports=[{"containerPort": 8080}]))
    assert err.status == 400 and "inbound" in err.error["message"]


def test_list_paging(gsim):
    for i in range(5):
        gsim.wait_op(_create(gsim, "page-%d" % i, _body()))
    seen, token = [], ""
    while True:
        page = gsim.call("GET", "/v2/%s/jobs?pageSize=2%s" % (PARENT, "&pageToken=" + token
                                                              if token else ""))
        assert len(page["jobs"]) <= 2
        seen += [j["name"].rsplit("/", 1)[1] for j in page["jobs"]]
        token = page.get("nextPageToken")
        if not token:
            break
    assert [s for s in seen if s.startswith("page-")] == ["page-%d" % i for i in range(5)]
    err = error_of(gsim.call, "GET", "/v2/%s/jobs?pageToken=garbage" % PARENT)
    assert err.status == 400 and err.error["status"] == "INVALID_ARGUMENT"


def test_patch(gsim):
    gsim.wait_op(_create(gsim, "patched", _body(command=["true"])))
    job = gsim.call("GET", "/v2/%s/jobs/patched" % PARENT)
    body = _body(command=["false"])
    body["etag"] = job["etag"]
    done = gsim.wait_op(gsim.call("PATCH", "/v2/%s/jobs/patched" % PARENT, body))
    assert done["response"]["generation"] == "2"
    after = gsim.call("GET", "/v2/%s/jobs/patched" % PARENT)
    assert after["template"]["template"]["containers"][0]["command"] == ["false"]
    assert after["uid"] == job["uid"] and after["etag"] != job["etag"]
    stale = dict(_body(), etag=job["etag"])
    err = error_of(gsim.call, "PATCH", "/v2/%s/jobs/patched" % PARENT, stale)
    assert err.status == 409 and err.error["status"] == "ABORTED"
    err = error_of(gsim.call, "PATCH", "/v2/%s/jobs/absent" % PARENT, _body())
    assert err.status == 404 and err.error["status"] == "NOT_FOUND"
    gsim.wait_op(gsim.call("PATCH", "/v2/%s/jobs/absent?allowMissing=true" % PARENT, _body()))
    assert gsim.call("GET", "/v2/%s/jobs/absent" % PARENT)["generation"] == "1"


def test_validate_only(gsim):
    gsim.wait_op(gsim.call("POST", "/v2/%s/jobs?jobId=dry-run&validateOnly=true" % PARENT,
                           _body()))
    err = error_of(gsim.call, "GET", "/v2/%s/jobs/dry-run" % PARENT)
    assert err.status == 404
    err = error_of(gsim.call, "POST", "/v2/%s/jobs?jobId=dry-bad&validateOnly=true" % PARENT,
                   _body(resources={"limits": {"cpu": "3"}}))
    assert err.status == 400


def test_delete(gsim):
    gsim.wait_op(_create(gsim, "deleted", _body()))
    done = gsim.wait_op(gsim.call("DELETE", "/v2/%s/jobs/deleted" % PARENT))
    assert done["response"]["deleteTime"]
    err = error_of(gsim.call, "GET", "/v2/%s/jobs/deleted" % PARENT)
    assert err.status == 404 and err.error["status"] == "NOT_FOUND"
    err = error_of(gsim.call, "DELETE", "/v2/%s/jobs/deleted" % PARENT)
    assert err.status == 404


def test_delete_with_running_execution(gsim):
    """Deleting a job cancels its running executions (SIGTERM) and removes
    them and their containers."""
    script = "trap 'exit 143' TERM; while true; do sleep 0.1; done"
    gsim.create_job("busy", command=["sh", "-c", script])
    op = gsim.run_job("busy")
    execution = op["metadata"]["name"]
    deadline = time.time() + 60
    while gsim.call("GET", "/v2/" + execution).get("runningCount") != 1:
        assert time.time() < deadline, "the execution never ran"
        time.sleep(0.1)
    gsim.wait_op(gsim.call("DELETE", "/v2/%s/jobs/busy" % PARENT))
    run = gsim.wait_op(op)
    assert run["error"]["code"] == 1 and "deleted" in run["error"]["message"]
    assert error_of(gsim.call, "GET", "/v2/" + execution).status == 404
    deadline = time.time() + 30
    while [n for n in containers_of(gsim.engine, gsim.state_dir) if "busy-" in n]:
        assert time.time() < deadline, "the execution's container was not removed"
        time.sleep(0.2)


def test_unknown_resources(gsim):
    for path in ("/v2/%s/jobs/nope" % PARENT, "/v2/%s/jobs/nope/executions/x" % PARENT,
                 "/v2/%s/jobs/nope/executions" % PARENT):
        err = error_of(gsim.call, "GET", path)
        assert err.status == 404 and err.error["status"] == "NOT_FOUND", path
    err = error_of(gsim.call, "POST", "/v2/%s/jobs/nope:run" % PARENT, {})
    assert err.status == 404


def test_call_counters(gsim):
    calls = gsim.call("GET", "/_sim/calls")
    text = repr(calls)
    assert "run.projects.locations.jobs.create" in text
    assert "run.projects.locations.jobs.get" in text


def test_bad_env_refused(gsim):
    for env in ([{"value": "x"}], [{"name": "A=B", "value": "x"}], [{"name": ""}]):
        err = error_of(_create, gsim, "bad-env", _body(env=env))
        assert err.status == 400 and "Environment variable names" in err.error["message"], env
    gsim.wait_op(_create(gsim, "env-over", _body(command=["true"])))
    err = error_of(gsim.call, "POST", "/v2/%s/jobs/env-over:run" % PARENT,
                   {"overrides": {"containerOverrides": [{"env": [{"value": "x"}]}]}})
    assert err.status == 400
    err = error_of(gsim.call, "POST", "/v2/%s/jobs/env-over:run" % PARENT,
                   {"overrides": {"containerOverrides": [{"name": "other"}]}})
    assert err.status == 400 and "'other'" in err.error["message"]
    err = error_of(gsim.call, "POST", "/v2/%s/jobs/env-over:run" % PARENT,
                   {"overrides": {"timeout": "604801s"}})
    assert err.status == 400 and "168 hours" in err.error["message"]


def test_faults_strike_run(gsim):
    """The base's faults apply to Cloud Run's methods (real base only)."""
    if "_standin" in gsim.script:
        pytest.skip("the stand-in base has no faults; gcpsim.py is not in the tree")
    gsim.wait_op(_create(gsim, "faulted", _body(command=["true"])))
    gsim.call("POST", "/_sim/faults", {"method": "run.projects.locations.jobs.run",
                                       "error": "UNAVAILABLE", "count": 1})
    try:
        err = error_of(gsim.call, "POST", "/v2/%s/jobs/faulted:run" % PARENT, {})
        assert err.status == 503 and err.error["status"] == "UNAVAILABLE"
        op = gsim.wait_op(gsim.call("POST", "/v2/%s/jobs/faulted:run" % PARENT, {}))
        assert "error" not in op
    finally:
        gsim.call("DELETE", "/_sim/faults")
    assert gsim.call("GET", "/v2/%s/jobs/faulted" % PARENT)["executionCount"] == 1
