"""ARM plumbing of the base: request ids, the error envelope for unknown
paths, providers, resource groups and subscriptions, asynchronous
operations of both kinds (Azure-AsyncOperation and Location) with
`polls`, faults (throttle, error, latency, slow), counters and nextLink
paging."""

import time
import uuid

from conftest import SUBSCRIPTION
from test_azsim_validation import good_job


def make_job(sim, name, polls=0):
    resp = sim.call("PUT", sim.arm_path("jobs/" + name), good_job(sim),
                    headers={"x-test-polls": str(polls)})
    assert resp.status in (200, 201), resp.body
    return resp


def test_request_ids_on_every_answer(azsim_base):
    ok = azsim_base.call("GET", azsim_base.arm_path("jobs"))
    bad = azsim_base.call("GET", azsim_base.arm_path("jobs"), api_version=None)
    unauth = azsim_base.call("GET", azsim_base.arm_path("jobs"), headers={"Authorization": ""})
    seen = set()
    for resp in (ok, bad, unauth):
        for name in ("x-ms-request-id", "x-ms-correlation-request-id"):
            value = resp.headers[name]
            assert str(uuid.UUID(value)) == value
            seen.add(value)
    assert len(seen) == 6
    assert int(ok.headers["x-ms-ratelimit-remaining-subscription-reads"]) > 0
    mine = str(uuid.uuid4())
    echoed = azsim_base.call("GET", azsim_base.arm_path("jobs"),
                             headers={"x-ms-correlation-request-id": mine,
                                      "x-ms-client-request-id": "abc"})
    assert echoed.headers["x-ms-correlation-request-id"] == mine
    assert echoed.headers["x-ms-client-request-id"] == "abc"


def test_not_found_envelopes(azsim_base):
    other_rg = azsim_base.call("GET", azsim_base.arm_path("jobs/x", rg="elsewhere"))
    assert other_rg.status == 404
    assert other_rg.json()["error"]["code"] == "ResourceGroupNotFound"
    other_sub = azsim_base.call("GET", azsim_base.arm_path("jobs/x").replace(
        SUBSCRIPTION, "00000000-0000-0000-0000-000000000000"))
    assert other_sub.status == 404
    assert other_sub.json()["error"]["code"] == "SubscriptionNotFound"
    provider = azsim_base.call("GET", azsim_base.arm_path("things/x", provider="Microsoft.Nope"))
    assert provider.status == 404
    assert provider.json()["error"]["code"] == "NoRegisteredProviderFound"
    unknown = azsim_base.call("GET", azsim_base.arm_path("widgets/x"))
    assert unknown.status == 404
    err = unknown.json()["error"]
    assert err["code"] == "ResourceNotFound" and "Microsoft.App/widgets/x" in err["message"]
    missing = azsim_base.call("GET", azsim_base.arm_path("jobs/neverthere"))
    assert missing.status == 404 and missing.json()["error"]["code"] == "ResourceNotFound"
    verb = azsim_base.call("PATCH", azsim_base.arm_path("jobs"), {})
    assert verb.status == 405


def poll(sim, url, limit=20):
    """The answers of polling url until it is done (at most limit)."""
    answers = []
    for _ in range(limit):
        resp = sim.call("GET", url, api_version=None)
        answers.append(resp)
        running = resp.status == 202 or \
            (resp.status == 200 and resp.json().get("status") == "InProgress")
        if not running:
            break
    return answers


def test_azure_async_operation_with_polls(azsim_base):
    resp = make_job(azsim_base, "asyncjob", polls=2)
    url = resp.headers["Azure-AsyncOperation"]
    assert "api-version=" in url
    answers = poll(azsim_base, url)
    assert [a.json()["status"] for a in answers] == ["InProgress", "InProgress", "Succeeded"]
    assert answers[0].headers["Retry-After"] == "1"
    done = answers[-1].json()
    assert set(done) >= {"id", "name", "status", "startTime", "endTime"}
    assert "error" not in done
    again = azsim_base.call("GET", url, api_version=None)
    assert again.json()["status"] == "Succeeded"


def test_location_operation_result_and_failure(azsim_base):
    make_job(azsim_base, "locjob")
    start = azsim_base.call("POST", azsim_base.arm_path("jobs/locjob/start"),
                            headers={"x-test-polls": "1"})
    assert start.status == 202
    assert start.headers["Retry-After"] == "1"
    answers = poll(azsim_base, start.headers["Location"])
    assert [a.status for a in answers] == [202, 200]
    assert answers[0].headers["Location"] == start.headers["Location"]
    assert answers[1].json()["name"] == "locjob-1"
    failed = azsim_base.call("POST", azsim_base.arm_path("jobs/locjob/start"),
                             headers={"x-test-fail": "1"})
    last = poll(azsim_base, failed.headers["Location"])[-1]
    assert last.status == 400 and last.json()["error"]["code"] == "JobExecutionFailed"
    delete = azsim_base.call("DELETE", azsim_base.arm_path("jobs/locjob"))
    assert delete.status == 202
    assert [a.status for a in poll(azsim_base, delete.headers["Location"])] == [204]


def test_operation_urls_need_a_token_and_exist(azsim_base):
    resp = make_job(azsim_base, "authop")
    url = resp.headers["Azure-AsyncOperation"]
    assert azsim_base.call("GET", url, api_version=None,
                           headers={"Authorization": ""}).status == 401
    bogus = url.split("containerappOperationStatuses/")[0] + \
        "containerappOperationStatuses/%s?api-version=2025-07-01" % uuid.uuid4()
    assert azsim_base.call("GET", bogus, api_version=None).status == 404


def test_throttle_fault(azsim_base):
    azsim_base.post("/_sim/faults", {"op": "Jobs_Get", "kind": "throttle", "times": 2,
                                     "retry_after": 3})
    path = azsim_base.arm_path("jobs/neverthere")
    first = azsim_base.call("GET", path)
    assert first.status == 429
    assert first.headers["Retry-After"] == "3"
    assert first.headers["x-ms-ratelimit-remaining-subscription-reads"] == "0"
    assert first.json()["error"]["code"] == "TooManyRequests"
    assert azsim_base.call("GET", path).status == 429
    assert azsim_base.call("GET", path).status == 404
    azsim_base.post("/_sim/faults", {"op": "Jobs_CreateOrUpdate", "kind": "throttle"})
    put = azsim_base.call("PUT", azsim_base.arm_path("jobs/throttled"), good_job(azsim_base))
    assert put.headers["x-ms-ratelimit-remaining-subscription-writes"] == "0"


def test_error_and_latency_faults(azsim_base):
    azsim_base.post("/_sim/faults", [{"op": "Jobs_*", "kind": "error", "status": 503},
                                     {"op": "JobsExecutions_List", "kind": "latency",
                                      "ms": 300}])
    resp = azsim_base.call("GET", azsim_base.arm_path("jobs/x"))
    assert resp.status == 503 and resp.json()["error"]["code"] == "ServiceUnavailable"
    make_job(azsim_base, "latejob")
    began = time.monotonic()
    assert azsim_base.call("GET", azsim_base.arm_path("jobs/latejob/executions")).status == 200
    assert time.monotonic() - began >= 0.3
    assert azsim_base.get("/_sim/faults").json() == []


def test_slow_fault_keeps_an_operation_running(azsim_base):
    azsim_base.post("/_sim/faults", {"op": "Jobs_CreateOrUpdate", "kind": "slow", "polls": 3})
    resp = make_job(azsim_base, "slowjob")
    statuses = [a.json()["status"] for a in poll(azsim_base,
                                                 resp.headers["Azure-AsyncOperation"])]
    assert statuses == ["InProgress"] * 3 + ["Succeeded"]
    fast = make_job(azsim_base, "slowjob")
    assert azsim_base.call("GET", fast.headers["Azure-AsyncOperation"],
                           api_version=None).json()["status"] == "Succeeded"


def test_bad_fault_specs(azsim_base):
    for spec in ({"kind": "throttle"}, {"op": "Jobs_Get", "kind": "boom"},
                 {"op": "Jobs_Get", "kind": "latency"}, {"op": "Jobs_Get", "kind": "error",
                                                         "status": 418},
                 {"op": "Jobs_Get", "kind": "slow"}, {"op": "Jobs_Get", "kind": "error",
                                                      "colour": "red"}):
        resp = azsim_base.post("/_sim/faults", spec)
        assert resp.status == 400, spec
        assert resp.json()["message"]


def test_counters(azsim_base):
    azsim_base.post("/_sim/calls/reset")
    make_job(azsim_base, "countjob")
    azsim_base.call("GET", azsim_base.arm_path("jobs/countjob"))
    azsim_base.call("GET", azsim_base.arm_path("jobs/countjob"))
    calls = azsim_base.get("/_sim/calls").json()
    assert calls["Jobs_CreateOrUpdate"] == 1
    assert calls["Jobs_Get"] == 2


def test_paging_with_next_link(azsim_base):
    make_job(azsim_base, "pagejob")
    for _ in range(5):
        assert azsim_base.call("POST", azsim_base.arm_path("jobs/pagejob/start")).status == 202
    url = azsim_base.arm_path("jobs/pagejob/executions")
    names = []
    pages = 0
    while url:
        resp = azsim_base.call("GET", url)
        assert resp.status == 200, resp.body
        body = resp.json()
        names += [e["name"] for e in body["value"]]
        url = body.get("nextLink")
        if url:
            assert url.startswith(azsim_base.url) and "api-version=2025-07-01" in url
            assert "$skiptoken=" in url
        pages += 1
    assert names == ["pagejob-%d" % i for i in range(1, 6)]
    assert pages == 3
    bad = azsim_base.call("GET", azsim_base.arm_path("jobs/pagejob/executions") +
                          "?$skiptoken=nope")
    assert bad.status == 400 and bad.json()["error"]["code"] == "InvalidSkipToken"
