"""A restart of the simulator keeps its state; shutting it down removes
every container it created; stopped tasks expire."""

import time

from conftest import containers_of, run, task_definition, task_id, wait_status


def test_state_survives_restart(fresh_sim):
    sim = fresh_sim().start()
    ecs, logs = sim.client("ecs"), sim.client("logs")
    ecs.create_cluster(clusterName="keep")
    logs.create_log_group(logGroupName="/keep")
    td = task_definition(ecs, "keep", ["sh", "-c", "echo kept; exit 7"], log_group="/keep")
    done = run(ecs, "keep", td)
    wait_status(ecs, "keep", done["taskArn"], "STOPPED")
    long = run(ecs, "keep", task_definition(ecs, "keep-long", ["sleep", "300"]))
    wait_status(ecs, "keep", long["taskArn"], "RUNNING")
    assert containers_of(sim.engine, sim.state_dir)
    sim.stop()
    # Shut down: the running task's container was stopped and removed.
    assert containers_of(sim.engine, sim.state_dir) == []

    sim.start()
    ecs, logs = sim.client("ecs"), sim.client("logs")
    assert ecs.describe_clusters(clusters=["keep"])["clusters"][0]["status"] == "ACTIVE"
    assert ecs.describe_task_definition(taskDefinition="keep")["taskDefinition"][
        "taskDefinitionArn"] == td
    tasks = {t["taskArn"]: t for t in ecs.describe_tasks(
        cluster="keep", tasks=[done["taskArn"], long["taskArn"]])["tasks"]}
    assert tasks[done["taskArn"]]["containers"][0]["exitCode"] == 7
    assert tasks[done["taskArn"]]["stopCode"] == "EssentialContainerExited"
    assert tasks[long["taskArn"]]["lastStatus"] == "STOPPED"
    assert tasks[long["taskArn"]]["stoppedReason"] == "Simulator shut down"
    events = logs.get_log_events(logGroupName="/keep",
                                 logStreamName="sk/main/" + task_id(done["taskArn"]),
                                 startFromHead=True)["events"]
    assert [e["message"] for e in events] == ["kept"]
    # New revisions continue from the restored ones.
    assert task_definition(ecs, "keep", ["true"]).endswith("/keep:2")
    sim.stop()


def test_stopped_tasks_expire(fresh_sim):
    sim = fresh_sim("--stopped-task-ttl", "1").start()
    ecs = sim.client("ecs")
    ecs.create_cluster(clusterName="ttl")
    task = run(ecs, "ttl", task_definition(ecs, "ttl", ["true"]))
    wait_status(ecs, "ttl", task["taskArn"], "STOPPED")
    deadline = time.time() + 10
    while time.time() < deadline:
        out = ecs.describe_tasks(cluster="ttl", tasks=[task["taskArn"]])
        if out["failures"]:
            break
        time.sleep(0.2)
    assert out["failures"] == [{"arn": task["taskArn"], "reason": "MISSING"}]
    assert ecs.list_tasks(cluster="ttl", desiredStatus="STOPPED")["taskArns"] == []
    # The reaper forgets the task first and removes its containers after,
    # outside the lock: on a loaded machine that takes a moment.
    deadline = time.time() + 30
    while containers_of(sim.engine, sim.state_dir) and time.time() < deadline:
        time.sleep(0.2)
    assert containers_of(sim.engine, sim.state_dir) == []
    sim.stop()


def test_crash_recovery(fresh_sim):
    """After a kill -9 the next start removes the orphaned containers and
    reports the tasks that were running as STOPPED."""
    sim = fresh_sim().start()
    ecs = sim.client("ecs")
    ecs.create_cluster(clusterName="crash")
    task = run(ecs, "crash", task_definition(ecs, "crash", ["sleep", "300"]))
    wait_status(ecs, "crash", task["taskArn"], "RUNNING")
    sim.proc.kill()
    sim.proc.wait()
    sim.proc = None
    sim.log.close()
    assert containers_of(sim.engine, sim.state_dir)
    sim.start()
    assert containers_of(sim.engine, sim.state_dir) == []
    ecs = sim.client("ecs")
    final = ecs.describe_tasks(cluster="crash", tasks=[task["taskArn"]])["tasks"][0]
    assert final["lastStatus"] == "STOPPED" and final["desiredStatus"] == "STOPPED"
    assert final["stopCode"] in ("TaskFailedToStart", "EssentialContainerExited")
    assert "restarted" in final["stoppedReason"]
    assert "exitCode" not in final["containers"][0]
    sim.stop()


def test_log_events_saved_by_appending(fresh_sim):
    """Each stream's events go to their own append-only file: a save writes
    what was added since the last one, state.json holds none of them, a
    deleted stream's file goes, and a restart reads them back in order."""
    import json
    import os

    sim = fresh_sim().start()
    logs = sim.client("logs")
    logs.create_log_group(logGroupName="/app")
    logs.create_log_stream(logGroupName="/app", logStreamName="a")
    logs.create_log_stream(logGroupName="/app", logStreamName="gone")
    base = int(time.time() * 1000)
    logs.put_log_events(logGroupName="/app", logStreamName="a",
                        logEvents=[{"timestamp": base, "message": "one"},
                                   {"timestamp": base + 1, "message": "two"}])
    logs.put_log_events(logGroupName="/app", logStreamName="gone",
                        logEvents=[{"timestamp": base, "message": "bye"}])
    store = os.path.join(sim.state_dir, "logs")

    def saved():
        try:
            return "".join(open(os.path.join(store, n)).read() for n in os.listdir(store))
        except FileNotFoundError:
            return ""
    deadline = time.time() + 60
    while ("two" not in saved() or "bye" not in saved()) and time.time() < deadline:
        time.sleep(0.2)
    assert "two" in saved() and "bye" in saved()
    logs.put_log_events(logGroupName="/app", logStreamName="a",
                        logEvents=[{"timestamp": base + 2, "message": "three"}])
    logs.delete_log_stream(logGroupName="/app", logStreamName="gone")
    sim.stop()
    state = open(os.path.join(sim.state_dir, "state.json")).read()
    assert "two" not in state and "three" not in state
    # Appended, never rewritten: each event once.
    assert saved().count('"one"') == 1 and saved().count('"three"') == 1
    json.loads(state)

    sim.start()
    logs = sim.client("logs")
    events = logs.get_log_events(logGroupName="/app", logStreamName="a",
                                 startFromHead=True)["events"]
    assert [e["message"] for e in events] == ["one", "two", "three"]
    names = [s["logStreamName"] for s in logs.describe_log_streams(
        logGroupName="/app")["logStreams"]]
    assert names == ["a"]
    assert "bye" not in saved()
    sim.stop()
