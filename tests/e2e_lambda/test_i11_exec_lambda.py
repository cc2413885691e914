"""Issue 11, exec on Lambda: no exec can exist on a backend without exec,
so an exec id is unknown there, and /exec/{id}/json, /start and /resize
answer dockerd's 404 `No such exec instance: <id>` (the 501 belongs to the
exec's create, on a container that exists)."""
import json

import docker
import pytest

from e2e_lib import HOST

from test_i11_order import call

EXEC_ID = "ab" * 32


def sock():
    return HOST[len("unix://"):]


@pytest.mark.parametrize("method,path,body", [
    ("GET", f"/v1.44/exec/{EXEC_ID}/json", None),
    ("POST", f"/v1.44/exec/{EXEC_ID}/start", b'{"Detach": false, "Tty": false}'),
    ("POST", f"/v1.44/exec/{EXEC_ID}/resize?h=24&w=80", None),
    ("GET", "/exec/i11-no-such-exec/json", None),
])
def test_exec_routes_answer_404_for_any_id(method, path, body):
    status, data = call(sock(), method, path, body=body)
    assert status == 404, (status, data)
    eid = path.split("/exec/")[1].split("/")[0]
    assert json.loads(data) == {"message": f"No such exec instance: {eid}"}


def test_exec_start_with_bad_json_is_still_400():
    # The request is checked before anything else, as everywhere.
    status, data = call(sock(), "POST", f"/v1.44/exec/{EXEC_ID}/start",
                        body=b'{"Detach": ')
    assert status == 400, (status, data)


def test_docker_py_maps_it_to_not_found(apiclient):
    with pytest.raises(docker.errors.NotFound) as e:
        apiclient.exec_inspect(EXEC_ID)
    assert f"No such exec instance: {EXEC_ID}" in str(e.value)

