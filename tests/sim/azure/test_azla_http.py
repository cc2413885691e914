"""The Log Analytics query API over HTTP from a running azuresim.py (the
conftest's azsim: the module registered at start-up, tokens from the
simulator's Entra ID with the client secret it wrote): what a backend's
HTTP client sees."""

import json
import urllib.parse

from conftest import ARM_SCOPE, LOGS_SCOPE, http


def workspace(azsim):
    """The simulator's workspace GUID, from azuresim_la's start-up line
    ("... served at /v1/workspaces/<GUID>/query")."""
    text = azsim.log_text()
    marker = "/v1/workspaces/"
    i = text.find(marker)
    assert i >= 0, text[-3000:]
    return text[i + len(marker):i + len(marker) + 36]


def logs_auth(azsim):
    return {"Authorization": "Bearer " + azsim.token(LOGS_SCOPE),
            "Content-Type": "application/json"}


def test_query_over_http(azsim):
    auth = logs_auth(azsim)
    url = "%s/v1/workspaces/%s/query" % (azsim.url, workspace(azsim))
    resp = http("POST", url, {"query": "ContainerAppConsoleLogs | take 1",
                              "timespan": "PT1H"}, auth)
    assert resp.status == 200, resp.body
    table = resp.json()["tables"][0]
    assert table["name"] == "PrimaryResult" and table["rows"] == []
    assert {"name": "Log", "type": "string"} in table["columns"]
    assert resp.headers["x-ms-request-id"]

    resp = http("GET", url + "?" + urllib.parse.urlencode(
        {"query": "ContainerAppConsoleLogs | count"}), headers=auth)
    assert resp.status == 200, resp.body
    assert resp.json()["tables"][0]["rows"] == [[0]]

    resp = http("POST", url, {"query": "ContainerAppConsoleLogs_CL | take 1"}, auth)
    assert resp.status == 400
    assert resp.json()["error"]["innererror"]["code"] == "SemanticError"

    resp = http("POST", url, {"query": "ContainerAppConsoleLogs | take"}, auth)
    assert resp.status == 400
    assert resp.json()["error"]["innererror"]["code"] == "SyntaxError"

    resp = http("POST", url, {"query": "union isfuzzy=true ContainerAppConsoleLogs_CL, "
                                       "ContainerAppConsoleLogs | count"}, auth)
    assert resp.status == 200, resp.body
    assert resp.json()["tables"][0]["rows"] == [[0]]


def test_arm_token_refused_over_http(azsim):
    url = "%s/v1/workspaces/%s/query" % (azsim.url, workspace(azsim))
    resp = http("POST", url, {"query": "ContainerAppConsoleLogs"}, {
        "Authorization": "Bearer " + azsim.token(ARM_SCOPE),
        "Content-Type": "application/json"})
    assert resp.status == 401
    assert resp.json()["error"]["code"] == "InvalidAuthenticationTokenAudience"
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


def test_limits_over_http(azsim):
    auth = logs_auth(azsim)
    ws = workspace(azsim)
    ctl = "%s/v1/workspaces/%s/_sim/limits" % (azsim.url, ws)
    url = "%s/v1/workspaces/%s/query" % (azsim.url, ws)
    resp = http("POST", ctl, {"requests": 1, "per_seconds": 3600, "retry_after": 3}, auth)
    assert resp.status == 200, resp.body
    try:
        assert http("POST", url, {"query": "ContainerAppConsoleLogs"}, auth).status == 200
        resp = http("POST", url, {"query": "ContainerAppConsoleLogs"}, auth)
        assert resp.status == 429 and resp.headers["Retry-After"] == "3"
        assert resp.json()["error"]["code"] == "ThrottledError"
    finally:
        resp = http("DELETE", ctl, headers=auth)
    assert resp.status == 204 and resp.body == b""
    assert http("POST", url, {"query": "ContainerAppConsoleLogs"}, auth).status == 200
    assert json.loads(http("POST", ctl, {"requests": "1"}, auth).body)["message"]
