"""Faults on request (429 RESOURCE_EXHAUSTED with RetryInfo, 503
UNAVAILABLE, latency) per discovery method id, used up by count, and the
per-method call counters."""

import time

from conftest import PROJECT

LIST = "/v2/entries:list"
BODY = {"resourceNames": ["projects/%s" % PROJECT]}


def test_429_with_retry_info_then_recovery(sim):
    sim.post("/_sim/calls/reset")
    resp = sim.post("/_sim/faults", {"method": "logging.entries.list",
                                     "error": "RESOURCE_EXHAUSTED", "count": 2,
                                     "retry_delay": "3s"})
    assert resp.status == 200
    for _ in range(2):
        resp = sim.call("POST", LIST, BODY)
        assert resp.status == 429
        err = resp.json()["error"]
        assert err["status"] == "RESOURCE_EXHAUSTED"
        assert err["details"] == [{"@type": "type.googleapis.com/google.rpc.RetryInfo",
                                   "retryDelay": "3s"}]
    assert sim.call("POST", LIST, BODY).status == 200
    assert sim.get("/_sim/calls").json()["logging.entries.list"] == 3


def test_503_and_prefix(sim):
    sim.post("/_sim/faults", {"method": "logging.*", "error": "UNAVAILABLE"})
    resp = sim.call("POST", LIST, BODY)
    assert resp.status == 503 and resp.json()["error"]["status"] == "UNAVAILABLE"
    assert sim.call("POST", LIST, BODY).status == 200


def test_latency(sim):
    sim.post("/_sim/faults", {"method": "logging.entries.list", "latency_ms": 400})
    start = time.monotonic()
    assert sim.call("POST", LIST, BODY).status == 200
    assert time.monotonic() - start >= 0.4


def test_bad_specs(sim):
    for spec in ({}, {"method": "x"}, {"method": "x", "error": "NOPE"},
                 {"method": "x", "error": "UNAVAILABLE", "count": 0},
                 {"method": "x", "error": "UNAVAILABLE", "colour": "red"}):
        resp = sim.post("/_sim/faults", spec)
        assert resp.status == 400 and resp.json()["message"], spec
    assert sim.get("/_sim/faults").json() == []
