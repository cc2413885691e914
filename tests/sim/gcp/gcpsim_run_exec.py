"""One Cloud Run job execution on the engine: its tasks (taskCount, run
parallelism at a time), each task's attempts (a failed attempt is retried
with a new container up to maxRetries times), the task timeout (the attempt
is killed and fails with DEADLINE_EXCEEDED), cancel (SIGTERM, then SIGKILL
after 10 s), and the containers' stdout and stderr copied line by line into
the base's Cloud Logging store under Cloud Run's log names."""

import logging
import os
import re
import threading
import time
import uuid
from urllib.parse import quote

import docker.errors
import requests

import gcpsim_run_volumes as run_volumes

log = logging.getLogger("gcpsim")

LABEL = "sockerless.gcpsim.run"
POLL_SECONDS = 0.2
CANCEL_GRACE_SECONDS = 10     # Cloud Run: SIGTERM, then SIGKILL 10 s later
LOG_FLUSH_WARN_SECONDS = 30   # an attempt waits for its last log lines; warns past this
MAX_PARALLEL = 8              # tasks of one execution running at once
ENTRY_STAMP = re.compile(rb"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z) ")
TYPE_STATUS = "type.googleapis.com/google.rpc.Status"
CODE = {"OK": 0, "CANCELLED": 1, "UNKNOWN": 2, "DEADLINE_EXCEEDED": 4,
        "FAILED_PRECONDITION": 9}


def _now(ns=None):
    ns = time.time_ns() if ns is None else ns
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9)) + ".%09dZ" % (ns % 10**9)


def _condition(kind, state, **extra):
    return dict({"type": kind, "state": state, "lastTransitionTime": _now()}, **extra)


def _nonzero(obj):
    """proto3 JSON: zero numbers, empty strings and lists are omitted."""
    return {k: v for k, v in obj.items() if v not in (0, "", None, [], {}) or v is False}


def _owner(sim):
    return os.path.realpath(sim.state_dir)


def remove_leftovers(sim):
    """Containers an earlier simulator with the same state directory left
    behind (after a crash: their executions are gone)."""
    if sim.engine is None:
        return
    try:
        for c in sim.engine.docker.containers.list(
                all=True, filters={"label": "%s.owner=%s" % (LABEL, _owner(sim))}):
            log.info("removing leftover Cloud Run container %s", c.name)
            c.remove(force=True)
    except Exception:  # an engine that fails here fails later with a clear error
        log.exception("removing leftover Cloud Run containers failed")


class Task:
    def __init__(self, ex, index):
        self.ex = ex
        self.index = index
        self.task_id = "%s-task%d" % (ex.ex_id, index)
        self.name = ex.name + "/tasks/" + self.task_id
        self.uid = str(uuid.uuid4())
        self.retried = 0
        self.state = "PENDING"   # PENDING RUNNING SUCCEEDED FAILED CANCELLED
        self.start_time = self.completion_time = self.scheduled_time = ""
        self.result = None       # lastAttemptResult
        self.message = ""
        self.container_id = None

    def view(self):
        ex = self.ex
        tt = ex.template["template"]
        out = _nonzero({
            "name": self.name, "uid": self.uid, "generation": "1",
            "labels": ex.labels, "createTime": ex.create_time,
            "scheduledTime": self.scheduled_time, "startTime": self.start_time,
            "completionTime": self.completion_time, "updateTime": ex.update_time,
            "job": ex.job_id, "execution": ex.ex_id,
            "containers": tt.get("containers"), "maxRetries": tt.get("maxRetries"),
            "timeout": tt.get("timeout"), "serviceAccount": tt.get("serviceAccount"),
            "executionEnvironment": tt.get("executionEnvironment"),
            "index": self.index, "retried": self.retried,
            "observedGeneration": "1", "logUri": ex.log_uri, "etag": '"%s"' % self.uid[:18],
        })
        out["reconciling"] = self.state in ("PENDING", "RUNNING")
        out["conditions"] = self.conditions()
        if self.result is not None:
            out["lastAttemptResult"] = self.result
        return out

    def conditions(self):
        started = "CONDITION_SUCCEEDED" if self.start_time else "CONDITION_PENDING"
        if self.state == "SUCCEEDED":
            done = _condition("Completed", "CONDITION_SUCCEEDED")
        elif self.state == "FAILED":
            done = _condition("Completed", "CONDITION_FAILED", message=self.message,
                              executionReason="NON_ZERO_EXIT_CODE")
        elif self.state == "CANCELLED":
            done = _condition("Completed", "CONDITION_FAILED", message=self.message,
                              executionReason=self.ex.cancel_reason or "CANCELLED")
        else:
            done = _condition("Completed", "CONDITION_RECONCILING" if self.start_time
                              else "CONDITION_PENDING")
        return [done, _condition("Started", started)]


class Execution:
    def __init__(self, jobs, job, name, template, principal):
        self.jobs = jobs
        self.sim = jobs.sim
        self.name = name
        self.ex_id = name.rsplit("/", 1)[1]
        self.job_id = job["name"].rsplit("/", 1)[1]
        self.project, self.location = name.split("/")[1], name.split("/")[3]
        self.template = template
        self.labels = dict(job.get("labels") or {})
        self.launch_stage = job.get("launchStage", "GA")
        self.principal = principal
        self.uid = str(uuid.uuid4())
        self.created_ns = time.time_ns()
        self.create_time = self.update_time = _now(self.created_ns)
        self.start_time = self.completion_time = ""
        self.log_uri = ("https://console.cloud.google.com/logs/viewer?project=%s&resource="
                        "cloud_run_job/job_name/%s/location/%s" % (self.project, self.job_id,
                                                                   self.location))
        self.tasks = [Task(self, i) for i in range(template["taskCount"])]
        self.operation = None
        self.cancel_ops = []
        self.cancel_reason = None
        self.kill_now = False
        self.cancelled = threading.Event()
        self.finished = threading.Event()
        self.outcome = None           # (completion status, condition) once done
        self.thread = threading.Thread(target=self._run, name="exec-" + self.ex_id, daemon=True)

    @property
    def done(self):
        return self.outcome is not None

    def start(self):
        self.thread.start()

    # The wire.

    def counts(self):
        states = [t.state for t in self.tasks]
        return {"runningCount": states.count("RUNNING"),
                "succeededCount": states.count("SUCCEEDED"),
                "failedCount": states.count("FAILED"),
                "cancelledCount": states.count("CANCELLED"),
                "retriedCount": sum(t.retried for t in self.tasks)}

    def view(self):
        out = _nonzero(dict({
            "name": self.name, "uid": self.uid, "generation": "1", "labels": self.labels,
            "createTime": self.create_time, "startTime": self.start_time,
            "completionTime": self.completion_time, "updateTime": self.update_time,
            "launchStage": self.launch_stage, "job": self.job_id, "creator": self.principal,
            "parallelism": self.template.get("parallelism") or len(self.tasks),
            "taskCount": len(self.tasks), "template": self.template["template"],
            "observedGeneration": "1", "logUri": self.log_uri,
            "etag": '"%s"' % self.uid[:18]}, **self.counts()))
        out["reconciling"] = not self.done
        out["conditions"] = self.conditions()
        return out

    def conditions(self):
        resources = "CONDITION_SUCCEEDED" if self.start_time else "CONDITION_PENDING"
        started = "CONDITION_SUCCEEDED" if self.start_time else "CONDITION_PENDING"
        if self.outcome is not None:
            done = dict(self.outcome[1])
            if self.outcome[0] == "EXECUTION_FAILED" and not self.start_time:
                resources = started = "CONDITION_FAILED"
        elif self.cancel_reason:
            done = _condition("Completed", "CONDITION_RECONCILING", executionReason="CANCELLING")
        else:
            done = _condition("Completed", "CONDITION_RECONCILING" if self.start_time
                              else "CONDITION_PENDING")
        return [done, _condition("ResourcesAvailable", resources),
                _condition("Started", started)]

    def reference(self):
        status = self.outcome[0] if self.outcome else (
            "EXECUTION_RUNNING" if self.start_time else "EXECUTION_PENDING")
        return _nonzero({"name": self.name, "createTime": self.create_time,
                         "completionTime": self.completion_time, "completionStatus": status})

    def _touch(self):
        self.update_time = _now()

    # Cancel, delete, shutdown (called with sim.lock held by the handler).

    def cancel(self, reason, operation=None):
        if operation is not None:
            if self.done:
                self.sim.op_done(operation, response=self._typed())
            else:
                self.cancel_ops.append(operation)
        if not self.done and not self.cancel_reason:
            self.cancel_reason = reason
            self._touch()
            self.cancelled.set()

    def shutdown(self):
        """Cancel at once (SIGKILL); wait_stopped() waits for the end."""
        with self.sim.lock:
            self.kill_now = True
            self.cancel("CANCELLED")

    def wait_stopped(self, timeout):
        if self.thread.is_alive():
            self.thread.join(timeout)

    # Persistence (the base's add_state): a restarted simulator keeps its
    # executions. One still running when the simulator went away (a crash:
    # its containers are gone) fails with a sentence saying so.

    FIELDS = ("name", "template", "labels", "launch_stage", "principal", "uid", "created_ns",
              "create_time", "update_time", "start_time", "completion_time", "operation",
              "cancel_ops", "cancel_reason")
    TASK_FIELDS = ("uid", "retried", "state", "start_time", "completion_time",
                   "scheduled_time", "result", "message")

    def snapshot(self):
        out = {k: getattr(self, k) for k in self.FIELDS}
        out["outcome"] = list(self.outcome) if self.outcome else None
        out["pull_error"] = getattr(self, "pull_error", None)
        out["tasks"] = [{k: getattr(t, k) for k in self.TASK_FIELDS} for t in self.tasks]
        return out

    @classmethod
    def restore(cls, jobs, job, state):
        ex = cls(jobs, job, state["name"], state["template"], state["principal"])
        for k in cls.FIELDS:
            setattr(ex, k, state[k])
        if state.get("pull_error"):
            ex.pull_error = state["pull_error"]
        for t, saved in zip(ex.tasks, state["tasks"]):
            for k in cls.TASK_FIELDS:
                setattr(t, k, saved[k])
        if state["outcome"]:
            ex.outcome = tuple(state["outcome"])
            ex.finished.set()
            return ex
        for t in ex.tasks:
            if t.state in ("PENDING", "RUNNING"):
                t.state = "FAILED"
                t.message = "The simulator stopped while the task ran; its container is gone."
                t.completion_time = _now()
        ex._finish()
        return ex

    def _typed(self):
        return dict(self.view(), **{"@type": "type.googleapis.com/google.cloud.run.v2.Execution"})

    # The runner.

    def _run(self):
        try:
            self._run_tasks()
        except Exception as exc:  # a simulator bug must still end the execution
            log.exception("execution %s failed", self.name)
            with self.sim.lock:
                for t in self.tasks:
                    if t.state in ("PENDING", "RUNNING"):
                        t.state, t.message = "FAILED", "Internal simulator error: %s" % exc
        self._finish()

    def _run_tasks(self):
        image = self.template["template"]["containers"][0]["image"]
        try:
            self.sim.engine.pull(image)
        except Exception as exc:  # the engine wrapper's error, or a reference it refuses
            message = ("Image '%s' not found or the Cloud Run Service Agent cannot pull it: %s"
                       % (image, exc))
            with self.sim.lock:
                for t in self.tasks:
                    t.state, t.message = "FAILED", message
                    t.completion_time = _now()
                self.pull_error = message
            return
        # parallelism 0 means "as many as possible": here MAX_PARALLEL, so
        # that a large taskCount does not start thousands of containers on
        # the test machine at once (the results are the same, only later).
        parallel = min(self.template.get("parallelism") or len(self.tasks), MAX_PARALLEL)
        slots = threading.Semaphore(parallel)
        threads = []
        for t in self.tasks:
            slots.acquire()
            if self.cancelled.is_set():
                slots.release()
                break
            th = threading.Thread(target=self._task_thread, args=(t, slots), daemon=True,
                                  name="task-%s" % t.task_id[-20:])
            th.start()
            threads.append(th)
        for th in threads:
            th.join()

    def _task_thread(self, task, slots):
        try:
            Attempts(self, task).run()
        except Exception as exc:
            log.exception("task %s failed", task.name)
            with self.sim.lock:
                task.state, task.message = "FAILED", "Internal simulator error: %s" % exc
        finally:
            slots.release()

    def _finish(self):
        with self.sim.lock:
            for t in self.tasks:
                if t.state == "PENDING":
                    t.state = "CANCELLED" if self.cancel_reason else "FAILED"
                    t.message = t.message or "The task was not started."
            self.completion_time = _now()
            self._touch()
            counts = self.counts()
            if self.cancel_reason:
                condition = _condition("Completed", "CONDITION_FAILED",
                                       executionReason=self.cancel_reason,
                                       message="The execution was %s."
                                       % ("deleted" if self.cancel_reason == "DELETED"
                                          else "cancelled"))
                self.outcome = ("EXECUTION_CANCELLED", condition)
                error = {"code": CODE["CANCELLED"], "message": condition["message"]}
            elif counts["failedCount"]:
                failed = [t for t in self.tasks if t.state == "FAILED"][0]
                message = getattr(self, "pull_error", None) or (
                    "Task %s failed with message: %s" % (failed.task_id, failed.message))
                if counts["failedCount"] > 1:
                    message += " (and %d more failed tasks)" % (counts["failedCount"] - 1)
                condition = _condition("Completed", "CONDITION_FAILED", message=message,
                                       executionReason="NON_ZERO_EXIT_CODE")
                self.outcome = ("EXECUTION_FAILED", condition)
                error = {"code": CODE["UNKNOWN"], "message": message}
            else:
                condition = _condition("Completed", "CONDITION_SUCCEEDED",
                                       message="Execution completed successfully in %s."
                                       % _elapsed(self.created_ns))
                self.outcome = ("EXECUTION_SUCCEEDED", condition)
                error = None
            typed = self._typed()
            done = [(self.operation, None if error else typed, error)] if self.operation else []
            done += [(op, typed, None) for op in self.cancel_ops]
            for op, response, err in done:
                try:
                    self.sim.op_done(op, response=response, error=err)
                except KeyError:    # the base no longer has it (a restart lost it)
                    log.warning("operation %s of %s is gone", op, self.name)
        self.finished.set()


def _elapsed(start_ns):
    seconds = (time.time_ns() - start_ns) / 1e9
    return "%.2fs" % seconds


class Attempts:
    """The attempts of one task: a container each, until one succeeds, the
    retries are used up, or the execution is cancelled."""

    def __init__(self, ex, task):
        self.ex = ex
        self.sim = ex.sim
        self.task = task
        tt = ex.template["template"]
        self.container = tt["containers"][0]
        self.max_retries = tt.get("maxRetries", 3)
        self.timeout = float(tt.get("timeout", "600s").rstrip("s"))

    def run(self):
        task, ex = self.task, self.ex
        with self.sim.lock:
            task.scheduled_time = _now()
        attempt = 0
        while True:
            code, status = self._attempt(attempt)
            with self.sim.lock:
                if code is not None and code < 0:
                    task.result = {"termSignal": -code, "status": status}
                else:
                    task.result = _nonzero({"exitCode": code, "status": status})
                task.result.setdefault("status", {})
                if ex.cancelled.is_set():
                    task.state, task.message = "CANCELLED", "The task was cancelled."
                elif status.get("code", 0) == 0:
                    task.state = "SUCCEEDED"
                elif attempt < self.max_retries:
                    task.retried += 1
                    attempt += 1
                    ex._touch()
                    continue
                else:
                    task.state, task.message = "FAILED", status["message"]
                task.completion_time = _now()
                ex._touch()
                return

    def _attempt(self, attempt):
        """Run one container; (exit code, minus the signal that killed it,
        or None when it never ran; google.rpc.Status dict)."""
        task, ex, engine = self.task, self.ex, self.sim.engine
        if ex.cancelled.is_set():
            return None, {"code": CODE["CANCELLED"], "message": "The task was cancelled."}
        try:
            options = self._options(attempt)
        except run_volumes.VolumeError as exc:
            return None, {"code": CODE["FAILED_PRECONDITION"], "message": str(exc)}
        try:
            cid = engine.start(self.container["image"], **options)
        except Exception as exc:  # EngineError: the engine's explanation
            created = getattr(exc, "container_id", None)
            if created:
                engine.remove(created)
            return None, {"code": CODE["FAILED_PRECONDITION"],
                          "message": "The container could not be started: %s" % exc}
        with self.sim.lock:
            task.container_id = cid
            task.state = "RUNNING"
            task.start_time = task.start_time or _now()
            if not ex.start_time:
                ex.start_time = _now()
            ex._touch()
        followers = [self._follow(cid, stream, attempt) for stream in ("stdout", "stderr")]
        timed_out = self._watch(cid)
        state = engine.state(cid)
        code = state.get("ExitCode")
        # As Cloud Run's logging agent, which flushes at the container's
        # exit: every line is in Cloud Logging before the attempt (and so
        # the task and the execution) is reported finished, however long
        # the output (a follower ends once its exited container's log is
        # read to the end).
        for f in followers:
            while f.is_alive():
                f.join(LOG_FLUSH_WARN_SECONDS)
                if f.is_alive():
                    log.warning("execution %s task %d: the output is still being delivered "
                                "to Cloud Logging", ex.ex_id, task.index)
        self._system_line(attempt, code, timed_out)
        if timed_out:
            # The simulator's own SIGKILL ended it: a signal, not an exit
            # code ("at most one of exit_code or term_signal is set").
            code = -9
        engine.remove(cid)
        with self.sim.lock:
            task.container_id = None
        if timed_out:
            return code, {"code": CODE["DEADLINE_EXCEEDED"], "message":
                          "Task %s exceeded its timeout of %s seconds (attempt %d) and was "
                          "terminated." % (task.task_id, _seconds(self.timeout), attempt)}
        if ex.cancelled.is_set():
            return code, {"code": CODE["CANCELLED"], "message": "The task was cancelled."}
        if code != 0:
            reason = "The container exited with an error."
            if state.get("OOMKilled"):
                reason = "The container ran out of memory."
            return code, {"code": CODE["UNKNOWN"], "message": "%s (exit code %s)"
                          % (reason, code)}
        return 0, {}

    def _watch(self, cid):
        """Poll until the container exits; stop it at cancel (SIGTERM, then
        SIGKILL after 10 s) or kill it at the task timeout. Whether the
        timeout fired."""
        engine, ex = self.sim.engine, self.ex
        deadline = time.monotonic() + self.timeout
        while True:
            if engine.state(cid)["Status"] in ("exited", "dead"):
                return False
            if ex.cancelled.is_set():
                engine.stop(cid, 0 if ex.kill_now else CANCEL_GRACE_SECONDS)
                return False
            if time.monotonic() >= deadline:
                engine.kill(cid)
                engine.wait(cid)
                return True
            ex.cancelled.wait(POLL_SECONDS)

    def _options(self, attempt):
        c, ex, task = self.container, self.ex, self.task
        env = {e["name"]: e.get("value", "") for e in c.get("env") or []}
        env.update({"CLOUD_RUN_JOB": ex.job_id, "CLOUD_RUN_EXECUTION": ex.ex_id,
                    "CLOUD_RUN_TASK_INDEX": str(task.index),
                    "CLOUD_RUN_TASK_ATTEMPT": str(attempt),
                    "CLOUD_RUN_TASK_COUNT": str(len(ex.tasks))})
        limits = (c.get("resources") or {}).get("limits") or {}
        import gcpsim_run as run   # the validated CPU/memory pair
        cpu, memory = run.check_resources(limits, "container")
        return {
            "name": "gcpsim-run-%s-%d-%d" % (ex.ex_id, task.index, attempt),
            "labels": {LABEL: "1", LABEL + ".owner": _owner(self.sim),
                       LABEL + ".execution": ex.name, LABEL + ".task": str(task.index)},
            "environment": ["%s=%s" % kv for kv in env.items()],
            "entrypoint": c.get("command") or None,
            "command": c.get("args") or None,
            "working_dir": c.get("workingDir") or None,
            "mem_limit": memory,
            "nano_cpus": int(cpu * 1e9),
            "network_mode": "host",
            "mounts": run_volumes.mounts(self.sim, self.ex.template["template"], c),
        }

    # Logs.

    def _entry(self, attempt, log_id, text, stamp, severity):
        ex = self.ex
        return {"logName": "projects/%s/logs/%s" % (ex.project, quote(log_id, safe="")),
                "resource": {"type": "cloud_run_job", "labels": {
                    "project_id": ex.project, "job_name": ex.job_id, "location": ex.location}},
                "timestamp": stamp, "textPayload": text, "severity": severity,
                "labels": {"run.googleapis.com/execution_name": ex.ex_id,
                           "run.googleapis.com/task_index": str(self.task.index),
                           "run.googleapis.com/task_attempt": str(attempt)}}

    def _follow(self, cid, stream, attempt):
        """A started thread copying one stream's lines into Logging."""
        log_id = "run.googleapis.com/" + stream
        severity = "DEFAULT" if stream == "stdout" else "ERROR"
        api = self.sim.engine.docker.api

        def write(raw):
            match = ENTRY_STAMP.match(raw)
            stamp = match.group(1).decode() if match else _now()
            # The line without its "\n" (a TTY's "\r" stays).
            text = ENTRY_STAMP.sub(b"", raw).decode("utf-8", "replace")
            with self.sim.lock:
                self.sim.log_write(self._entry(attempt, log_id, text, stamp, severity))

        def follow():
            pending, last = b"", b""
            which = {"stdout": stream == "stdout", "stderr": stream == "stderr"}
            try:
                chunks = api.logs(cid, stream=True, follow=True, timestamps=True, **which)
                for chunk in chunks:
                    pending += chunk
                    while b"\n" in pending:
                        line, pending = pending.split(b"\n", 1)
                        # Whole lines: a TTY's output comes a byte at a time.
                        stamps = ENTRY_STAMP.findall(line)
                        last = max(stamps[-1], last) if stamps else last
                        write(line)
                stamps = ENTRY_STAMP.findall(pending)
                last = max(stamps[-1], last) if stamps else last
                # dockerd 20.10 may end a follow at the exit before it
                # stored the last entry (a final piece without a newline).
                tail = api.logs(cid, timestamps=True, tail=100, **which)
                for m in ENTRY_STAMP.finditer(tail):
                    if m.group(1) > last:
                        pending += tail[m.start():]
                        break
            except (docker.errors.APIError, requests.exceptions.RequestException):
                pass  # the container is gone: nothing more to deliver
            for line in pending.split(b"\n"):
                if line:
                    write(line)
        thread = threading.Thread(target=follow, name="log-%s-%s" % (stream, cid[:8]),
                                  daemon=True)
        thread.start()
        return thread

    def _system_line(self, attempt, code, timed_out):
        """Cloud Run's own line about the attempt's end, on varlog/system."""
        if timed_out:
            text = ("Terminating task because it has reached the maximum timeout of %s "
                    "seconds." % _seconds(self.timeout))
            severity = "WARNING"
        else:
            text = "Container called exit(%s)." % code
            severity = "INFO" if code == 0 else "WARNING"
        with self.sim.lock:
            self.sim.log_write(self._entry(attempt, "run.googleapis.com/varlog/system", text,
                                           _now(), severity))


def _seconds(value):
    return ("%d" % value) if value == int(value) else ("%g" % value)
