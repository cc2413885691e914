"""The operations store (op_new/op_done, get, list, :wait) and the
base's route() contract, in process: a module registers a handler,
its requests are authenticated and validated before it runs, and :wait
blocks until the operation is done or the timeout passes, without
holding the simulator's lock."""

import tempfile
import threading
import time

import pytest

from gcpsim import Operations
from gcpsim_auth import Tokens
from gcpsim_core import ApiError, Request, Sim

BASE = "/v2/projects/sockerless-local/locations/us-central1"


@pytest.fixture
def local():
    tokens = Tokens()
    sim = Sim("sockerless-local", "us-central1", tempfile.mkdtemp(), tokens=tokens)
    Operations(sim).register()
    sim.token = tokens.issue("sa@sockerless-local.iam.gserviceaccount.com")
    return sim


def request(sim, method, path, body=None, query=None, token=None):
    headers = {"Authorization": "Bearer " + (token or sim.token)}
    return Request(method, path, query or {}, body, headers)


def test_op_new_and_done(local):
    meta = {"@type": "type.googleapis.com/google.cloud.run.v2.Job", "name": "j"}
    op = local.op_new(meta)
    assert op["name"].startswith("projects/sockerless-local/locations/us-central1/operations/")
    assert op["done"] is False and op["metadata"] == meta
    status, got = local.serve(request(local, "GET", "/v2/" + op["name"]))
    assert status == 200 and got["done"] is False
    local.op_done(op["name"], response={"@type": meta["@type"], "name": "j"})
    status, got = local.serve(request(local, "GET", "/v2/" + op["name"]))
    assert got["done"] is True and got["response"]["name"] == "j"
    failed = local.op_new(meta)
    local.op_done(failed["name"], error={"code": 9, "message": "no"})
    assert local.op_get(failed["name"])["error"]["code"] == 9


def test_wait_blocks_until_done(local):
    op = local.op_new({"@type": "type.googleapis.com/google.cloud.run.v2.Execution"})
    result = {}

    def waiter():
        result["op"] = local.serve(request(local, "POST", "/v2/%s:wait" % op["name"],
                                           {"timeout": "30s"}))[1]
    thread = threading.Thread(target=waiter)
    thread.start()
    # The waiter must not hold the lock: a handler can still run.
    deadline = time.monotonic() + 10
    while "op" not in result and time.monotonic() < deadline:
        with local.lock:
            pass
        local.op_done(op["name"], response={})
        time.sleep(0.05)
    thread.join(10)
    assert result["op"]["done"] is True


def test_wait_times_out(local):
    op = local.op_new({})
    start = time.monotonic()
    status, got = local.serve(request(local, "POST", "/v2/%s:wait" % op["name"],
                                      {"timeout": "0.2s"}))
    assert got["done"] is False and time.monotonic() - start >= 0.2


def test_list_pages(local):
    names = sorted(local.op_new({})["name"] for _ in range(5))
    seen, token = [], None
    while True:
        query = {"pageSize": ["2"]}
        if token:
            query["pageToken"] = [token]
        got = local.serve(request(local, "GET", BASE + "/operations", query=query))[1]
        seen += [op["name"] for op in got["operations"]]
        token = got.get("nextPageToken")
        if not token:
            break
    assert seen == names
    with pytest.raises(ApiError) as err:
        local.serve(request(local, "GET", BASE + "/operations", query={"pageToken": ["x"]}))
    assert err.value.http_status == 400


def test_route_contract(local):
    seen = {}

    def handler(req):
        seen.update(principal=req.principal, body=req.body, job=req.match.group("j"),
                    method_id=req.method_id)
        return 200, {"ok": True}
    local.route("POST", BASE[:-len("us-central1")] + r"[^/]+/jobs/(?P<j>[^/:]+):run", handler,
                "run.projects.locations.jobs.run")
    status, obj = local.serve(request(local, "POST", BASE + "/jobs/j1:run",
                                      {"overrides": {"taskCount": 1}}))
    assert (status, obj) == (200, {"ok": True})
    assert seen == {"principal": "sa@sockerless-local.iam.gserviceaccount.com",
                    "body": {"overrides": {"taskCount": 1}}, "job": "j1",
                    "method_id": "run.projects.locations.jobs.run"}
    assert local.calls.snapshot()["run.projects.locations.jobs.run"] == 1
    with pytest.raises(ApiError) as err:
        local.serve(request(local, "POST", BASE + "/jobs/j1:run", {"overides": {}}))
    assert err.value.http_status == 400 and "overides" in err.value.message
    with pytest.raises(ApiError) as err:
        local.serve(request(local, "POST", BASE + "/jobs/j1:run", {}, token="nope"))
    assert err.value.http_status == 401
    with pytest.raises(KeyError):
        local.route("GET", "/x", handler, "run.projects.locations.jobs.fly")


def test_log_write_fills_defaults(local):
    local.log_write({"logName": "projects/p/logs/x", "resource": {"type": "global"},
                     "textPayload": "a"})
    entry = local.entries[-1]
    assert entry["insertId"] and entry["timestamp"].endswith("Z")
    assert len(entry["receiveTimestamp"].split(".")[1]) == 10  # nanoseconds + Z


def test_functions_operations_have_no_wait(local):
    op = local.op_new({"@type": "type.googleapis.com/google.cloud.functions.v2.OperationMetadata"})
    with pytest.raises(ApiError) as err:
        local.serve(request(local, "POST", "/v2/%s:wait" % op["name"], {"timeout": "1s"}))
    assert err.value.http_status == 404
    assert local.serve(request(local, "GET", "/v2/" + op["name"]))[1]["done"] is False
