"""The Log Analytics query API of the Azure simulator through the base's
dispatch (azuresim_core.Sim.serve: bearer token per audience, the data-plane
spec's checks, then azuresim_la): rows put in with sim.la_ingest come back
from POST and GET queries, timespans restrict TimeGenerated, errors have the
data plane's shape, the per-workspace budget answers 429 with Retry-After
and a token for ARM is refused."""

import json
import time
import uuid

import pytest

from azuresim_core import ArmError, Request, Sim
import azuresim_la

SUB = "6a2bd1a0-0000-4000-8000-00000000a5c1"
TENANT = "7f3c9b0e-0000-4000-8000-0000000071d1"
CL = "ContainerAppConsoleLogs_CL"


@pytest.fixture
def sim(tmp_path):
    s = Sim(SUB, "sockerless", "westeurope", TENANT, str(tmp_path), "http://127.0.0.1:1")
    azuresim_la.register(s)
    return s


def claims():
    return {"oid": str(uuid.uuid4()), "appid": str(uuid.uuid4()), "tid": TENANT}


def call(sim, method, path, body=None, query=None, audience="logs", headers=None):
    """(status, obj, headers) as the HTTP layer would send them; an
    ArmError the base raised is rendered the same way."""
    hdrs = {"Authorization": "Bearer " + sim.issue_token(audience, claims())}
    hdrs.update(headers or {})
    raw = json.dumps(body).encode() if body is not None else b""
    req = Request(method, path, {k: [v] for k, v in (query or {}).items()}, body, hdrs, raw)
    try:
        return sim.serve(req)
    except ArmError as exc:
        return exc.http_status, exc.to_json(), exc.headers


def query(sim, text, timespan=None, workspace=None, **kw):
    body = {"query": text}
    if timespan is not None:
        body["timespan"] = timespan
    return call(sim, "POST", "/v1/workspaces/%s/query" % (workspace or sim.workspace_id),
                body, **kw)


def iso(ns):
    secs, rest = divmod(ns, 10**9)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + ".%07dZ" % (rest // 100)


def ingest_lines(sim, job, execution, lines):
    for stream, text in lines:
        sim.la_ingest(CL, {"ContainerJobName_s": job,
                           "ContainerGroupName_s": execution + "-r1x2y",
                           "ContainerName_s": "main", "Stream_s": stream, "Log_s": text})


def test_ingested_rows_come_back(sim):
    ingest_lines(sim, "job-a", "job-a-e1", [("stdout", "one"), ("stderr", "two")])
    status, obj, _ = query(sim, CL + " | where ContainerJobName_s == 'job-a' | project "
                           "TimeGenerated, Stream_s, Log_s | order by TimeGenerated asc")
    assert status == 200, obj
    table = obj["tables"][0]
    assert table["name"] == "PrimaryResult"
    assert table["columns"] == [{"name": "TimeGenerated", "type": "datetime"},
                                {"name": "Stream_s", "type": "string"},
                                {"name": "Log_s", "type": "string"}]
    assert [r[1:] for r in table["rows"]] == [["stdout", "one"], ["stderr", "two"]]
    for r in table["rows"]:
        assert len(r[0]) == 28 and r[0].endswith("Z") and r[0][19] == "."


def test_get_query(sim):
    ingest_lines(sim, "job-g", "job-g-e1", [("stdout", "via get")])
    status, obj, _ = call(sim, "GET", "/v1/workspaces/%s/query" % sim.workspace_id,
                          query={"query": CL + " | project Log_s", "timespan": "PT1H"})
    assert status == 200, obj
    assert obj["tables"][0]["rows"] == [["via get"]]


def test_timespans(sim):
    now = time.time_ns()
    old, recent = now - 3 * 3600 * 10**9, now - 60 * 10**9
    sim.la_ingest(CL, {"TimeGenerated": iso(old), "Log_s": "old"})
    sim.la_ingest(CL, {"TimeGenerated": iso(recent), "Log_s": "recent"})
    q = CL + " | order by TimeGenerated asc | project Log_s"

    def logs(span):
        status, obj, _ = query(sim, q, span)
        assert status == 200, obj
        return [r[0] for r in obj["tables"][0]["rows"]]
    assert logs(None) == ["old", "recent"]
    assert logs("PT1H") == ["recent"]
    assert logs("P1D") == ["old", "recent"]
    assert logs("PT2H30M") == ["recent"]
    assert logs("%s/%s" % (iso(old - 10**9), iso(old + 10**9))) == ["old"]
    assert logs("%s/PT4H" % iso(old - 10**9)) == ["old", "recent"]
    assert logs("PT1M/%s" % iso(recent + 10**9)) == ["recent"]
    for bad in ("1 hour", "P1Y", "PT", "%s/%s" % (iso(now), iso(old))):
        status, obj, _ = query(sim, q, bad)
        assert status == 400, bad
        assert obj["error"]["code"] == "BadArgumentError"
        assert "timespan" in obj["error"]["innererror"]["message"]


def test_syntax_error_shape(sim):
    status, obj, _ = query(sim, CL + "\n| where Log_s = 'x'")
    assert status == 400
    err = obj["error"]
    assert err["code"] == "BadArgumentError"
    assert err["message"] == "The request had some invalid properties"
    assert uuid.UUID(err["correlationId"])
    assert err["innererror"]["code"] == "SyntaxError"
    inner = err["innererror"]["innererror"]
    assert inner["code"] == "SYN0002"
    assert inner["message"].startswith("Query could not be parsed at '=' on line [2,14]")


def test_missing_table_and_union_isfuzzy(sim):
    status, obj, _ = query(sim, CL + " | take 1")
    assert status == 400
    inner = obj["error"]["innererror"]
    assert inner["code"] == "SemanticError"
    assert inner["innererror"] == {
        "code": "SEM0100", "message": "'take' operator: Failed to resolve table or column "
        "expression named '%s'" % CL}
    both = "union %s(%s | project Log = Log_s), (ContainerAppConsoleLogs | project Log)"
    status, obj, _ = query(sim, both % ("", CL))
    assert status == 400
    status, obj, _ = query(sim, both % ("isfuzzy=true ", CL))
    assert status == 200, obj
    assert obj["tables"][0]["rows"] == []
    ingest_lines(sim, "job-u", "job-u-e1", [("stdout", "now it exists")])
    status, obj, _ = query(sim, both % ("", CL))
    assert status == 200, obj
    assert obj["tables"][0]["rows"] == [["now it exists"]]


def test_unknown_workspace(sim):
    status, obj, _ = query(sim, CL, workspace=str(uuid.uuid4()))
    assert status == 404
    assert obj["error"]["code"] == "WorkspaceNotFoundError"
    status, obj, _ = query(sim, CL, workspace="my-workspace-name")
    assert (status, obj["error"]["code"]) == (404, "PathNotFoundError")
    status, obj, _ = call(sim, "POST", "/v1/workspaces/%s/query" % sim.workspace_id,
                          {"query": "ContainerAppConsoleLogs", "workspaces": [str(uuid.uuid4())]})
    assert (status, obj["error"]["code"]) == (404, "WorkspaceNotFoundError")
    status, obj, _ = call(sim, "POST", "/v1/workspaces/%s/query" % sim.workspace_id,
                          {"query": "ContainerAppConsoleLogs", "workspaces": [sim.workspace_id]})
    assert status == 200, obj


def test_arm_token_refused(sim):
    status, obj, headers = query(sim, "ContainerAppConsoleLogs", audience="arm")
    assert status == 401
    assert obj["error"]["code"] == "InvalidAuthenticationTokenAudience"
    assert "WWW-Authenticate" in headers
    status, obj, _ = call(sim, "POST", "/v1/workspaces/%s/query" % sim.workspace_id,
                          {"query": "ContainerAppConsoleLogs"},
                          headers={"Authorization": "Bearer forged.token.value"})
    assert (status, obj["error"]["code"]) == (401, "InvalidAuthenticationToken")


def test_body_checked_against_the_spec(sim):
    status, obj, _ = call(sim, "POST", "/v1/workspaces/%s/query" % sim.workspace_id,
                          {"timespan": "PT1H"})
    assert status == 400, obj
    status, obj, _ = call(sim, "POST", "/v1/workspaces/%s/query" % sim.workspace_id,
                          {"query": "ContainerAppConsoleLogs", "timespn": "PT1H"})
    assert status == 400, obj
    assert "timespn" in str(obj)


def test_rate_limit_answers_429_with_retry_after(sim):
    ctl = "/v1/workspaces/%s/_sim/limits" % sim.workspace_id
    status, obj, _ = call(sim, "POST", ctl, {"requests": 2, "per_seconds": 3600,
                                             "retry_after": 7})
    assert status == 200, obj
    for _ in range(2):
        assert query(sim, "ContainerAppConsoleLogs")[0] == 200
    status, obj, headers = query(sim, "ContainerAppConsoleLogs")
    assert status == 429
    assert headers["Retry-After"] == "7"
    assert obj["error"]["code"] == "ThrottledError"
    assert call(sim, "DELETE", ctl)[0] == 204
    assert query(sim, "ContainerAppConsoleLogs")[0] == 200


def test_result_over_max_rows_is_a_partial_error(sim):
    """200 with the rows up to the limit and an error, as Log Analytics
    answers a result over its record limit: a client must not take it
    for the whole answer."""
    ingest_lines(sim, "job-p", "job-p-e1", [("stdout", "line %d" % i) for i in range(5)])
    ctl = "/v1/workspaces/%s/_sim/limits" % sim.workspace_id
    assert call(sim, "POST", ctl, {"max_rows": 3})[0] == 200
    status, obj, _ = query(sim, CL + " | project Log_s")
    assert status == 200
    assert obj["tables"][0]["rows"] == [["line 0"], ["line 1"], ["line 2"]]
    assert obj["error"]["code"] == "PartialError"
    assert "E_QUERY_RESULT_SET_TOO_LARGE" in obj["error"]["details"][0]["innererror"]["message"]
    status, obj, _ = query(sim, CL + " | take 3 | project Log_s")
    assert status == 200 and "error" not in obj
    assert call(sim, "POST", ctl, {"max_rows": "3"})[0] == 400
    assert call(sim, "POST", ctl, {"max_row": 3})[0] == 400


def test_prefer_header(sim):
    status, obj, headers = query(sim, "ContainerAppConsoleLogs",
                                 headers={"Prefer": "wait=600, include-statistics=true"})
    assert status == 200, obj
    assert headers["Preference-Applied"] == "wait=600,include-statistics=true"
    assert "statistics" in obj
    status, obj, _ = query(sim, "ContainerAppConsoleLogs", headers={"Prefer": "wait=soon"})
    assert status == 400
    assert "Prefer" in obj["error"]["innererror"]["message"]


def test_the_backend_union_over_both_schemas(sim):
    """The shape of query a backend sends for one execution's lines: both
    console tables in one fuzzy union, ordered by time, stdout and stderr
    kept apart."""
    ingest_lines(sim, "sk-abc", "sk-abc-7f3k2", [("stdout", "out 1"), ("stderr", "err 1"),
                                                 ("stdout", "out 2")])
    ingest_lines(sim, "sk-abc", "sk-abc-other", [("stdout", "another execution")])
    sim.la_ingest("ContainerAppConsoleLogs", {"JobName": "sk-abc",
                                              "ContainerGroupName": "sk-abc-7f3k2-r1x2y",
                                              "ContainerName": "main", "Stream": "stdout",
                                              "Log": "new table"})
    kql = ("union isfuzzy=true "
           "(ContainerAppConsoleLogs_CL | where ContainerJobName_s == 'sk-abc' and "
           "ContainerGroupName_s startswith 'sk-abc-7f3k2' and ContainerName_s == 'main' "
           "| project TimeGenerated, Stream = Stream_s, Log = Log_s), "
           "(ContainerAppConsoleLogs | where JobName == 'sk-abc' and ContainerGroupName "
           "startswith 'sk-abc-7f3k2' and ContainerName == 'main' "
           "| project TimeGenerated, Stream, Log) "
           "| order by TimeGenerated asc")
    status, obj, _ = query(sim, kql)
    assert status == 200, obj
    assert [r[1:] for r in obj["tables"][0]["rows"]] == [
        ["stdout", "out 1"], ["stderr", "err 1"], ["stdout", "out 2"], ["stdout", "new table"]]
