"""The function host front and the sites' containers on the engine
(Interface W): a POST proxied to a real container and its answer as it
is, a streamed answer, 503 while the container starts, a re-pointed site
getting a new container, delete removing it, a private registry without
credentials, functionTimeout, the sockerless agent as the container (the
azfunc backend's derived image), and a simulator restart keeping the
sites and creating their containers again."""

import http.client
import json
import os
import shutil
import tempfile
import time

import pytest

from azweb_testlib import (AGENT, WebSim, agent_image, echo_image, needs_engine,  # noqa: F401
                           websim)

pytestmark = needs_engine
ACR = "sockerless.azurecr.io/"


def make(websim, name, mark="v1", **kw):
    settings = websim.settings(**kw.pop("settings", {}))
    return websim.create_site(name, websim.site_body(ACR + echo_image(mark), settings=settings,
                                                     acrUseManagedIdentityCreds=True, **kw))


def exec_in(websim, site, command):
    (container,) = [c for c in websim.containers(site) if c.status == "running"]
    assert container.exec_run(command).exit_code == 0


def test_post_is_proxied(websim):
    make(websim, "front-echo", settings={"GREETING": "hi"})
    status, text, headers = websim.wait_front(
        "front-echo", path="/api/echo?x=1&code=abc", body=b"payload",
        headers={"x-functions-key": "k123", "Content-Type": "text/plain"})
    assert status == 201, text
    assert headers["X-Echo"] == "yes"
    fields = dict(part.split("=", 1) for part in text.split(" "))
    assert fields["method"] == "POST" and fields["target"] == "/api/echo?x=1&code=abc"
    assert fields["body"] == "payload" and fields["key"] == "k123"
    assert fields["site"] == "front-echo" and fields["greeting"] == "hi"
    assert fields["mark"] == "v1" and int(fields["port"]) > 0
    assert len(websim.containers("front-echo")) == 1
    # the container's output is in the log store (FunctionAppLogs)
    end = time.time() + 30
    while time.time() < end:
        rows = [r for r in websim.rows("FunctionAppLogs") if r["AppName"] == "front-echo"]
        if any(r["Message"].startswith("listening on ") for r in rows):
            break
        time.sleep(0.2)
    assert any(r["Message"] == "listening on " + fields["port"] for r in rows), rows
    assert all(r["Level"] == "Information" and r["TimeGenerated"] for r in rows)


def test_chunked_request_body_and_get(websim):
    make(websim, "front-chunked")
    websim.wait_front("front-chunked")
    conn = http.client.HTTPConnection("127.0.0.1", websim.port, timeout=60)
    try:
        conn.request("PUT", "/api/echo", body=iter([b"part1-", b"part2"]),
                     headers={"Host": "front-chunked.azurewebsites.net"}, encode_chunked=True)
        resp = conn.getresponse()
        text = resp.read().decode()
        assert resp.status == 201 and "method=PUT" in text and "body=part1-part2" in text
        conn.request("GET", "/api/echo?q=2", headers={"Host": "front-chunked.azurewebsites.net"})
        resp = conn.getresponse()
        text = resp.read().decode()
        assert resp.status == 201 and "method=GET target=/api/echo?q=2 " in text
    finally:
        conn.close()


def test_answer_is_streamed(websim):
    make(websim, "front-stream")
    websim.wait_front("front-stream")
    conn = http.client.HTTPConnection("127.0.0.1", websim.port, timeout=60)
    try:
        conn.request("GET", "/api/stream", headers={"Host": "front-stream.azurewebsites.net"})
        resp = conn.getresponse()
        assert resp.status == 200
        # "first" arrives while the handler still waits for /tmp/release
        first = b""
        while b"first\n" not in first:
            chunk = resp.read1(64)
            assert chunk, first
            first += chunk
        exec_in(websim, "front-stream", ["touch", "/tmp/release"])
        rest = resp.read()
        assert b"second" in first + rest
    finally:
        conn.close()


def test_503_while_starting_then_ready(websim):
    make(websim, "front-gate", settings={"GATE": "1"})
    status, text, headers = websim.front_raw("front-gate")
    assert status == 503 and "starting" in text and headers["Retry-After"] == "1"
    exec_in(websim, "front-gate", ["touch", "/tmp/open"])
    status, text, _ = websim.wait_front("front-gate")
    assert status == 201 and "site=front-gate" in text


def test_repoint_replaces_the_container(websim):
    make(websim, "front-repoint")
    assert "mark=v1" in websim.wait_front("front-repoint")[1]
    (old,) = websim.containers("front-repoint")
    websim.web("PATCH", "/sites/front-repoint/config/web", {"properties": {
        "linuxFxVersion": "DOCKER|" + ACR + echo_image("v2")}})
    status, text, _ = websim.wait_front("front-repoint")
    while "mark=v1" in text:     # the old instance may answer until it is replaced
        status, text, _ = websim.wait_front("front-repoint")
    assert status == 201 and "mark=v2" in text
    ids = [c.id for c in websim.containers("front-repoint")]
    assert old.id not in ids and len(ids) == 1


def test_settings_change_restarts(websim):
    make(websim, "front-settings", settings={"GREETING": "one"})
    assert "greeting=one" in websim.wait_front("front-settings")[1]
    current = websim.web("POST", "/sites/front-settings/config/appsettings/list")[1]
    websim.web("PUT", "/sites/front-settings/config/appsettings",
               {"properties": dict(current["properties"], GREETING="two")})
    text = websim.wait_front("front-settings")[1]
    while "greeting=one" in text:
        text = websim.wait_front("front-settings")[1]
    assert "greeting=two" in text


def test_delete_removes_the_container(websim):
    make(websim, "front-delete")
    websim.wait_front("front-delete")
    assert websim.containers("front-delete")
    assert websim.web("DELETE", "/sites/front-delete")[0] == 200
    status, _, _ = websim.front_raw("front-delete")
    assert status == 404
    end = time.time() + 60
    while websim.containers("front-delete") and time.time() < end:
        time.sleep(0.2)
    assert websim.containers("front-delete") == []


def test_stop_and_start(websim):
    make(websim, "front-stop")
    websim.wait_front("front-stop")
    websim.web("POST", "/sites/front-stop/stop")
    status, text, _ = websim.front_raw("front-stop")
    assert status == 503 and "stopped" in text
    websim.web("POST", "/sites/front-stop/start")
    assert websim.wait_front("front-stop")[0] == 201


def test_private_registry_needs_credentials(websim):
    body = websim.site_body(ACR + echo_image("v1"))   # no acrUseManagedIdentityCreds
    websim.create_site("front-private", body)
    status, text, _ = websim.wait_front("front-private")
    assert status == 503 and "needs credentials" in text
    body["properties"]["siteConfig"]["appSettings"] += [
        {"name": "DOCKER_REGISTRY_SERVER_URL", "value": "https://sockerless.azurecr.io"},
        {"name": "DOCKER_REGISTRY_SERVER_USERNAME", "value": "sockerless"},
        {"name": "DOCKER_REGISTRY_SERVER_PASSWORD", "value": "secret"}]
    websim.create_site("front-private", body)
    status, text, _ = websim.wait_front("front-private")
    while "needs credentials" in text:
        status, text, _ = websim.wait_front("front-private")
    assert status == 201


def test_function_timeout(websim):
    make(websim, "front-timeout",
         settings={"AzureFunctionsJobHost__functionTimeout": "00:00:02"})
    websim.wait_front("front-timeout")
    (old,) = websim.containers("front-timeout")
    status, text, _ = websim.front_raw("front-timeout", path="/api/hang")
    assert status == 500 and "functionTimeout" in text
    status, text, _ = websim.wait_front("front-timeout")
    assert status == 201
    assert old.id not in [c.id for c in websim.containers("front-timeout")]


@pytest.mark.skipif(not os.access(AGENT, os.X_OK), reason="the agent is not built")
def test_agent_http_runtime(websim):
    image = agent_image()
    websim.create_site("front-agent", websim.site_body(
        ACR + image, acrUseManagedIdentityCreds=True,
        settings=websim.settings(SOCKERLESS_HTTP_RUNTIME="1", GREETING="hello")))
    status, text, _ = websim.wait_front("front-agent", path="/api/run", body=b"{}",
                                        headers={"Content-Type": "application/json"})
    assert status == 200, text
    assert json.loads(text)["exitCode"] == 0


def test_restart_keeps_sites_and_recreates_containers():
    workdir = tempfile.mkdtemp(prefix="azweb-persist-")
    sim = WebSim(workdir, ports=8).launch()
    try:
        sim.create_site("keep-site", sim.site_body(ACR + echo_image("v1"),
                                                   acrUseManagedIdentityCreds=True))
        sim.create_site("keep-stopped", sim.site_body(ACR + echo_image("v1"),
                                                      acrUseManagedIdentityCreds=True))
        sim.web("POST", "/sites/keep-stopped/stop")
        assert sim.wait_front("keep-site")[0] == 201
        keys = sim.web("POST", "/sites/keep-site/host/default/listkeys")[1]
        (old,) = sim.containers("keep-site")
        storage = sim.creds_env()["AZURE_SK_WEBJOBS_STORAGE"]
        sim.stop()
        assert sim.containers("keep-site") == []
        sim.launch()
        assert sim.creds_env()["AZURE_SK_WEBJOBS_STORAGE"] == storage
        assert sim.web("GET", "/sites/keep-site")[1]["properties"]["state"] == "Running"
        assert sim.web("POST", "/sites/keep-site/host/default/listkeys")[1] == keys
        status, text, _ = sim.wait_front("keep-site")
        assert status == 201 and "site=keep-site" in text
        assert old.id not in [c.id for c in sim.containers("keep-site")]
        assert sim.web("GET", "/sites/keep-stopped")[1]["properties"]["state"] == "Stopped"
        assert sim.containers("keep-stopped") == []
    finally:
        sim.stop()
        shutil.rmtree(workdir, ignore_errors=True)
