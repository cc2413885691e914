"""Cloud Run job executions on the simulator's engine: exit codes, the
task's lastAttemptResult, the execution's counters and conditions, logs
apart by stream in Cloud Logging, cancel, the task timeout, maxRetries, the
job's environment and a pull failure."""

import re
import time

from gcpsim_run_testlib import LOG_STDERR, LOG_STDOUT, PARENT, error_of, gsim  # noqa: F401


def _run(gsim, job_id, script, **kw):
    gsim.create_job(job_id, command=["sh", "-c", script], **kw)
    op = gsim.run_job(job_id)
    assert op["metadata"]["@type"] == "type.googleapis.com/google.cloud.run.v2.Execution"
    execution = op["metadata"]["name"]
    assert execution.startswith("%s/jobs/%s/executions/%s-" % (PARENT, job_id, job_id))
    return execution, gsim.wait_op(op)


def _condition(resource, kind):
    return [c for c in resource["conditions"] if c["type"] == kind][0]


def test_exit_zero(gsim):
    execution, op = _run(gsim, "exit-zero", "echo out; echo err >&2")
    assert "error" not in op
    assert op["response"]["name"] == execution
    ex = gsim.call("GET", "/v2/" + execution)
    assert ex["succeededCount"] == 1 and "failedCount" not in ex
    assert ex["completionTime"] >= ex["startTime"] >= ex["createTime"]
    assert _condition(ex, "Completed")["state"] == "CONDITION_SUCCEEDED"
    assert _condition(ex, "ResourcesAvailable")["state"] == "CONDITION_SUCCEEDED"
    assert _condition(ex, "Started")["state"] == "CONDITION_SUCCEEDED"
    assert ex["reconciling"] is False
    (task,) = gsim.tasks(execution)
    assert "exitCode" not in task["lastAttemptResult"]    # proto3 JSON omits 0
    assert task["lastAttemptResult"]["status"] == {}
    assert "index" not in task and "retried" not in task
    job = gsim.call("GET", "/v2/%s/jobs/exit-zero" % PARENT)
    assert job["executionCount"] == 1
    assert job["latestCreatedExecution"]["name"] == execution
    assert job["latestCreatedExecution"]["completionStatus"] == "EXECUTION_SUCCEEDED"


def test_exit_codes(gsim):
    for job_id, script, code in (("exit-three", "exit 3", 3),
                                 ("exit-killed", "sh -c 'kill -9 $$'; exit $?", 137)):
        execution, op = _run(gsim, job_id, script)
        assert op["error"]["message"].startswith("Task %s-task0 failed"
                                                 % execution.rsplit("/", 1)[1]), op
        ex = gsim.call("GET", "/v2/" + execution)
        assert ex["failedCount"] == 1 and "succeededCount" not in ex
        done = _condition(ex, "Completed")
        assert done["state"] == "CONDITION_FAILED"
        assert done["executionReason"] == "NON_ZERO_EXIT_CODE"
        (task,) = gsim.tasks(execution)
        assert task["lastAttemptResult"]["exitCode"] == code
        assert task["lastAttemptResult"]["status"]["code"] != 0


def _entries_until(gsim, job_id, execution, want, deadline=30):
    """Poll Logging until the predicate holds (log lines arrive a little
    after the execution completes)."""
    end = time.time() + deadline
    while True:
        entries = gsim.entries(job_id, execution.rsplit("/", 1)[1])
        if want(entries) or time.time() > end:
            return entries
        time.sleep(0.5)     # gently: Logging has a read quota


def test_logs_apart(gsim):
    script = "echo one; echo two >&2; echo three; echo four >&2; exit 0"
    execution, _ = _run(gsim, "logs-apart", script)
    ex_id = execution.rsplit("/", 1)[1]

    def ready(entries):
        return len([e for e in entries if e["logName"] in (LOG_STDOUT, LOG_STDERR)]) == 4
    entries = _entries_until(gsim, "logs-apart", execution, ready)
    out = [e["textPayload"] for e in entries if e["logName"] == LOG_STDOUT]
    err = [e["textPayload"] for e in entries if e["logName"] == LOG_STDERR]
    assert out == ["one", "three"] and err == ["two", "four"]
    for e in entries:
        assert e["resource"] == {"type": "cloud_run_job", "labels": {
            "project_id": "sockerless-local", "job_name": "logs-apart",
            "location": "us-central1"}}
        assert e["labels"]["run.googleapis.com/execution_name"] == ex_id
        assert e["labels"]["run.googleapis.com/task_index"] == "0"
        assert e["labels"]["run.googleapis.com/task_attempt"] == "0"
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$", e["timestamp"])
        assert e["insertId"]
    assert {e["severity"] for e in entries if e["logName"] == LOG_STDOUT} == {"DEFAULT"}
    assert {e["severity"] for e in entries if e["logName"] == LOG_STDERR} == {"ERROR"}
    system = [e["textPayload"] for e in entries if e["logName"].endswith("%2Fvarlog%2Fsystem")]
    assert system == ["Container called exit(0)."]


def test_environment(gsim):
    script = ('echo "$CLOUD_RUN_JOB $CLOUD_RUN_EXECUTION $CLOUD_RUN_TASK_INDEX '
              '$CLOUD_RUN_TASK_ATTEMPT $CLOUD_RUN_TASK_COUNT $MINE $(pwd)"')
    gsim.create_job("env-job", command=["sh", "-c", script], workingDir="/tmp",
                    env=[{"name": "MINE", "value": "job"}])
    op = gsim.run_job("env-job", {"containerOverrides": [
        {"env": [{"name": "MINE", "value": "override"}]}]})
    execution = op["metadata"]["name"]
    gsim.wait_op(op)
    entries = _entries_until(gsim, "env-job", execution,
                             lambda es: any(e["logName"] == LOG_STDOUT for e in es))
    (line,) = [e["textPayload"] for e in entries if e["logName"] == LOG_STDOUT]
    assert line == "env-job %s 0 0 1 override /tmp" % execution.rsplit("/", 1)[1]


def test_args_override(gsim):
    gsim.create_job("args-job", command=["sh", "-c"], args=["exit 5"])
    op = gsim.run_job("args-job", {"containerOverrides": [{"args": ["exit 6"]}]})
    gsim.wait_op(op)
    (task,) = gsim.tasks(op["metadata"]["name"])
    assert task["lastAttemptResult"]["exitCode"] == 6


def test_max_retries(gsim):
    # Each attempt is a new container: the attempt number counts up.
    execution, op = _run(gsim, "retry-job", 'echo "attempt $CLOUD_RUN_TASK_ATTEMPT"; exit 4',
                         max_retries=2)
    ex = gsim.call("GET", "/v2/" + execution)
    assert ex["retriedCount"] == 2 and ex["failedCount"] == 1
    (task,) = gsim.tasks(execution)
    assert task["retried"] == 2 and task["maxRetries"] == 2
    assert task["lastAttemptResult"]["exitCode"] == 4
    entries = _entries_until(gsim, "retry-job", execution,
                             lambda es: len([e for e in es if e["logName"] == LOG_STDOUT]) == 3)
    out = [(e["textPayload"], e["labels"]["run.googleapis.com/task_attempt"])
           for e in entries if e["logName"] == LOG_STDOUT]
    assert sorted(out) == [("attempt 0", "0"), ("attempt 1", "1"), ("attempt 2", "2")]


def test_retry_then_success(gsim):
    script = '[ "$CLOUD_RUN_TASK_ATTEMPT" = 1 ] && exit 0; exit 1'
    execution, op = _run(gsim, "retry-ok", script, max_retries=3)
    assert "error" not in op
    ex = gsim.call("GET", "/v2/" + execution)
    assert ex["retriedCount"] == 1 and ex["succeededCount"] == 1 and "failedCount" not in ex


def test_timeout(gsim):
    execution, op = _run(gsim, "slow-job", "sleep 600", timeout="1s")
    (task,) = gsim.tasks(execution)
    result = task["lastAttemptResult"]
    assert result["status"]["code"] == 4                 # DEADLINE_EXCEEDED
    assert "timeout of 1 seconds" in result["status"]["message"]
    assert result["termSignal"] == 9 and "exitCode" not in result
    assert gsim.call("GET", "/v2/" + execution)["failedCount"] == 1


def test_cancel(gsim):
    # The shell traps SIGTERM, so the cancel's SIGTERM ends it at once.
    gsim.create_job("cancel-job", command=["sh", "-c",
                                           "trap 'exit 143' TERM; echo up; "
                                           "while true; do sleep 0.1; done"])
    op = gsim.run_job("cancel-job")
    execution = op["metadata"]["name"]
    deadline = time.time() + 60
    while gsim.call("GET", "/v2/" + execution).get("runningCount") != 1:
        assert time.time() < deadline, "the execution never ran"
        time.sleep(0.1)
    cancel = gsim.call("POST", "/v2/%s:cancel" % execution, {})
    assert cancel["metadata"]["name"] == execution
    cancel = gsim.wait_op(cancel)
    assert cancel["response"]["cancelledCount"] == 1
    run = gsim.wait_op(op)
    assert run["error"]["code"] == 1                        # CANCELLED
    ex = gsim.call("GET", "/v2/" + execution)
    done = _condition(ex, "Completed")
    assert done["executionReason"] == "CANCELLED" and ex["cancelledCount"] == 1
    assert "runningCount" not in ex
    again = error_of(gsim.call, "POST", "/v2/%s:cancel" % execution, {})
    assert again.status == 400 and again.error["status"] == "FAILED_PRECONDITION"
    job = gsim.call("GET", "/v2/%s/jobs/cancel-job" % PARENT)
    assert job["latestCreatedExecution"]["completionStatus"] == "EXECUTION_CANCELLED"


def test_task_count(gsim):
    gsim.create_job("many-tasks", command=["sh", "-c", "exit $CLOUD_RUN_TASK_INDEX"])
    op = gsim.run_job("many-tasks", {"taskCount": 3})
    execution = op["metadata"]["name"]
    gsim.wait_op(op)
    tasks = gsim.tasks(execution)
    codes = sorted(t["lastAttemptResult"].get("exitCode", 0) for t in tasks)
    assert codes == [0, 1, 2]
    ex = gsim.call("GET", "/v2/" + execution)
    assert ex["taskCount"] == 3 and ex["succeededCount"] == 1 and ex["failedCount"] == 2
    one = gsim.call("GET", "/v2/" + tasks[1]["name"])
    assert one["name"] == tasks[1]["name"]


def test_pull_failure(gsim):
    gsim.create_job("no-image", image="127.0.0.1:1/nothing/here:latest",
                    command=["true"])
    op = gsim.wait_op(gsim.run_job("no-image"))
    assert op["error"]["message"].startswith("Image '127.0.0.1:1/nothing/here:latest' not "
                                             "found"), op
    ex = gsim.call("GET", "/v2/" + op["metadata"]["name"])
    assert _condition(ex, "ResourcesAvailable")["state"] == "CONDITION_FAILED"
    assert ex["failedCount"] == 1 and "startTime" not in ex


def test_execution_delete_and_list(gsim):
    gsim.create_job("exec-list", command=["true"])
    names = []
    for _ in range(3):
        op = gsim.run_job("exec-list")
        names.append(op["metadata"]["name"])
        gsim.wait_op(op)
    path = "/v2/%s/jobs/exec-list/executions" % PARENT
    first = gsim.call("GET", path + "?pageSize=2")
    assert len(first["executions"]) == 2 and first["nextPageToken"]
    second = gsim.call("GET", path + "?pageSize=2&pageToken=" + first["nextPageToken"])
    assert "nextPageToken" not in second
    listed = [e["name"] for e in first["executions"] + second["executions"]]
    assert listed == names[::-1]                          # newest first
    gsim.wait_op(gsim.call("DELETE", "/v2/" + names[0]))
    gone = error_of(gsim.call, "GET", "/v2/" + names[0])
    assert gone.status == 404 and gone.error["status"] == "NOT_FOUND"


def test_whole_output_in_logging_when_finished(gsim):
    """Cloud Run's logging agent flushes at the container's exit: when the
    execution is reported finished, every line of a large output is already
    in Cloud Logging (no waiting, no cap on the delivery)."""
    execution, op = _run(gsim, "big-output", "seq 1 3000")
    assert "error" not in op
    entries = gsim.entries("big-output", execution.rsplit("/", 1)[1])
    out = [e["textPayload"] for e in entries if e["logName"] == LOG_STDOUT]
    assert out == [str(i) for i in range(1, 3001)]
