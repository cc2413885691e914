"""The fault drill (issue 10): with 20% of the ECS and CloudWatch Logs calls
throttled or failing with a 5xx, and latency on top, concurrent `docker run
--rm` each either print their whole output and exit with their status, or
fail with a clear error and a non-zero status; none hangs; afterwards
nothing the drill made is left running in the simulated ECS or listed by
docker. Bounded: ROUNDS x CONCURRENT runs, each with its own timeout."""
import concurrent.futures
import os
import time
import uuid

import pytest

from e2e_lib import BUSYBOX, TARGET, dk, sim_url
from e2e_lib import sim_call as sim

CONCURRENT = 8
ROUNDS = 3
RUN_TIMEOUT = 300  # a hang, not a slow run (faults and latency included)

# Deploy/local.sh's simulated account (deploy/local.sh).
REGION, AKID, SECRET, CLUSTER = ("us-east-1", "AKIDSOCKERLESSTEST",
                                 "sockerless-test-secret", "sockerless")


def faults(seed):
    """20% of the calls of each service fail (half throttled, half 503),
    each with latency; a third of the others are slow."""
    out = []
    for i, svc in enumerate(("ecs", "logs")):
        out += [
            {"service": svc, "error": "ThrottlingException", "status": 400,
             "probability": 0.1, "count": None, "latency_ms": 200, "seed": seed + 3 * i},
            {"service": svc, "error": "ServiceUnavailableException", "status": 503,
             "probability": 0.1 / 0.9, "count": None, "latency_ms": 100,
             "seed": seed + 3 * i + 1},
            {"service": svc, "latency_ms": 150, "probability": 1 / 3, "count": None,
             "seed": seed + 3 * i + 2},
        ]
    return out


def ecs_client():
    import botocore.config
    import botocore.session
    return botocore.session.get_session().create_client(
        "ecs", region_name=REGION, endpoint_url=sim_url(),
        aws_access_key_id=AKID, aws_secret_access_key=SECRET,
        config=botocore.config.Config(retries={"max_attempts": 10, "mode": "standard"}))


def live_tasks_tagged(ecs, key, value):
    """Tasks of the cluster not STOPPED that carry the tag key=value (the
    ECS backend copies a container's labels to its task's tags)."""
    arns = []
    for status in ("RUNNING", "STOPPED"):
        token = None
        while True:
            kw = {"cluster": CLUSTER, "desiredStatus": status}
            if token:
                kw["nextToken"] = token
            out = ecs.list_tasks(**kw)
            arns += out.get("taskArns", [])
            token = out.get("nextToken")
            if not token:
                break
    live = []
    for i in range(0, len(arns), 100):
        out = ecs.describe_tasks(cluster=CLUSTER, tasks=arns[i:i + 100], include=["TAGS"])
        for t in out.get("tasks", []):
            tags = {x.get("key"): x.get("value") for x in t.get("tags", [])}
            if tags.get(key) == value and t.get("lastStatus") != "STOPPED":
                live.append((t["taskArn"], t.get("lastStatus")))
    return live


def one_run(drill, rnd, i):
    code = 10 + rnd * CONCURRENT + i
    lines = [f"drill {drill} run {rnd}.{i} line {k}" for k in range(3)]
    script = "; ".join(f"echo '{s}'" for s in lines) + f"; exit {code}"
    started = time.monotonic()
    p = dk("run", "--rm", "--label", f"sk.drill={drill}", BUSYBOX, "sh", "-c", script,
           timeout=RUN_TIMEOUT)
    return code, "".join(s + "\n" for s in lines), p, time.monotonic() - started


@pytest.mark.skipif(TARGET != "sockerless" or os.environ.get("SK_BACKEND", "ecs") != "ecs",
                    reason="needs sockerless on ECS and its AWS simulator")
def test_fault_drill():
    if not sim_url():
        pytest.skip("the AWS simulator's port is unknown (SK_SIM_PORT / SK_RUN_DIR)")
    drill = uuid.uuid4().hex[:12]
    results = []
    sim("DELETE", "/_sim/faults")
    sim("POST", "/_sim/faults", faults(int(drill[:6], 16)))
    try:
        with concurrent.futures.ThreadPoolExecutor(CONCURRENT) as pool:
            for rnd in range(ROUNDS):
                futs = [pool.submit(one_run, drill, rnd, i) for i in range(CONCURRENT)]
                results += [f.result() for f in futs]
    finally:
        sim("DELETE", "/_sim/faults")
    secs = sorted(r[3] for r in results)
    whole_n = sum(1 for code, want, p, _ in results
                  if p.returncode == code and p.stdout == want)
    print(f"fault drill: {len(results)} runs, {whole_n} whole, "
          f"{len(results) - whole_n} not; run time median {secs[len(secs) // 2]:.1f} s, "
          f"max {secs[-1]:.1f} s; sim calls {sim('GET', '/_sim/calls')}")
    bad = []
    for code, want, p, secs in results:
        whole = p.returncode == code and p.stdout == want
        failed_clearly = p.returncode != 0 and p.returncode != code and p.stderr.strip()
        if not (whole or failed_clearly):
            bad.append((code, p.returncode, p.stdout, p.stderr, round(secs, 1)))
    assert not bad, f"{len(bad)} of {len(results)} runs wrong: {bad}"
    # Nothing left behind: --rm removed every container, no task runs on.
    left = dk("ps", "-aq", "--filter", f"label=sk.drill={drill}").stdout.split()
    assert left == [], left
    ecs = ecs_client()
    deadline = time.monotonic() + 60
    while True:
        live = live_tasks_tagged(ecs, "sk.drill", drill)
        if not live or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert live == [], live
