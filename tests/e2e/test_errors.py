"""Error answers a user meets: unknown ids (404), name conflicts (409), bad
JSON (400), unknown API paths."""
import uuid

import pytest

from e2e_lib import BUSYBOX, TARGET, dk_ok


def bad_request_codes(apiclient):
    """Docker answers undecodable or invalid bodies with 400 since Engine 23
    (API 1.42); the reference bed may run Debian's 20.10 (API 1.41), which
    still answered 500. Sockerless speaks 1.44: 400 only."""
    major, minor = (int(x) for x in apiclient.api_version.split("."))
    if TARGET == "reference" and (major, minor) < (1, 42):
        return (400, 500)
    return (400,)


def unknown():
    return f"ske2e-nope-{uuid.uuid4().hex[:10]}"


def test_inspect_unknown(docker):
    ref = unknown()
    p = docker("inspect", ref)
    assert p.returncode != 0 and f"No such object: {ref}" in p.stderr, p.stderr
    p = docker("container", "inspect", ref)
    assert p.returncode != 0 and f"No such container: {ref}" in p.stderr, p.stderr


@pytest.mark.parametrize("cmd", ["start", "stop", "kill", "wait", "logs", "rm",
                                 "restart", "port", "rename"])
def test_unknown_container_commands(docker, cmd):
    ref = unknown()
    args = [cmd, ref] + ([ref + "-2"] if cmd == "rename" else [])
    p = docker(*args)
    assert p.returncode != 0, (args, p.stdout)
    assert "No such container" in p.stderr, (args, p.stderr)


def test_name_conflict(docker, name):
    dk_ok("create", "--name", name, BUSYBOX, "true")
    p = docker("create", "--name", name, BUSYBOX, "true")
    assert p.returncode != 0
    assert "Conflict" in p.stderr and name in p.stderr, p.stderr
    p = docker("run", "--rm", "--name", name, BUSYBOX, "true")
    assert p.returncode == 125 and "Conflict" in p.stderr, (p.returncode, p.stderr)


def test_rename_conflict(docker, names):
    a, b = names(), names()
    dk_ok("create", "--name", a, BUSYBOX, "true")
    dk_ok("create", "--name", b, BUSYBOX, "true")
    p = docker("rename", a, b)
    assert p.returncode != 0 and "Conflict" in p.stderr, p.stderr


def test_api_status_codes(apiclient, pyclient, name):
    import docker as dockerpy
    with pytest.raises(dockerpy.errors.NotFound) as ei:
        pyclient.containers.get(unknown())
    assert ei.value.status_code == 404
    # The same through the raw API: 404 with Docker's {"message": ...} body.
    r = apiclient.get(apiclient._url("/containers/{0}/json", unknown()))
    assert r.status_code == 404, r.text
    assert "No such container" in r.json()["message"], r.text
    # 409 on a name in use.
    pyclient.containers.create(BUSYBOX, "true", name=name)
    with pytest.raises(dockerpy.errors.APIError) as ei:
        pyclient.containers.create(BUSYBOX, "true", name=name)
    assert ei.value.status_code == 409, ei.value
    assert "Conflict" in str(ei.value)


@pytest.mark.parametrize("body", [b"{not json", b'{"Image": ', b"[1, 2, 3]"])
def test_bad_json_is_400(apiclient, body):
    # docker-py's low-level client is a requests.Session over the unix
    # socket: post a broken body straight to the create endpoint.
    r = apiclient.post(apiclient._url("/containers/create"), data=body,
                       headers={"Content-Type": "application/json"})
    assert r.status_code in bad_request_codes(apiclient), (r.status_code, r.text)
    assert r.json().get("message"), r.text


def test_create_without_image_is_400(apiclient):
    r = apiclient.post(apiclient._url("/containers/create"), data=b"{}",
                       headers={"Content-Type": "application/json"})
    assert r.status_code in bad_request_codes(apiclient), (r.status_code, r.text)
    assert r.json().get("message"), r.text


def test_unknown_endpoint_is_404(apiclient):
    r = apiclient.get(apiclient._url("/no/such/endpoint"))
    assert r.status_code == 404, (r.status_code, r.text)


def test_ping(apiclient):
    assert apiclient.ping() is True
    r = apiclient.get(apiclient.base_url + "/_ping")
    assert r.status_code == 200 and r.text == "OK", r.text
    assert r.headers.get("Api-Version"), r.headers
