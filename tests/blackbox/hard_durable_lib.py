"""Helpers of the kill -9 drills (issue 10, slice durable): the simulator's
control API and AWS APIs (botocore), and a SIGKILL of the running backend
followed by a restart with the stack's own configuration and state. Waits and
the simulator's control API are e2e_lib's (wait_for, sim_url, sim_call)."""
import os
import signal
import subprocess
import sys
import time

import botocore.session

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from e2e_lib import sim_call, sim_url, wait_for  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUN = os.environ.get("SK_RUN_DIR", "")


def fault(**spec):
    sim_call("POST", "/_sim/faults", spec)


def clear_faults():
    sim_call("DELETE", "/_sim/faults")


def calls(op):
    return sim_call("GET", "/_sim/calls").get(op, 0)


def aws(service):
    s = botocore.session.get_session()
    return s.create_client(service, region_name="us-east-1",
                           endpoint_url=sim_url(),
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


def wait_calls(op, before, timeout=30):
    wait_for(lambda: calls(op) > before, timeout, 0.05, f"a call of {op}")


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
