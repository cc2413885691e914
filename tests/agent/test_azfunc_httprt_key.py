"""The HTTP runtime's key (SOCKERLESS_HTTP_KEY, the azfunc backend): with
the key set every request must carry it in x-functions-key, else 401 and
nothing runs; the runs never see the key in their environment. Reuses
test_gcf_httprt's runtime."""
import json
import os

import pytest

from test_gcf_httprt import AGENT, CID, Runtime, streams  # noqa: F401

pytestmark = pytest.mark.skipif(not os.access(AGENT, os.X_OK),
                                reason=f"{AGENT} not built")

KEY = "k" * 20 + "0123456789abcdef" * 2 + "Z" * 12


@pytest.fixture
def keyed(tmp_path):
    made = []

    def make(cmd):
        rt = Runtime(cmd, {"SOCKERLESS_HTTP_KEY": KEY}, str(tmp_path))
        made.append(rt)
        return rt
    yield make
    for rt in made:
        rt.stop()


@pytest.mark.parametrize("headers", [
    {},
    {"x-functions-key": KEY[:-1]},
    {"x-functions-key": KEY + "x"},
    {"x-functions-key": "Z" + KEY[1:]},
    {"x-functions-key": ""},
    {"x-functions-key": "k" * 300},
    {"Authorization": "Bearer " + KEY},
])
def test_without_the_key_nothing_runs(keyed, tmp_path, headers):
    marker = tmp_path / "ran"
    rt = keyed(["/bin/sh", "-c", "touch %s" % marker])
    status, data = rt.request("POST", {"sockerless": 1, "container": CID},
                              headers=headers)
    assert status == 401
    assert json.loads(data) == {"message": "this runtime needs its key in x-functions-key"}
    assert not marker.exists()
    status, _ = rt.request("GET", headers=headers)
    assert status == 401


def test_with_the_key_it_runs_and_the_run_does_not_see_it(keyed):
    rt = keyed(["/bin/sh", "-c", "echo key=${SOCKERLESS_HTTP_KEY:-none}"])
    status, env = rt.post({"sockerless": 1, "container": CID},
                          headers={"X-Functions-Key": KEY})
    assert status == 200
    assert dict(env)["exitCode"] == 0
    assert streams(env)[1] == b"key=none\n"
    status, data = rt.request("GET", headers={"x-functions-key": KEY})
    assert status == 200
    assert json.loads(data) == {"ready": True}


def test_without_a_key_set_none_is_asked_for(tmp_path):
    rt = Runtime(["/bin/true"], None, str(tmp_path))
    try:
        status, env = rt.post({"sockerless": 1, "container": CID})
        assert status == 200
        assert dict(env)["exitCode"] == 0
    finally:
        rt.stop()
