"""Cloud Run Admin API v2 jobs on the simulator: jobs (create, get, list,
patch, delete, run), executions (get, list, delete, cancel) and tasks (get,
list), each mutation a long-running Operation of the base, as Google serves
them. The executions run as real containers on the engine
(gcpsim_run_exec.py); their output goes to the base's Cloud Logging store.

register(sim) plugs the routes into the base (Interface S)."""

import base64
import hashlib
import json
import logging
import random
import re
import string
import threading
import time
import uuid

from gcpsim_core import ApiError
import gcpsim_run_exec as run_exec
import gcpsim_run_volumes as run_volumes

log = logging.getLogger("gcpsim")

OP_DELAY_SECONDS = 0.2      # how long a job create/patch/delete stays not done
JOB_TYPE = "type.googleapis.com/google.cloud.run.v2.Job"
EXECUTION_TYPE = "type.googleapis.com/google.cloud.run.v2.Execution"
DEFAULT_PAGE_SIZE = 100     # Google's documented default is unspecified; bounded here
MAX_PAGE_SIZE = 1000
MAX_TIMEOUT_SECONDS = 7 * 24 * 3600     # 168 h: Cloud Run's task timeout cap
MAX_TASK_COUNT = 10000
MAX_RETRIES_LIMIT = 10
JOB_ID = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
DURATION = re.compile(r"^(\d+)(\.\d{1,9})?s$")
RESERVED_LABEL_PREFIXES = ("run.googleapis.com", "cloud.googleapis.com", "serving.knative.dev",
                           "autoscaling.knative.dev")

P = r"/v2/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)"
JOBS = P + r"/jobs"
JOB = JOBS + r"/(?P<job>[^/:]+)"
EXECS = JOB + r"/executions"
EXEC = EXECS + r"/(?P<execution>[^/:]+)"
TASKS = EXEC + r"/tasks"
TASK = TASKS + r"/(?P<task>[^/:]+)"


def now_rfc3339(ns=None):
    ns = time.time_ns() if ns is None else ns
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9)) + ".%09dZ" % (ns % 10**9)


def parse_duration(value, field):
    """Seconds of a proto3 JSON Duration ("600s", "1.5s")."""
    match = DURATION.match(value or "")
    if not match:
        raise ApiError(400, "INVALID_ARGUMENT",
                       "Invalid value at '%s' (type.googleapis.com/google.protobuf.Duration), "
                       "Field '%s', Illegal duration format; duration must end with 's'"
                       % (field, field))
    return float(match.group(1) + (match.group(2) or ""))


# CPU and memory of one container: Cloud Run's documented pairs
# (cloud.google.com/run/docs/configuring/{cpu,memory-limits}): fractional
# CPU from 0.08 up to 1; whole CPUs 1, 2, 4, 6, 8; each CPU allows a memory
# range.
MEMORY_UNITS = {"": 1, "k": 1000, "M": 1000**2, "G": 1000**3, "T": 1000**4,
                "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4}
MEMORY = re.compile(r"^(\d+(?:\.\d+)?)(k|M|G|T|Ki|Mi|Gi|Ti)?$")
CPU = re.compile(r"^(\d+(?:\.\d+)?)(m)?$")
MI, GI = 1024**2, 1024**3
CPU_MEMORY = [  # (cpu up to, label, min memory, max memory)
    (0.4999, "less than 0.5", 128 * MI, 512 * MI),
    (0.9999, "less than 1", 128 * MI, 1 * GI),
    (1, "1.0", 128 * MI, 4 * GI),
    (2, "2.0", 128 * MI, 8 * GI),
    (4, "4.0", 2 * GI, 16 * GI),
    (6, "6.0", 4 * GI, 24 * GI),
    (8, "8.0", 4 * GI, 32 * GI),
]


def _memory_bytes(text, field):
    match = MEMORY.match(text or "")
    if not match:
        raise ApiError(400, "INVALID_ARGUMENT", "%s: Invalid value specified for container "
                       "memory: '%s' is not a quantity such as 512Mi or 2Gi." % (field, text))
    return int(float(match.group(1)) * MEMORY_UNITS[match.group(2) or ""])


def _cpu_value(text, field):
    match = CPU.match(text or "")
    value = None
    if match:
        value = float(match.group(1)) / (1000 if match.group(2) else 1)
    if value is None or value < 0.08 or value > 8 or (value > 1 and value not in (2, 4, 6, 8)):
        raise ApiError(400, "INVALID_ARGUMENT", "%s: Invalid value specified for cpu. Allowed "
                       "values are fractional CPUs from 0.08 to 1, or 1, 2, 4, 6 or 8." % field)
    return value


def check_resources(limits, field):
    """400 for a CPU/memory pair Cloud Run refuses; the pair it will run
    with otherwise (Cloud Run's defaults: 1 CPU, 512Mi)."""
    cpu = _cpu_value(limits.get("cpu", "1"), field + ".limits.cpu")
    memory = _memory_bytes(limits.get("memory", "512Mi"), field + ".limits.memory")
    for top, label, low, high in CPU_MEMORY:
        if cpu <= top:
            if not low <= memory <= high:
                raise ApiError(400, "INVALID_ARGUMENT", "%s.limits.memory: Invalid value "
                               "specified for container memory. For %s CPU, memory must be "
                               "between %s and %s inclusive." % (field, label, _human(low),
                                                                  _human(high)))
            return cpu, memory
    raise AssertionError("unreachable: cpu %s" % cpu)


def _human(size):
    return "%dGi" % (size // GI) if size % GI == 0 else "%dMi" % (size // MI)


def check_job(job, field="job"):
    """Google's checks of a Job body beyond the schema (the base checked
    the fields and types); fills the defaults Google applies."""
    for key in job.get("labels") or {}:
        if key.startswith(RESERVED_LABEL_PREFIXES):
            raise ApiError(400, "INVALID_ARGUMENT", "%s.labels: label '%s' is in a namespace "
                           "reserved by Cloud Run and is rejected." % (field, key))
    template = job.get("template")
    if not isinstance(template, dict):
        raise ApiError(400, "INVALID_ARGUMENT", "%s.template: Job template is required." % field)
    template.setdefault("taskCount", 1)
    task_count = template["taskCount"]
    if not 1 <= task_count <= MAX_TASK_COUNT:
        raise ApiError(400, "INVALID_ARGUMENT", "%s.template.task_count: must be between 1 and "
                       "%d." % (field, MAX_TASK_COUNT))
    parallelism = template.get("parallelism", 0)
    if parallelism < 0:
        raise ApiError(400, "INVALID_ARGUMENT", "%s.template.parallelism: must not be "
                       "negative." % field)
    tt = template.setdefault("template", {})
    tt.setdefault("maxRetries", 3)
    if not 0 <= tt["maxRetries"] <= MAX_RETRIES_LIMIT:
        raise ApiError(400, "INVALID_ARGUMENT", "%s.template.template.max_retries: must be "
                       "between 0 and %d." % (field, MAX_RETRIES_LIMIT))
    tt.setdefault("timeout", "600s")
    check_timeout(tt["timeout"], field + ".template.template.timeout")
    containers = tt.get("containers") or []
    if len(containers) != 1:
        # Sidecars exist on Cloud Run jobs, but the simulator runs one
        # container per task: refuse rather than ignore the others.
        raise ApiError(400, "INVALID_ARGUMENT", "%s.template.template.containers: exactly one "
                       "container is supported by the simulator (got %d)."
                       % (field, len(containers)))
    for i, c in enumerate(containers):
        where = "%s.template.template.containers[%d]" % (field, i)
        if not c.get("image"):
            raise ApiError(400, "INVALID_ARGUMENT", "%s.image: Image is required." % where)
        if c.get("ports"):
            raise ApiError(400, "INVALID_ARGUMENT", "%s.ports: Cloud Run jobs do not accept "
                           "inbound connections; container ports are not allowed." % where)
        limits = c.setdefault("resources", {}).setdefault("limits", {})
        check_resources(limits, where + ".resources")
        limits.setdefault("cpu", "1000m")       # the defaults Google writes back
        limits.setdefault("memory", "512Mi")
        _check_env(c.get("env") or [], where + ".env")
        for env in c.get("env") or []:
            if "valueSource" in env:
                raise ApiError(400, "INVALID_ARGUMENT", "%s.env: secret environment variables "
                               "(valueSource) are not served by the simulator." % where)
    run_volumes.check(tt, containers, field)
    return job


ENV_NAME = re.compile(r"^[^=\x00]+$")


def _check_env(env, field):
    """Names are required, free of '=' (Cloud Run refuses them too)."""
    for i, e in enumerate(env):
        if not isinstance(e, dict) or not ENV_NAME.match(e.get("name") or ""):
            raise ApiError(400, "INVALID_ARGUMENT", "%s[%d].name: Environment variable names "
                           "must be non-empty and must not contain '='." % (field, i))


def check_timeout(value, field):
    seconds = parse_duration(value, field)
    if seconds <= 0 or seconds > MAX_TIMEOUT_SECONDS:
        raise ApiError(400, "INVALID_ARGUMENT", "%s: Timeout must be greater than 0 seconds and "
                       "at most %d seconds (168 hours)." % (field, MAX_TIMEOUT_SECONDS))
    return seconds


def page(items, query, what):
    """(slice, nextPageToken) of items for pageSize/pageToken (AIP-158).
    The token is opaque to clients: the offset, base64."""
    try:
        size = int((query.get("pageSize") or ["0"])[0])
    except ValueError:
        raise ApiError(400, "INVALID_ARGUMENT", "Invalid pageSize.") from None
    if size < 0:
        raise ApiError(400, "INVALID_ARGUMENT", "pageSize must not be negative.")
    size = min(size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    token = (query.get("pageToken") or [""])[0]
    start = 0
    if token:
        try:
            kind, _, offset = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
            start = int(offset)
            if kind != what or start < 0:
                raise ValueError(token)
        except ValueError:
            raise ApiError(400, "INVALID_ARGUMENT", "Invalid page token: %s" % token) from None
    chunk = items[start:start + size]
    more = start + size < len(items)
    next_token = base64.urlsafe_b64encode(("%s:%d" % (what, start + size)).encode()).decode()
    return chunk, (next_token if more else "")


class Jobs:
    """The jobs, executions and tasks of one simulator."""

    def __init__(self, sim):
        self.sim = sim
        self.jobs = {}          # job name -> Job dict (wire shape)
        self.executions = {}    # execution name -> run_exec.Execution
        self.closed = False

    # Helpers.

    def _name(self, m, *parts):
        project, location = m.group("project"), m.group("location")
        if project != self.sim.project:
            raise ApiError(403, "PERMISSION_DENIED", "Permission denied on resource project %s."
                           % project)
        return "/".join(["projects", project, "locations", location] + list(parts))

    def _job(self, m):
        name = self._name(m, "jobs", m.group("job"))
        job = self.jobs.get(name)
        if job is None:
            raise ApiError(404, "NOT_FOUND", "Resource '%s' of kind 'JOB' in region '%s' in "
                           "project '%s' does not exist." % (m.group("job"), m.group("location"),
                                                            m.group("project")))
        return job

    def _execution(self, m):
        name = self._name(m, "jobs", m.group("job"), "executions", m.group("execution"))
        ex = self.executions.get(name)
        if ex is None:
            raise ApiError(404, "NOT_FOUND", "Resource '%s' of kind 'EXECUTION' in region '%s' "
                           "in project '%s' does not exist." % (
                               m.group("execution"), m.group("location"), m.group("project")))
        return ex

    def _flag(self, req, key):
        return (req.query.get(key) or ["false"])[0].lower() == "true"

    def _later(self, op_name, response=None, error=None):
        """Complete an operation after the configured short delay, as
        Google's control plane does."""
        def done():
            with self.sim.lock:
                self.sim.op_done(op_name, response=response, error=error)
        timer = threading.Timer(OP_DELAY_SECONDS, done)
        timer.daemon = True
        timer.start()

    def _stamp(self, job, principal):
        job["updateTime"] = now_rfc3339()
        job["lastModifier"] = principal or job.get("creator", "")
        job["etag"] = '"%s"' % hashlib.sha256(("%s/%s" % (job["uid"], job["generation"]))
                                             .encode()).hexdigest()[:24]

    def job_view(self, job):
        view = json.loads(json.dumps(job))
        latest = job.get("_latest")
        view.pop("_latest", None)
        if latest is not None and latest in self.executions:
            view["latestCreatedExecution"] = self.executions[latest].reference()
        return view

    # Jobs.

    def create(self, req):
        job_id = (req.query.get("jobId") or [""])[0]
        if not JOB_ID.match(job_id):
            raise ApiError(400, "INVALID_ARGUMENT", "Invalid value specified for jobId '%s': job "
                           "ID must use only lowercase alphanumeric characters and dashes, "
                           "begin with a letter, not end with a dash, and be at most 63 "
                           "characters long." % job_id, _violation("job_id", "invalid"))
        name = self._name(req.match, "jobs", job_id)
        body = _strip_read_only(req.body or {})
        if body.get("name") and body["name"] != name:
            raise ApiError(400, "INVALID_ARGUMENT", "job.name must be empty or equal to '%s' "
                           "when creating a job." % name)
        check_job(body)
        if name in self.jobs:
            raise ApiError(409, "ALREADY_EXISTS", "Resource '%s' already exists." % job_id)
        ns = time.time_ns()
        job = dict(body, name=name, uid=str(uuid.uuid4()), generation="1",
                   createTime=now_rfc3339(ns), creator=req.principal or "",
                   launchStage=body.get("launchStage", "GA"), reconciling=False,
                   observedGeneration="1", executionCount=0,
                   terminalCondition=_condition("Ready", "CONDITION_SUCCEEDED"), conditions=[])
        self._stamp(job, req.principal)
        if not self._flag(req, "validateOnly"):
            self.jobs[name] = job
        return self._job_op(job)

    def _job_op(self, job):
        view = self.job_view(job)
        pending = dict(view, reconciling=True, **{"@type": JOB_TYPE})
        op = self.sim.op_new(pending)
        self._later(op["name"], response=dict(view, **{"@type": JOB_TYPE}))
        return 200, op

    def get(self, req):
        return 200, self.job_view(self._job(req.match))

    def list(self, req):
        prefix = self._name(req.match, "jobs") + "/"
        jobs = [self.job_view(j) for n, j in sorted(self.jobs.items()) if n.startswith(prefix)]
        chunk, token = page(jobs, req.query, "jobs")
        out = {"jobs": chunk} if chunk else {}
        if token:
            out["nextPageToken"] = token
        return 200, out

    def patch(self, req):
        name = self._name(req.match, "jobs", req.match.group("job"))
        body = _strip_read_only(req.body or {})
        if body.get("name") and body["name"] != name:
            raise ApiError(400, "INVALID_ARGUMENT", "job.name '%s' does not match the "
                           "request's name '%s'." % (body["name"], name))
        old = self.jobs.get(name)
        if old is None:
            if not self._flag(req, "allowMissing"):
                self._job(req.match)
            req.query["jobId"] = [req.match.group("job")]
            return self.create(req)
        if body.get("etag") and body["etag"] != old["etag"]:
            raise ApiError(409, "ABORTED", "The etag '%s' does not match the job's current "
                           "etag." % body["etag"])
        check_job(body)
        if self._flag(req, "validateOnly"):
            return self._job_op(old)
        keep = {k: old[k] for k in ("name", "uid", "createTime", "creator", "executionCount",
                                    "terminalCondition", "conditions", "_latest") if k in old}
        job = dict(body, **keep)
        job.pop("etag", None)
        job["generation"] = job["observedGeneration"] = str(int(old["generation"]) + 1)
        job.setdefault("launchStage", "GA")
        job["reconciling"] = False
        self._stamp(job, req.principal)
        self.jobs[name] = job
        return self._job_op(job)

    def delete(self, req):
        job = self._job(req.match)
        etag = (req.query.get("etag") or [""])[0]
        if etag and etag != job["etag"]:
            raise ApiError(409, "ABORTED", "The etag '%s' does not match the job's current "
                           "etag." % etag)
        if self._flag(req, "validateOnly"):
            return self._job_op(job)
        # Deleting a job stops its running executions and deletes them with
        # it (the brief's fallback: Google documents no refusal).
        for ex in [e for n, e in self.executions.items() if n.startswith(job["name"] + "/")]:
            ex.cancel(reason="DELETED")
            del self.executions[ex.name]
        del self.jobs[job["name"]]
        job = dict(job, deleteTime=now_rfc3339())
        return self._job_op(job)

    def run(self, req):
        job = self._job(req.match)
        if self.sim.engine is None:
            raise ApiError(400, "FAILED_PRECONDITION", "The simulator was started without "
                           "--engine, so Cloud Run jobs cannot run; start it with --engine.")
        body = req.body or {}
        if body.get("etag") and body["etag"] != job["etag"]:
            raise ApiError(409, "ABORTED", "The etag '%s' does not match the job's current "
                           "etag." % body["etag"])
        overrides = body.get("overrides") or {}
        template = json.loads(json.dumps(job["template"]))
        task_count = overrides.get("taskCount", template.get("taskCount", 1))
        if not 1 <= task_count <= MAX_TASK_COUNT:
            raise ApiError(400, "INVALID_ARGUMENT", "overrides.task_count: must be between 1 "
                           "and %d." % MAX_TASK_COUNT)
        template["taskCount"] = task_count
        if "timeout" in overrides:
            check_timeout(overrides["timeout"], "overrides.timeout")
            template["template"]["timeout"] = overrides["timeout"]
        containers = template["template"]["containers"]
        for i, o in enumerate(overrides.get("containerOverrides") or []):
            _apply_override(containers, o, i)
        if body.get("validateOnly"):
            op = self.sim.op_new({"@type": EXECUTION_TYPE})
            self.sim.op_done(op["name"], response={"@type": EXECUTION_TYPE})
            return 200, op
        suffix = "".join(random.choice(string.ascii_lowercase + string.digits) for _ in range(5))
        ex_id = "%s-%s" % (job["name"].rsplit("/", 1)[1][:57], suffix)
        name = job["name"] + "/executions/" + ex_id
        ex = run_exec.Execution(self, job, name, template, req.principal or "")
        self.executions[name] = ex
        job["executionCount"] = job.get("executionCount", 0) + 1
        job["_latest"] = name
        op = self.sim.op_new(dict(ex.view(), **{"@type": EXECUTION_TYPE}))
        ex.operation = op["name"]
        ex.start()
        return 200, op

    # Executions and tasks.

    def execution_get(self, req):
        return 200, self._execution(req.match).view()

    def execution_list(self, req):
        job = self._job(req.match)
        mine = [e for n, e in self.executions.items() if n.startswith(job["name"] + "/")]
        mine.sort(key=lambda e: e.created_ns, reverse=True)   # newest first, as Google lists
        chunk, token = page([e.view() for e in mine], req.query, "executions")
        out = {"executions": chunk} if chunk else {}
        if token:
            out["nextPageToken"] = token
        return 200, out

    def execution_delete(self, req):
        ex = self._execution(req.match)
        if self._flag(req, "validateOnly"):
            op = self.sim.op_new(dict(ex.view(), **{"@type": EXECUTION_TYPE}))
            self._later(op["name"], response=dict(ex.view(), **{"@type": EXECUTION_TYPE}))
            return 200, op
        ex.cancel(reason="DELETED")
        del self.executions[ex.name]
        view = dict(ex.view(), deleteTime=now_rfc3339())
        op = self.sim.op_new(dict(view, **{"@type": EXECUTION_TYPE}))
        self._later(op["name"], response=dict(view, **{"@type": EXECUTION_TYPE}))
        return 200, op

    def execution_cancel(self, req):
        ex = self._execution(req.match)
        if ex.done:
            raise ApiError(400, "FAILED_PRECONDITION", "Execution %s has already completed and "
                           "cannot be cancelled." % ex.name.rsplit("/", 1)[1])
        if (req.body or {}).get("validateOnly"):
            op = self.sim.op_new(dict(ex.view(), **{"@type": EXECUTION_TYPE}))
            self.sim.op_done(op["name"], response=dict(ex.view(), **{"@type": EXECUTION_TYPE}))
            return 200, op
        op = self.sim.op_new(dict(ex.view(), **{"@type": EXECUTION_TYPE}))
        ex.cancel(reason="CANCELLED", operation=op["name"])
        return 200, op

    def task_list(self, req):
        ex = self._execution(req.match)
        chunk, token = page([t.view() for t in ex.tasks], req.query, "tasks")
        out = {"tasks": chunk} if chunk else {}
        if token:
            out["nextPageToken"] = token
        return 200, out

    def task_get(self, req):
        ex = self._execution(req.match)
        for t in ex.tasks:
            if t.task_id == req.match.group("task"):
                return 200, t.view()
        raise ApiError(404, "NOT_FOUND", "Resource '%s' of kind 'TASK' in region '%s' in "
                       "project '%s' does not exist." % (req.match.group("task"),
                                                        req.match.group("location"),
                                                        req.match.group("project")))

    def close(self):
        """Stop every running execution and remove its containers (at
        simulator stop)."""
        with self.sim.lock:
            if self.closed:
                return
            self.closed = True
            running = list(self.executions.values())
        for ex in running:
            ex.shutdown()
        for ex in running:
            ex.wait_stopped(30)

    def snapshot(self):
        return {"jobs": list(self.jobs.values()),
                "executions": [e.snapshot() for e in self.executions.values()]}

    def restore(self, state):
        self.jobs = {j["name"]: j for j in state.get("jobs", [])}
        for saved in state.get("executions", []):
            job = self.jobs.get(saved["name"].rsplit("/executions/", 1)[0])
            if job is not None:
                ex = run_exec.Execution.restore(self, job, saved)
                self.executions[ex.name] = ex


def _apply_override(containers, override, i):
    name = override.get("name")
    if name:
        match = [c for c in containers if c.get("name") == name]
        if not match:
            raise ApiError(400, "INVALID_ARGUMENT", "overrides.container_overrides[%d].name: "
                           "container '%s' is not in the job's template." % (i, name))
        target = match[0]
    else:
        target = containers[0]
    if override.get("clearArgs"):
        if override.get("args"):
            raise ApiError(400, "INVALID_ARGUMENT", "overrides.container_overrides[%d]: "
                           "clear_args and args are mutually exclusive." % i)
        target["args"] = []
    elif override.get("args"):
        target["args"] = list(override["args"])
    if override.get("env"):
        _check_env(override["env"], "overrides.container_overrides[%d].env" % i)
        env = {e["name"]: e for e in target.get("env") or []}
        for e in override["env"]:
            env[e["name"]] = e
        target["env"] = list(env.values())


def _strip_read_only(body):
    """Google accepts the Job's output-only fields in a request and ignores
    them."""
    read_only = ("uid", "generation", "createTime", "updateTime", "deleteTime", "expireTime",
                 "creator", "lastModifier", "observedGeneration", "conditions",
                 "terminalCondition", "executionCount", "latestCreatedExecution",
                 "reconciling", "satisfiesPzs")
    return {k: v for k, v in json.loads(json.dumps(body)).items() if k not in read_only}


def _condition(kind, state, **extra):
    return dict({"type": kind, "state": state, "lastTransitionTime": now_rfc3339()}, **extra)


def _violation(field, description):
    return [{"@type": "type.googleapis.com/google.rpc.BadRequest",
             "fieldViolations": [{"field": field, "description": description}]}]


def register(sim):
    jobs = Jobs(sim)
    sim.run_jobs = jobs
    base = "run.projects.locations.jobs."
    routes = [
        ("POST", JOBS, jobs.create, "create"), ("GET", JOBS, jobs.list, "list"),
        ("GET", JOB, jobs.get, "get"), ("PATCH", JOB, jobs.patch, "patch"),
        ("DELETE", JOB, jobs.delete, "delete"), ("POST", JOB + ":run", jobs.run, "run"),
        ("GET", EXECS, jobs.execution_list, "executions.list"),
        ("GET", EXEC, jobs.execution_get, "executions.get"),
        ("DELETE", EXEC, jobs.execution_delete, "executions.delete"),
        ("POST", EXEC + ":cancel", jobs.execution_cancel, "executions.cancel"),
        ("GET", TASKS, jobs.task_list, "executions.tasks.list"),
        ("GET", TASK, jobs.task_get, "executions.tasks.get"),
    ]
    for method, regex, handler, method_id in routes:
        sim.route(method, regex, handler, base + method_id)
    run_exec.remove_leftovers(sim)
    sim.add_closer(jobs.close)
    sim.add_state("run_jobs", jobs.snapshot, jobs.restore)
    log.info("Cloud Run Admin API v2 jobs served")
    return jobs
