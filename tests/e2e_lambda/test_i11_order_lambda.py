"""Issue 11, item 6 on Lambda: an operation Lambda cannot do, on a container
that does not exist, is dockerd's 404, not the capability's 501; on one that
exists it stays the 501."""
import json

from e2e_lib import HOST, RUN_LABEL, dk, dk_ok

from test_i11_order import call


def sock():
    return HOST[len("unix://"):]


def test_exec_on_unknown_container_is_404():
    status, body = call(sock(), "POST", "/v1.44/containers/i11-no-such-ctr/exec",
                        body=b'{"Cmd": ["true"]}')
    assert status == 404, body
    assert json.loads(body)["message"] == "No such container: i11-no-such-ctr"
    r = dk("exec", "i11-no-such-ctr", "true")
    assert r.returncode != 0
    assert "No such container: i11-no-such-ctr" in r.stderr, r.stderr


def test_exec_on_existing_container_is_501():
    cid = dk_ok("create", "--label", RUN_LABEL, "busybox", "true").strip()
    try:
        status, body = call(sock(), "POST", f"/v1.44/containers/{cid}/exec",
                            body=b'{"Cmd": ["true"]}')
        assert status == 501, body
        assert "does not support exec" in json.loads(body)["message"]
    finally:
        dk("rm", "-f", cid)
