"""Restarts of the cloudrun backend (docs/backend-cloudrun.md, "Restarts"):
a job labelled with this instance that the state does not know is
reported, and deleted with `cloudrun.orphans: stop`; a start cut short by
a restart (the `jobs.run` answer never reached the backend) is adopted by
the execution it made; an unused job is deleted after `cloudrun.job_idle`;
a directory under the volume prefix that no volume names is reported, and
deleted with `orphans: stop` (a volume's own is kept).
The backend is restarted with its configuration swapped through the
environment (SOCKERLESS_CLOUDRUN_*), and put back afterwards."""
import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e_gcf"))

from e2e_lib import BUSYBOX, wait_for  # noqa: E402

RUN = os.environ.get("SK_RUN_DIR", "")
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
JOBS = "v2/projects/sockerless-local/locations/us-central1/jobs"

pytestmark = pytest.mark.skipif(not RUN, reason="needs SK_RUN_DIR (the local stack)")


def _restart(**env):
    e = dict(os.environ, SK_RUN=RUN, **env)
    if os.environ.get("SK_BUILD"):
        e["BUILD"] = os.environ["SK_BUILD"]
    p = subprocess.run([os.path.join(ROOT, "deploy", "local.sh"), "restart-backend",
                        "cloudrun"], env=e, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr


def _kill_backend():
    with open(os.path.join(RUN, "backend.pid")) as f:
        pid = int(f.read().strip())
    os.kill(pid, signal.SIGKILL)

    def gone():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False
    wait_for(gone, timeout=30, what="the backend's end")


def _api(method, path, body=None, raw=None):
    """(status, JSON) of a Google API call to the simulator (raw: bytes of
    a media upload)."""
    from gcf_lib import grant, sim_url
    token = grant(scope="https://www.googleapis.com/auth/cloud-platform")
    data = json.dumps(body).encode() if body is not None else raw
    req = urllib.request.Request(f"{sim_url()}/{path}", data=data, method=method,
                                 headers={"Authorization": "Bearer " + token,
                                          "Content-Type": "application/json" if raw is None
                                          else "application/octet-stream"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def _jobs():
    status, out = _api("GET", JOBS + "?pageSize=100")
    assert status == 200, out
    return out.get("jobs", [])


def _job_of_args(args):
    """The job whose container runs args (a unique command)."""
    for j in _jobs():
        for c in j["template"]["template"]["containers"]:
            if c.get("args") == args:
                return j
    return None


def _job_exists(job_id):
    return _api("GET", f"{JOBS}/{job_id}")[0] == 200


def _executions_of(cid):
    found = []
    for j in _jobs():
        status, out = _api("GET", "v2/" + j["name"] + "/executions?pageSize=100")
        for ex in out.get("executions", []) if status == 200 else []:
            ctr = ex["template"]["containers"][0]
            if {"name": "SOCKERLESS_CONTAINER_ID", "value": cid} in ctr.get("env", []):
                found.append(ex["name"])
    return found


def _log_offset():
    return os.path.getsize(os.path.join(RUN, "backend.log"))


def _log_since(off):
    with open(os.path.join(RUN, "backend.log"), errors="replace") as f:
        f.seek(off)
        return f.read()


def _orphan_job(docker):
    """A job labelled with this instance that the state does not know: made
    through the API as a copy of one the backend made."""
    args = ["echo", "orphan-" + uuid.uuid4().hex[:8]]
    docker("run", "--rm", BUSYBOX, *args, check=True, timeout=300)
    ours = _job_of_args(args)
    assert ours is not None
    job_id = "sk-orphan-" + uuid.uuid4().hex[:12]
    body = {"labels": ours["labels"], "template": ours["template"]}
    status, out = _api("POST", f"{JOBS}?jobId={job_id}", body)
    assert status == 200, out
    wait_for(lambda: _job_exists(job_id), timeout=60, what=f"job {job_id}")
    return job_id


def test_orphan_job_is_reported_then_deleted_with_orphans_stop(docker):
    job_id = _orphan_job(docker)
    try:
        off = _log_offset()
        _restart()
        want = f"orphaned Cloud Run job {job_id} is not in this backend's state"
        wait_for(lambda: want in _log_since(off), timeout=60, what="the orphan's report")
        assert "deleting it" not in _log_since(off).split(want, 1)[1].split("\n", 1)[0]
        assert _job_exists(job_id)
        _restart(SOCKERLESS_CLOUDRUN_ORPHANS="stop", SOCKERLESS_CLOUDRUN_JOB_IDLE="1")
        wait_for(lambda: not _job_exists(job_id), timeout=90, what=f"{job_id} deleted")
    finally:
        _api("DELETE", f"{JOBS}/{job_id}")
        _restart()


def test_idle_job_is_deleted_after_job_idle(docker):
    _restart(SOCKERLESS_CLOUDRUN_JOB_IDLE="2")
    try:
        args = ["echo", "idle-" + uuid.uuid4().hex[:8]]
        p = docker("run", "--rm", BUSYBOX, *args, timeout=300)
        assert (p.returncode, p.stdout) == (0, args[1] + "\n"), p.stderr
        job = _job_of_args(args)
        assert job is not None
        job_id = job["name"].rsplit("/", 1)[1]
        wait_for(lambda: not _job_exists(job_id), timeout=90, what=f"idle {job_id} deleted")
    finally:
        _restart()


def test_start_cut_short_by_a_restart_is_adopted(docker, name):
    from gcf_lib import sim_url
    method = "run.projects.locations.jobs.run"

    def calls():
        with urllib.request.urlopen(sim_url() + "/_sim/calls", timeout=30) as r:
            return json.load(r).get(method, 0)

    cid = docker("create", "--name", name, BUSYBOX, "sh", "-c", "sleep 2; exit 7",
                 check=True, timeout=300).stdout.strip()
    before = calls()
    req = urllib.request.Request(sim_url() + "/_sim/faults", method="POST",
                                 data=json.dumps({"method": method, "latency_ms": 5000,
                                                  "count": 1}).encode(),
                                 headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=30).read()
    env = dict(os.environ, DOCKER_HOST=os.environ.get("SK_DOCKER_HOST", ""))
    start = subprocess.Popen(["docker", "start", name], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: calls() > before, timeout=120, what="the jobs.run call")
        _kill_backend()
        # The held-back run lands after the backend went: the execution
        # exists, its answer reached nobody.
        wait_for(lambda: _executions_of(cid), timeout=60, what="the execution of the start")
        off = _log_offset()
        _restart()
        start.communicate(timeout=120)
        p = docker("wait", name, timeout=120)
        assert p.stdout.strip() == "7", (p.stdout, p.stderr)
        assert f"container {cid[:12]}: re-adopted execution" in _log_since(off)
    finally:
        if start.poll() is None:
            start.kill()
            start.wait()
        req = urllib.request.Request(sim_url() + "/_sim/faults", method="DELETE")
        urllib.request.urlopen(req, timeout=30).read()


BUCKET = "sockerless-volumes"
VOLS = "sockerless/volumes"


def _objects(directory):
    q = urllib.parse.quote(directory + "/", safe="")
    status, out = _api("GET", f"storage/v1/b/{BUCKET}/o?prefix={q}")
    assert status == 200, out
    return [o["name"] for o in out.get("items", [])]


def _upload(name, data):
    q = urllib.parse.quote(name, safe="")
    status, out = _api("POST", f"upload/storage/v1/b/{BUCKET}/o?uploadType=media&name={q}",
                       raw=data)
    assert status == 200, out


def test_orphan_volume_directory_is_reported_then_deleted(docker):
    v = "skorph-" + uuid.uuid4().hex[:10]
    keep = "skkeep-" + uuid.uuid4().hex[:10]
    d = f"{VOLS}/{v}"
    # what a create whose record was lost leaves: the placeholder, a file
    _upload(d + "/", b"")
    _upload(d + "/file.txt", b"left behind\n")
    docker("volume", "create", keep, check=True, timeout=120)
    try:
        off = _log_offset()
        _restart()
        want = (f"orphaned volume directory gs://{BUCKET}/{d}/ (volume {v}) is not in "
                "this instance's state")
        wait_for(lambda: want in _log_since(off), timeout=60, what="the orphan's report")
        assert f"(volume {keep})" not in _log_since(off)
        assert sorted(_objects(d)) == [d + "/", d + "/file.txt"]
        _restart(SOCKERLESS_CLOUDRUN_ORPHANS="stop")
        wait_for(lambda: not _objects(d), timeout=60, what=f"gs://{BUCKET}/{d}/ deleted")
        assert _objects(f"{VOLS}/{keep}") == [f"{VOLS}/{keep}/"]
    finally:
        _restart()
        docker("volume", "rm", "-f", keep)
        for o in _objects(d):
            _api("DELETE", f"storage/v1/b/{BUCKET}/o/" + urllib.parse.quote(o, safe=""))
