"""Helpers of the kill -9 drills (issue 10, slice durable): the simulator's
control API and AWS APIs (botocore), and a SIGKILL of the running backend
followed by a restart with the stack's own configuration and state."""
import json
import os
import signal
import subprocess
import time
import urllib.request

import botocore.session

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUN = os.environ.get("SK_RUN_DIR", "")


def sim_port():
    if os.environ.get("SK_SIM_PORT"):
        return int(os.environ["SK_SIM_PORT"])
    with open(os.path.join(RUN, "ports.env")) as f:
        for line in f:
            if line.startswith("SK_SIM_PORT="):
                return int(line.split("=", 1)[1])
    raise RuntimeError("no SK_SIM_PORT")


def sim(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    rq = urllib.request.Request(f"http://127.0.0.1:{sim_port()}{path}", data=data,
                                method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(rq, timeout=30) as r:
        text = r.read()
    return json.loads(text) if text else None


def fault(**spec):
    sim("POST", "/_sim/faults", spec)


def clear_faults():
    sim("DELETE", "/_sim/faults")


def calls(op):
    return sim("GET", "/_sim/calls").get(op, 0)


def aws(service):
    s = botocore.session.get_session()
    return s.create_client(service, region_name="us-east-1",
                           endpoint_url=f"http://127.0.0.1:{sim_port()}",
                           aws_access_key_id="AKIDSOCKERLESSTEST",
                           aws_secret_access_key="sockerless-test-secret")


def kill_backend():
    """kill -9, as a crash or the OOM killer would; waits for the end."""
    with open(os.path.join(RUN, "backend.pid")) as f:
        pid = int(f.read().strip())
    os.kill(pid, signal.SIGKILL)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)


def restart_backend(extra_env=None, backend=""):
    env = dict(os.environ, SK_RUN=RUN, BUILD=os.environ.get("SK_BUILD", "build"),
               **(extra_env or {}))
    args = [os.path.join(ROOT, "deploy/local.sh"), "restart-backend"]
    if backend:
        args.append(backend)
    subprocess.run(args, env=env, capture_output=True, text=True, timeout=120, check=True)


def wait_until(pred, timeout=40, interval=0.25, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


def wait_calls(op, before, timeout=30):
    wait_until(lambda: calls(op) > before, timeout, 0.05, f"a call of {op}")


def ecs_tasks_of(cid, desired="RUNNING"):
    ecs = aws("ecs")
    found, token = [], None
    while True:
        out = ecs.list_tasks(cluster="sockerless", desiredStatus=desired,
                             **({"nextToken": token} if token else {}))
        if out["taskArns"]:
            tasks = ecs.describe_tasks(cluster="sockerless", tasks=out["taskArns"],
                                       include=["TAGS"])["tasks"]
            found += [t for t in tasks if {"key": "sockerless:container-id", "value": cid}
                      in t.get("tags", [])]
        token = out.get("nextToken")
        if not token:
            return found


def lambda_functions():
    fns, marker = [], None
    lam = aws("lambda")
    while True:
        out = lam.list_functions(**({"Marker": marker} if marker else {}))
        fns += [f["FunctionName"] for f in out["Functions"]]
        marker = out.get("NextMarker")
        if not marker:
            return fns
