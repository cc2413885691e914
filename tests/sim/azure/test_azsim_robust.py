"""What a client may send wrong never makes the simulator answer 500 (its
"simulator bug" answer) or hang: bodies of the wrong JSON kind, junk
assertions and tokens, junk form bodies, a bad Content-Length."""

import http.client
import urllib.parse

from conftest import http as call_http

JUNK_ASSERTIONS = ["", "a.b", "a.b.c", "e30.e30.", "W10.W10.AAAA", "!!!.###.$$$",
                   "eyJhbGciOiJSUzI1NiIsIng1dCI6MX0.eyJleHAiOiJzb29uIn0.AAAA"]


def test_bodies_of_the_wrong_kind(azsim_base):
    path = azsim_base.arm_path("jobs/kinds")
    for body in ([1, 2], "text", 5, None, True, {"properties": [1]},
                 {"location": {"a": 1}, "properties": {"configuration": "x"}}):
        resp = azsim_base.call("PUT", path, body if body is not None else b"null",
                               headers={"Content-Type": "application/json"})
        assert resp.status == 400, (body, resp.body)
        assert resp.json()["error"]["code"] == "InvalidRequestContent"


def test_junk_assertions_and_forms(azsim):
    for assertion in JUNK_ASSERTIONS:
        resp = azsim.token_request(azsim.assertion_form(assertion))
        assert 400 <= resp.status < 500, (assertion, resp.body)
        assert resp.json()["error"] in ("invalid_client", "invalid_request")
    raw = call_http("POST", azsim.token_url, b"\xff\xfe=%%%&&&=",
                    {"Content-Type": "application/x-www-form-urlencoded"})
    assert 400 <= raw.status < 500
    js = call_http("POST", azsim.token_url, b"[1,2]", {"Content-Type": "application/json"})
    assert 400 <= js.status < 500


def test_junk_tokens(azsim_base):
    for token in ("", "x", "a.b.c", "Bearer", "\u00e9"):
        resp = azsim_base.call("GET", azsim_base.arm_path("jobs"),
                               headers={"Authorization": "Bearer " + token})
        assert resp.status == 401


def test_bad_content_length(azsim_base):
    conn = http.client.HTTPConnection("127.0.0.1", azsim_base.port, timeout=10)
    conn.putrequest("PUT", azsim_base.arm_path("jobs/cl") + "?api-version=2025-07-01")
    conn.putheader("Content-Length", "-5")
    conn.endheaders()
    resp = conn.getresponse()
    assert resp.status == 400
    assert resp.getheader("x-ms-request-id")
    conn.close()


def test_acr_junk(azsim):
    if not azsim.acr_url:
        return
    for form in ({}, {"grant_type": "access_token"}, {"grant_type": "x" * 5000}):
        resp = call_http("POST", azsim.acr_url + "/oauth2/exchange",
                         urllib.parse.urlencode(form).encode(),
                         {"Content-Type": "application/x-www-form-urlencoded"})
        assert 400 <= resp.status < 500
    resp = call_http("GET", azsim.acr_url + "/oauth2/token?scope=repository:x",
                     headers={"Authorization": "Basic !!!"})
    assert 400 <= resp.status < 500
