"""python3-docker (docker-py 5.0.3), as scripts and CI tools use it."""
import time
import uuid

import docker as dockerpy
import pytest

from e2e_lib import BUSYBOX, RUN_ID, TARGET, TESTIMAGE, pyrun_kwargs


@pytest.fixture
def pynames(pyclient):
    made = []

    def new():
        n = f"ske2e-py-{uuid.uuid4().hex[:10]}"
        made.append(n)
        return n
    yield new
    for n in made:
        try:
            pyclient.containers.get(n).remove(force=True)
        except Exception:
            pass


def test_version(pyclient):
    v = pyclient.version()
    if TARGET == "sockerless":
        assert v["ApiVersion"] == "1.44", v
    # version="auto" negotiated what the server speaks.
    assert pyclient.api.api_version == v["ApiVersion"]
    assert pyclient.ping() is True


def test_run_remove_returns_output(pyclient):
    out = pyclient.containers.run(BUSYBOX, "echo hi", remove=True, **pyrun_kwargs())
    assert out == b"hi\n"


def test_run_nonzero_raises_container_error(pyclient):
    with pytest.raises(dockerpy.errors.ContainerError) as ei:
        pyclient.containers.run(BUSYBOX, ["sh", "-c", "echo bad; exit 9"],
                                remove=True, **pyrun_kwargs())
    assert ei.value.exit_status == 9


def test_run_detach_wait(pyclient, pynames):
    n = pynames()
    c = pyclient.containers.run(BUSYBOX, ["sh", "-c", "echo det; exit 6"], detach=True,
                                name=n, **pyrun_kwargs())
    res = c.wait(timeout=120)
    assert res["StatusCode"] == 6, res
    c.reload()
    assert c.status == "exited" and c.name == n
    assert c.attrs["State"]["ExitCode"] == 6
    assert b"det" in c.logs()
    assert c.labels["sk.e2e.run"] == RUN_ID


def test_image_config_merged(pyclient):
    out = pyclient.containers.run(TESTIMAGE, remove=True, **pyrun_kwargs())
    assert out == b"from-cmd\n"
    out = pyclient.containers.run(TESTIMAGE, ["a", "b"], remove=True, **pyrun_kwargs())
    assert out == b"a b\n"
    out = pyclient.containers.run(TESTIMAGE, entrypoint="env", remove=True,
                                  environment={"EXTRA": "x"}, **pyrun_kwargs())
    lines = out.decode().splitlines()
    assert "TESTVAR=fromimage" in lines and "EXTRA=x" in lines, lines


def test_list_filters_and_stop(pyclient, pynames):
    n = pynames()
    tag = uuid.uuid4().hex[:8]
    kw = pyrun_kwargs()
    kw["labels"] = dict(kw["labels"], **{"e2e.py": tag})
    # Exits on SIGTERM at once, so stop() is quick on every backend.
    c = pyclient.containers.run(
        BUSYBOX, ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"],
        detach=True, name=n, **kw)
    deadline = time.monotonic() + 60
    while c.status != "running" and time.monotonic() < deadline:
        time.sleep(0.25)
        c.reload()
    assert c.status == "running"
    found = pyclient.containers.list(filters={"label": f"e2e.py={tag}"})
    assert [x.id for x in found] == [c.id]
    assert pyclient.containers.list(filters={"name": n, "status": "exited"}) == []
    c.stop(timeout=10)
    c.reload()
    assert c.status == "exited"
    assert pyclient.containers.list(all=True, filters={"label": f"e2e.py={tag}",
                                                       "status": "exited"})[0].id == c.id
    c.remove()
    with pytest.raises(dockerpy.errors.NotFound):
        pyclient.containers.get(n)


def test_images_api(pyclient):
    img = pyclient.images.pull("busybox", tag="latest")
    assert "busybox:latest" in img.tags
    assert any("busybox:latest" in i.tags for i in pyclient.images.list())
    got = pyclient.images.get("busybox")
    assert got.id == img.id and got.attrs["Config"]["Cmd"]
