"""Cloud Functions v2 and Cloud Run v2 services in the GCP simulator
(gcpsim_functions, gcpsim_services): the stub-function flow of the gcf
backend (generateUploadUrl, PUT of the zip, functions.create, the
service patched to an image, an authenticated invocation), its
refusals, and the data plane on the engine (tests marked engine skip
without SK_ENGINE_HOST / SK_REGISTRY)."""

import io
import json
import os
import time
import zipfile

import pytest

from conftest import PROJECT, REGION, http

PARENT = "/v2/projects/%s/locations/%s" % (PROJECT, REGION)
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
AGENT = os.environ.get("SK_AGENT") or os.path.join(ROOT, "build", "sockerless-agent")
STUB = b"def main(request):\n    return ('not pointed', 503)\n"

needs_engine = pytest.mark.skipif(
    not (os.environ.get("SK_ENGINE_HOST") and os.environ.get("SK_REGISTRY")),
    reason="needs the test bed's engine and registry (SK_ENGINE_HOST, SK_REGISTRY)")


def make_zip(files):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


def wait_op(sim, op, timeout=60):
    deadline = time.time() + timeout
    while not op.get("done"):
        assert time.time() < deadline, op
        time.sleep(0.1)
        r = sim.call("GET", "/v2/" + op["name"])
        assert r.status == 200, r.body
        op = r.json()
    return op


def upload(sim, data=None, ctype="application/zip"):
    r = sim.call("POST", PARENT + "/functions:generateUploadUrl", {})
    assert r.status == 200, r.body
    ans = r.json()
    if data is not False:
        put = http("PUT", ans["uploadUrl"], data if data is not None else
                   make_zip({"main.py": STUB, "requirements.txt": b""}),
                   {"Content-Type": ctype})
        assert put.status == 200, put.body
    return ans


def create(sim, fid, source=None, **extra):
    body = {"buildConfig": {"runtime": "python312", "entryPoint": "main",
                            "source": {"storageSource": (source or upload(sim))["storageSource"]}},
            "serviceConfig": {"maxInstanceCount": 1, "maxInstanceRequestConcurrency": 1,
                              "availableMemory": "256M", "timeoutSeconds": 60},
            "labels": {"sockerless-instance": "test", "sockerless-pool": "1"}}
    body.update(extra)
    r = sim.call("POST", PARENT + "/functions?functionId=" + fid, body)
    return r


def id_token(sim, audience):
    r = sim.token_request({"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                           "assertion": sim.assertion(scope=None, target_audience=audience)})
    assert r.status == 200, r.body
    return r.json()["id_token"]


def test_create_get_list_delete(sim):
    r = create(sim, "fn-basic")
    assert r.status == 200, r.body
    op = r.json()
    assert op["metadata"]["@type"] == \
        "type.googleapis.com/google.cloud.functions.v2.OperationMetadata"
    assert op["metadata"]["verb"] == "create" and not op["done"]
    op = wait_op(sim, op)
    fn = op["response"]
    assert fn["@type"] == "type.googleapis.com/google.cloud.functions.v2.Function"
    assert fn["state"] == "ACTIVE" and fn["environment"] == "GEN_2"
    svc_name = fn["serviceConfig"]["service"]
    assert svc_name == "projects/%s/locations/%s/services/fn-basic" % (PROJECT, REGION)
    assert fn["url"] == fn["serviceConfig"]["uri"]
    assert fn["url"].startswith("http://127.0.0.1:") and fn["url"].endswith("/_svc/fn-basic")
    got = sim.call("GET", PARENT + "/functions/fn-basic").json()
    assert got["state"] == "ACTIVE" and got["url"] == fn["url"]
    svc = sim.call("GET", "/v2/" + svc_name).json()
    assert svc["uri"] == fn["url"] and svc["terminalCondition"]["state"] == "CONDITION_SUCCEEDED"
    listed = sim.call("GET", PARENT + "/functions?filter=" +
                      'labels.sockerless-instance%3D%22test%22').json()["functions"]
    assert "fn-basic" in [f["name"].rsplit("/", 1)[1] for f in listed]
    none = sim.call("GET", PARENT + "/functions?filter=labels.sockerless-instance%3Dother")
    assert none.json().get("functions") == []
    assert create(sim, "fn-basic").status == 409
    op = wait_op(sim, sim.call("DELETE", PARENT + "/functions/fn-basic").json())
    assert "error" not in op
    assert sim.call("GET", PARENT + "/functions/fn-basic").status == 404
    assert sim.call("GET", "/v2/" + svc_name).status == 404


def test_list_pages(sim):
    for i in range(3):
        wait_op(sim, create(sim, "fn-page-%d" % i, labels={"sockerless-instance": "pages"}).json())
    seen, token = [], ""
    while True:
        r = sim.call("GET", PARENT + "/functions?pageSize=2&filter=labels.sockerless-instance"
                     "%3D%22pages%22" + ("&pageToken=" + token if token else "")).json()
        seen += [f["name"].rsplit("/", 1)[1] for f in r["functions"]]
        token = r.get("nextPageToken")
        if not token:
            break
    assert seen == ["fn-page-0", "fn-page-1", "fn-page-2"]
    bad = sim.call("GET", PARENT + "/functions?filter=name%3Dx")
    assert bad.status == 400 and "labels.KEY" in bad.json()["error"]["message"]


@pytest.mark.parametrize("fid,body,word", [
    ("Bad_Id", {}, "function id"),
    ("fn-x", {"buildConfig": {"runtime": "cobol", "entryPoint": "main",
                              "source": {"storageSource": {"object": "x.zip"}}}}, "runtime"),
    ("fn-x", {"buildConfig": {"runtime": "python312",
                              "source": {"storageSource": {"object": "x.zip"}}}}, "entryPoint"),
    ("fn-x", {"buildConfig": {"runtime": "python312", "entryPoint": "main"}}, "storageSource"),
    ("fn-x", {"buildConfig": {"runtime": "python312", "entryPoint": "main",
                              "source": {"storageSource": {"object": "x.zip"}}},
              "serviceConfig": {"timeoutSeconds": 3601}}, "timeoutSeconds"),
    ("fn-x", {"buildConfig": {"runtime": "python312", "entryPoint": "main",
                              "source": {"storageSource": {"object": "x.zip"}}},
              "serviceConfig": {"availableMemory": "64M"}}, "availableMemory"),
    ("fn-x", {"buildConfig": {"runtime": "python312", "entryPoint": "main",
                              "source": {"storageSource": {"object": "x.zip"}}},
              "labels": {"Bad": "x"}}, "label"),
])
def test_create_refusals(sim, fid, body, word):
    r = sim.call("POST", PARENT + "/functions?functionId=" + fid, body)
    assert r.status == 400, r.body
    assert word in r.json()["error"]["message"]


def test_discovery_validation(sim):
    r = sim.call("POST", PARENT + "/functions?functionId=fn-v", {"buildConfig": {"runtim": 1}})
    assert r.status == 400 and r.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert sim.call("POST", PARENT + "/functions:generateUploadUrl", {},
                    token="not-a-token").status == 401


def test_upload_target(sim):
    ans = upload(sim, data=False)
    assert ans["storageSource"]["object"].endswith(".zip")
    url = ans["uploadUrl"]
    assert http("PUT", url, b"not a zip", {"Content-Type": "application/zip"}).status == 400
    assert http("PUT", url, make_zip({"main.py": STUB}),
                {"Content-Type": "text/plain"}).status == 403
    assert http("POST", url, make_zip({"main.py": STUB}),
                {"Content-Type": "application/zip"}).status == 405
    assert http("PUT", url.split("?")[0], make_zip({"main.py": STUB}),
                {"Content-Type": "application/zip"}).status == 403
    assert http("PUT", url, make_zip({"main.py": STUB}),
                {"Content-Type": "application/zip"}).status == 200


@pytest.mark.parametrize("files,word", [
    (None, "does not exist"),
    ({"app.py": STUB}, "missing main.py"),
    ({"main.py": b"def other(r):\n    pass\n"}, "main is not defined"),
])
def test_build_failures(sim, files, word):
    src = upload(sim, data=False if files is None else make_zip(files))
    # A name of its own per case (a hash of the word could repeat, and
    # the simulator then answers 409: the function exists).
    name = "fn-fail-" + "-".join("".join(ch if ch.isalnum() else " " for ch in word).split())
    op = wait_op(sim, create(sim, name, source=src).json())
    assert op["error"]["code"] == 3 and word in op["error"]["message"]
    fn = sim.call("GET", "/v2/" + op["metadata"]["target"]).json()
    assert fn["state"] == "FAILED" and word in fn["stateMessages"][0]["message"]


def test_invocation_auth_and_source_built(sim):
    fn = wait_op(sim, create(sim, "fn-auth").json())["response"]
    url = fn["url"]
    assert http("POST", url, b"{}").status == 401
    wrong = id_token(sim, "http://127.0.0.1:1/_svc/other")
    assert http("POST", url, b"{}", {"Authorization": "Bearer " + wrong}).status == 401
    assert http("POST", url, b"{}", {"Authorization": "Bearer " + sim.token()}).status == 401
    good = id_token(sim, url)
    r = http("POST", url, b"{}", {"Authorization": "Bearer " + good})
    assert r.status == 500 and b"built from source" in r.body
    assert http("POST", url.rsplit("/", 1)[0] + "/nosuch", b"{}",
                {"Authorization": "Bearer " + good}).status == 404


def test_service_patch_refusals(sim):
    fn = wait_op(sim, create(sim, "fn-patch").json())["response"]
    svc = sim.call("GET", "/v2/" + fn["serviceConfig"]["service"]).json()
    t = svc["template"]
    t["containers"][0]["env"] = [{"name": "PORT", "value": "1"}]
    r = sim.call("PATCH", "/v2/" + svc["name"], {"template": t})
    assert r.status == 400 and "reserved" in r.json()["error"]["message"]
    t["containers"][0]["env"] = []
    t["timeout"] = "7200s"
    r = sim.call("PATCH", "/v2/" + svc["name"], {"template": t})
    assert r.status == 400 and "3600s" in r.json()["error"]["message"]
    r = sim.call("PATCH", "/v2/" + svc["name"], {"template": svc["template"], "etag": '"old"'})
    assert r.status == 409


def test_function_patch_redeploys_the_stub(sim):
    fn = wait_op(sim, create(sim, "fn-redeploy").json())["response"]
    rev = fn["serviceConfig"]["revision"]
    op = sim.call("PATCH", PARENT + "/functions/fn-redeploy?updateMask=labels",
                  {"labels": {"sockerless-instance": "test", "x": "y"}}).json()
    assert op["metadata"]["verb"] == "update"
    fn2 = wait_op(sim, op)["response"]
    assert fn2["labels"]["x"] == "y" and fn2["serviceConfig"]["revision"] != rev


def test_calls_counted(sim):
    sim.post("/_sim/calls/reset")
    upload(sim)
    calls = sim.get("/_sim/calls").json()
    assert calls.get("cloudfunctions.projects.locations.functions.generateUploadUrl") == 1


# The data plane on the engine.

def agent_image(tag):
    """An image with the static agent as an HTTP runtime over busybox,
    built on the simulator's engine and pushed to the bed's registry."""
    import docker
    import tarfile
    registry = os.environ["SK_REGISTRY"]
    client = docker.DockerClient(base_url=os.environ["SK_ENGINE_HOST"], version="1.41")
    # where the simulated Artifact Registry keeps <project>/<repo>/<image>
    ref = "%s/%s/sockerless/gcf-test:%s" % (registry, PROJECT, tag)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        df = ("FROM %s/library/busybox:latest\nCOPY agent /sockerless/agent\n"
              "ENTRYPOINT [\"/sockerless/agent\", \"--\"]\nCMD [\"sh\", \"-c\", "
              "\"echo hello; echo oops >&2\"]\n" % registry).encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(df)
        tar.addfile(info, io.BytesIO(df))
        tar.add(AGENT, "agent")
    buf.seek(0)
    client.images.build(fileobj=buf, custom_context=True, tag=ref, network_mode="host")
    client.images.push(ref)
    return "%s-docker.pkg.dev/%s/sockerless/gcf-test:%s" % (REGION, PROJECT, tag)


def point(sim, fn, image, env=None, timeout="60s"):
    svc = sim.call("GET", "/v2/" + fn["serviceConfig"]["service"]).json()
    t = svc["template"]
    t["containers"][0]["image"] = image
    t["containers"][0]["env"] = [{"name": k, "value": v} for k, v in (env or {}).items()]
    t["timeout"] = timeout
    r = sim.call("PATCH", "/v2/" + svc["name"], {"template": t})
    assert r.status == 200, r.body
    return wait_op(sim, r.json())


@needs_engine
@pytest.mark.skipif(not os.access(AGENT, os.X_OK), reason="agent not built")
def test_pointed_function_runs_the_agent(sim):
    image = agent_image("v1")
    fn = wait_op(sim, create(sim, "fn-run").json())["response"]
    op = point(sim, fn, image, {"SOCKERLESS_HTTP_RUNTIME": "1", "GREETING": "hi"})
    assert "error" not in op, op
    assert op["response"]["latestReadyRevision"].endswith(op["response"]["generation"].zfill(5)
                                                          + op["response"]
                                                          ["latestReadyRevision"][-4:])
    tok = {"Authorization": "Bearer " + id_token(sim, fn["url"]),
           "Content-Type": "application/json"}
    r = http("POST", fn["url"], b"{}", tok, timeout=120)
    assert r.status == 200, r.body
    env = r.json()
    assert env["exitCode"] == 0
    r = http("POST", fn["url"], json.dumps({"argv": ["sh", "-c", "echo $GREETING; exit 7"],
                                            "container": "c1"}).encode(), tok, timeout=60)
    env = r.json()
    assert env["exitCode"] == 7 and env["errorMessage"] == "exit status 7"
    # the instance's output is in Cloud Logging as Cloud Run writes it
    svc_id = "fn-run"
    flt = 'resource.type="cloud_run_revision" AND resource.labels.service_name="%s"' % svc_id
    deadline, texts = time.time() + 30, []
    while time.time() < deadline:
        r = sim.call("POST", "/v2/entries:list", {"resourceNames": ["projects/" + PROJECT],
                                                  "filter": flt, "pageSize": 1000})
        entries = r.json().get("entries", [])
        texts = [(e["logName"].rsplit("%2F", 1)[1], e.get("textPayload")) for e in entries]
        if ("stdout", "hi") in texts and ("stderr", "oops") in texts:
            break
        time.sleep(1)
    assert ("stdout", "hi") in texts and ("stderr", "oops") in texts
    assert any("container c1 request" in t for _, t in texts)


@needs_engine
def test_bad_image_fails_the_rollout(sim):
    fn = wait_op(sim, create(sim, "fn-badimg").json())["response"]
    op = point(sim, fn, "%s-docker.pkg.dev/%s/sockerless/nosuch:v9" % (REGION, PROJECT))
    assert op["error"]["code"] == 9 and "not found" in op["error"]["message"]
    svc = sim.call("GET", "/v2/" + fn["serviceConfig"]["service"]).json()
    assert svc["terminalCondition"]["state"] == "CONDITION_FAILED"


@needs_engine
@pytest.mark.skipif(not os.access(AGENT, os.X_OK), reason="agent not built")
def test_busy_timeout_and_scale_to_zero(fresh_sim, monkeypatch):
    import threading
    import docker
    monkeypatch.setenv("GCPSIM_SERVICE_IDLE", "2")
    sim = fresh_sim()
    image = agent_image("v1")
    fn = wait_op(sim, create(sim, "fn-busy").json())["response"]
    assert "error" not in point(sim, fn, image, {"SOCKERLESS_HTTP_RUNTIME": "1"}, "3s")
    tok = {"Authorization": "Bearer " + id_token(sim, fn["url"])}
    slow = json.dumps({"argv": ["sh", "-c", "sleep 2; echo slow"]}).encode()
    res = {}
    t = threading.Thread(target=lambda: res.update(r=http("POST", fn["url"], slow, tok, 60)))
    t.start()
    engine = docker.DockerClient(base_url=os.environ["SK_ENGINE_HOST"], version="1.41")

    def instances():
        return engine.containers.list(ignore_removed=True,
                                      filters={"label": "gcpsim.service=fn-busy"})
    deadline = time.time() + 30
    while not instances() and time.time() < deadline:
        time.sleep(0.1)
    # one instance, one request at a time: the second finds none free
    assert http("POST", fn["url"], b"{}", tok).status == 429
    t.join(60)
    assert res["r"].status == 200 and res["r"].json()["exitCode"] == 0
    # past the service's request timeout (3s): 504
    stuck = json.dumps({"argv": ["sh", "-c", "sleep 6"]}).encode()
    assert http("POST", fn["url"], stuck, tok, 60).status == 504
    # idle instances go away (scale to zero), and come back on demand
    deadline = time.time() + 30
    while instances() and time.time() < deadline:
        time.sleep(0.5)
    assert not instances()
    assert http("POST", fn["url"], b"{}", tok, 60).status == 200
    wait_op(sim, sim.call("DELETE", PARENT + "/functions/fn-busy").json())
    assert not instances()


def test_functions_survive_a_restart(fresh_sim):
    s = fresh_sim()
    wait_op(s, create(s, "fn-persist").json())
    s.stop()
    s.start()
    got = s.call("GET", PARENT + "/functions/fn-persist").json()
    assert got["state"] == "ACTIVE"
    # the data plane has a port of its own per run: the URLs follow it
    svc = s.call("GET", "/v2/" + got["serviceConfig"]["service"]).json()
    assert got["url"] == svc["uri"] == got["serviceConfig"]["uri"]
    assert got["url"].endswith("/_svc/fn-persist")
    r = http("POST", got["url"], b"{}", {"Authorization": "Bearer " + id_token(s, got["url"])})
    assert r.status == 500 and b"built from source" in r.body
