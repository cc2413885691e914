#!/usr/bin/python3
"""What `docker run --rm busybox true` costs over the cloud's own time, per
backend of the local default, beside dockerd's own `docker run`.

    runfast.py RUNS BACKEND...

Run by bench/run.sh on a stack that deploy/local.sh brought up (SK_RUN,
DOCKER_HOST); each backend is swapped in with `deploy/local.sh
restart-backend`, ecs last, so the stack ends as it began. For each run the
simulator's engine tells the cloud's part: the simulators run every
workload as a container on that engine, so its events (SK_SIM_ENGINE_HOST)
show when the cloud first acted on the run and when the workload's
container started. A function backend (lambda on a warm environment, gcf,
azfunc) runs the workload in an instance that is already up, so the
engine shows no start for it: there the cloud's part is the invocation,
from the container's start event to its die event in Sockerless's own
event stream (the request that runs the workload goes out after the one,
the other comes with its answer). Beside them, the docker CLI's own part
of every run, which counts as overhead: `docker version` against
Sockerless, the client's start, two round trips and its exit. Prints
numbers, asserts nothing."""

import os
import statistics
import subprocess
import sys
import time

import docker

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCKER = os.environ.get("SK_DOCKER_CLI") or "/usr/local/bin/docker"
HOW = ("overhead = median wall time of `docker run --rm busybox true` minus "
       "the median cloud time, which is, on the simulator's engine, from its "
       "first event for the run to the start of the workload's container "
       "(the cloud's control plane before that, the process's own run and "
       "the agent's report count as overhead); for a run in an instance "
       "already up (function backends: no container start on the engine), "
       "the invocation, from the container's start event to its die event "
       "in Sockerless's events (the workload's own run counts as cloud)")


def bed_env():
    env = {}
    with open(os.path.join(os.environ["SK_RUN"], "bed", "bed.env")) as f:
        for line in f:
            key, _, value = line.strip().partition("=")
            if key:
                env[key] = value
    return env


def timed(argv, env=None):
    began = time.time()
    subprocess.run(argv, check=True, env=env, stdout=subprocess.DEVNULL)
    return began, time.time()


def cloud_time(engine, began, ended):
    """Seconds from the engine's first event in [began, ended] to the start
    of the workload's container: the last container started in the run
    (the simulators start their pause containers first) that is not the
    agent's init container. None when it cannot be told."""
    events = [e for e in engine.events(since=int(began), until=int(ended) + 1,
                                       decode=True)
              if began * 1e9 <= e.get("timeNano", 0) <= ended * 1e9]
    starts = [e["timeNano"] for e in events
              if e.get("Type") == "container" and e.get("Action") == "start"
              and "sockerless/agent" not in (e.get("from") or "")]
    if not starts:
        return None
    return (max(starts) - min(e["timeNano"] for e in events)) / 1e9


def invocation_time(front, name, began, ended):
    """Seconds from the start event to the die event of container name in
    Sockerless's events; None when they are not both there."""
    at = {}
    for e in front.events(since=int(began), until=int(ended) + 1, decode=True,
                          filters={"type": "container", "container": name}):
        if e.get("Action") in ("start", "die") and e.get("Action") not in at:
            at[e["Action"]] = e.get("timeNano", 0)
    if "start" not in at or "die" not in at or at["die"] < at["start"]:
        return None
    return (at["die"] - at["start"]) / 1e9


def measure(runs, engine, front):
    """Wall times, cloud times and how many of the latter were
    invocations (no container start on the engine)."""
    walls, clouds, invoked = [], [], 0
    for i in range(runs):
        name = "runfast-%d-%d" % (os.getpid(), i)
        began, ended = timed([DOCKER, "run", "--rm", "--name", name, "busybox", "true"])
        walls.append(ended - began)
        time.sleep(0.3)  # the engine's events of the run are all in
        cloud = cloud_time(engine, began, ended)
        if cloud is None:
            cloud = invocation_time(front, name, began, ended)
            invoked += cloud is not None
        if cloud is not None:
            clouds.append(cloud)
    return walls, clouds, invoked


def client_floor(runs):
    """Median seconds of `docker version` against Sockerless: what the
    docker CLI itself costs in each run (its start and exit), nearly
    none of it the daemon's."""
    walls = []
    for _ in range(runs):
        began, ended = timed([DOCKER, "version"])
        walls.append(ended - began)
    return statistics.median(walls)


def swap(name):
    subprocess.run([os.path.join(ROOT, "deploy", "local.sh"),
                    "restart-backend", name], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def reference(runs, bed):
    """dockerd's own `docker run --rm busybox true` on the test bed."""
    env = dict(os.environ, DOCKER_HOST=bed["SK_ENGINE_HOST"])
    image = bed["SK_REGISTRY"] + "/library/busybox"
    subprocess.run([DOCKER, "pull", "-q", image], check=True, env=env,
                   stdout=subprocess.DEVNULL)
    walls = []
    for _ in range(runs):
        began, ended = timed([DOCKER, "run", "--rm", image, "true"], env=env)
        walls.append(ended - began)
    return statistics.median(walls)


def main(runs, backends):
    bed = bed_env()
    engine = docker.DockerClient(base_url=bed["SK_SIM_ENGINE_HOST"])
    front = docker.DockerClient(base_url=os.environ["DOCKER_HOST"], version="1.44")
    ref = reference(runs, bed)
    print("run overhead: " + HOW)
    print("run overhead: dockerd 20.10 `docker run --rm busybox true`: "
          "%.3f s (median of %d)" % (ref, runs))
    print("run overhead: the docker CLI's own start and exit, in every "
          "overhead below (`docker version` against Sockerless): %.3f s "
          "(median of %d)" % (client_floor(runs), runs))
    order = [b for b in backends if b != "ecs"] + \
        (["ecs"] if "ecs" in backends else [])
    for name in order:
        swap(name)
        subprocess.run([DOCKER, "run", "--rm", "busybox", "true"],
                       check=True)  # warm: definitions, jobs made once
        walls, clouds, invoked = measure(runs, engine, front)
        wall = statistics.median(walls)
        if not clouds:
            print("run overhead: %s: %.3f s per run (median of %d); the "
                  "cloud time could not be read from the engine's events"
                  % (name, wall, runs))
            continue
        cloud = statistics.median(clouds)
        how = ""
        if invoked:
            how = "; cloud = the invocation in %d of %d runs" % (invoked, len(clouds))
        print("run overhead: %s: %.3f s per run, cloud %.3f s, overhead "
              "%.0f ms (medians of %d; dockerd %.3f s%s)"
              % (name, wall, cloud, (wall - cloud) * 1000, runs, ref, how))


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2:])
