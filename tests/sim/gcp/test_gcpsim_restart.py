"""A restarted simulator keeps its keys (the key file stays valid), the
tokens it issued, its operations and its log entries."""

from conftest import PROJECT

LIST = "/v2/entries:list"


def test_state_survives_restart(fresh_sim):
    s = fresh_sim()
    token = s.token()
    entry = {"logName": "projects/%s/logs/x" % PROJECT, "resource": {"type": "global"},
             "textPayload": "kept", "timestamp": "2026-12-05T10:00:00Z"}
    assert s.call("POST", "/v2/entries:write", {"entries": [entry]}).status == 200
    base = "/v1/projects/%s/locations/us-central1/repositories" % PROJECT
    op = s.call("POST", base + "?repositoryId=kept", {"format": "DOCKER"}).json()
    key = s.key()
    s.stop()
    s.start()
    assert s.key()["private_key_id"] == key["private_key_id"]
    got = s.call("POST", LIST, {"resourceNames": ["projects/%s" % PROJECT]}, token=token)
    assert got.status == 200 and got.json()["entries"][0]["textPayload"] == "kept"
    assert s.call("GET", "/v1/" + op["name"], token=token).json()["done"] is True
    assert s.call("GET", base + "/kept", token=token).status == 200
    s._token = None
    assert s.token()  # the same key file still signs valid assertions
