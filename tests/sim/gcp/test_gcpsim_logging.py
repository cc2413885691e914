"""Cloud Logging entries:list: the filters the backends send (resource
type and labels, quoted label keys, logName of stdout and stderr,
timestamps with nanoseconds, severity, AND/OR/NOT and parentheses),
unsupported constructs refused by name, ordering, paging with tokens
bound to their request, and the per-minute read quota."""

import uuid

from conftest import PROJECT

LIST = "/v2/entries:list"
STDOUT = "projects/%s/logs/run.googleapis.com%%2Fstdout" % PROJECT
STDERR = "projects/%s/logs/run.googleapis.com%%2Fstderr" % PROJECT


def write(sim, job, n, log=STDOUT, second=1, severity=None):
    entries = []
    for i in range(n):
        entry = {"logName": log, "textPayload": "%s line %d" % (job, i),
                 "timestamp": "2026-12-05T10:00:%02d.%09dZ" % (second, i + 1),
                 "resource": {"type": "cloud_run_job",
                              "labels": {"job_name": job, "location": "us-central1",
                                         "project_id": PROJECT}},
                 "labels": {"run.googleapis.com/execution_name": job + "-e1",
                            "run.googleapis.com/task_index": "0"}}
        if severity:
            entry["severity"] = severity
        entries.append(entry)
    resp = sim.call("POST", "/v2/entries:write", {"entries": entries})
    assert resp.status == 200, resp.body


def listing(sim, filt, **extra):
    body = dict({"resourceNames": ["projects/%s" % PROJECT], "filter": filt}, **extra)
    resp = sim.call("POST", LIST, body)
    assert resp.status == 200, resp.body
    return resp.json()


def texts(answer):
    return [e["textPayload"] for e in answer.get("entries", [])]


def test_filters(sim):
    job = "j" + uuid.uuid4().hex[:8]
    write(sim, job, 3)
    write(sim, job, 2, log=STDERR, second=2, severity="ERROR")
    base = 'resource.type="cloud_run_job" AND resource.labels.job_name="%s"' % job
    assert len(texts(listing(sim, base))) == 5
    got = listing(sim, base + ' AND labels."run.googleapis.com/execution_name"="%s-e1" '
                  'AND logName="%s"' % (job, STDOUT))
    assert texts(got) == ["%s line %d" % (job, i) for i in range(3)]
    assert got["entries"][0]["logName"] == STDOUT  # kept URL-encoded, as Logging does
    assert len(texts(listing(sim, base + " AND logName=%s" % STDERR))) == 2
    assert len(texts(listing(sim, base + ' AND timestamp>"2026-12-05T10:00:01.000000002Z"'))) == 3
    assert len(texts(listing(sim, base + ' AND timestamp>="2026-12-05T10:00:02Z"'))) == 2
    assert len(texts(listing(sim, base + " AND severity>=WARNING"))) == 2
    assert len(texts(listing(sim, base + " AND NOT severity>=WARNING"))) == 3
    assert len(texts(listing(sim, base + ' AND (textPayload:"LINE 0" OR textPayload:"line 2")'))) == 3
    assert len(texts(listing(sim, base + " -textPayload:line"))) == 0
    assert texts(listing(sim, 'resource.labels.job_name="nope-%s"' % job)) == []


def test_unsupported_filters_are_refused(sim):
    for filt, named in (('textPayload=~"x"', "=~"), ("hello", "hello"),
                        ('SEARCH("x")', "SEARCH"), ("(a=1", ")"),
                        ('timestamp>"yesterday"', "RFC 3339")):
        resp = sim.call("POST", LIST, {"resourceNames": ["projects/%s" % PROJECT],
                                       "filter": filt})
        assert resp.status == 400, filt
        err = resp.json()["error"]
        assert err["status"] == "INVALID_ARGUMENT" and named in err["message"], err


def test_order_and_paging(sim):
    job = "p" + uuid.uuid4().hex[:8]
    write(sim, job, 7)
    filt = 'resource.labels.job_name="%s"' % job
    want = ["%s line %d" % (job, i) for i in range(7)]
    assert texts(listing(sim, filt, orderBy="timestamp desc")) == want[::-1]
    seen, token = [], None
    while True:
        extra = {"pageSize": 3}
        if token:
            extra["pageToken"] = token
        got = listing(sim, filt, **extra)
        seen += texts(got)
        token = got.get("nextPageToken")
        if not token:
            break
    assert seen == want
    first = listing(sim, filt, pageSize=3)
    resp = sim.call("POST", LIST, {"resourceNames": ["projects/%s" % PROJECT],
                                   "filter": filt + " AND severity>=DEFAULT",
                                   "pageToken": first["nextPageToken"]})
    assert resp.status == 400
    resp = sim.call("POST", LIST, {"resourceNames": ["projects/%s" % PROJECT],
                                   "orderBy": "insertId"})
    assert resp.status == 400


def test_resource_names(sim):
    resp = sim.call("POST", LIST, {})
    assert resp.status == 400
    resp = sim.call("POST", LIST, {"resourceNames": ["projects/someone-else"]})
    assert resp.status == 403
    assert sim.call("POST", LIST, {"projectIds": [PROJECT]}).status == 200


def test_read_quota(fresh_sim):
    s = fresh_sim("--logging-read-quota", "3")
    body = {"resourceNames": ["projects/%s" % PROJECT]}
    for _ in range(3):
        assert s.call("POST", LIST, body).status == 200
    resp = s.call("POST", LIST, body)
    assert resp.status == 429
    err = resp.json()["error"]
    assert err["status"] == "RESOURCE_EXHAUSTED"
    delay = [d for d in err["details"] if d["@type"].endswith("RetryInfo")][0]["retryDelay"]
    assert delay.endswith("s") and 1 <= int(delay[:-1]) <= 60
    assert s.post("/_sim/config", {"logging_read_per_minute": 0}).status == 200
    assert s.call("POST", LIST, body).status == 200
