"""Fault injection and call counting for the GCP simulator, driven through
/_sim/faults and /_sim/calls so tests can make Google misbehave on purpose
and count the API calls a Docker command costs.

A fault spec (POST /_sim/faults, a JSON object or a list of them):
  {"method": "run.projects.locations.jobs.run",   a discovery method id,
                                                  or a prefix ending "*"
   "error": "RESOURCE_EXHAUSTED" | "UNAVAILABLE" | null (latency only),
   "count": 2,              calls it strikes (null: every call; default 1)
   "latency_ms": 300,       delay before the answer (or the error)
   "retry_delay": "2s",     RetryInfo.retryDelay of a 429 (default "1s")
   "message": "..."}        the error's message (Google's by default)"""

import collections
import json
import os
import threading

ERRORS = {
    "RESOURCE_EXHAUSTED": (429, "Quota exceeded for quota metric 'Requests' and limit "
                           "'Requests per minute' of service."),
    "UNAVAILABLE": (503, "The service is currently unavailable."),
    "INTERNAL": (500, "Internal error encountered."),
    "DEADLINE_EXCEEDED": (504, "The request deadline was exceeded."),
}
FIELDS = {"method", "error", "count", "latency_ms", "retry_delay", "message"}


class Fault:
    def __init__(self, spec):
        if not isinstance(spec, dict):
            raise ValueError("a fault is a JSON object, e.g. {\"method\": "
                             "\"run.projects.locations.jobs.run\", \"error\": \"UNAVAILABLE\"}")
        unknown = set(spec) - FIELDS
        if unknown:
            raise ValueError("unknown fault fields: %s (known: %s)"
                             % (", ".join(sorted(unknown)), ", ".join(sorted(FIELDS))))
        self.method = spec.get("method")
        if not isinstance(self.method, str) or not self.method:
            raise ValueError("a fault needs a method: a discovery method id such as "
                             "\"logging.entries.list\", or a prefix ending in \"*\"")
        self.error = spec.get("error")
        if self.error is not None and self.error not in ERRORS:
            raise ValueError("error must be one of %s or null" % ", ".join(sorted(ERRORS)))
        self.count = spec.get("count", 1)
        if self.count is not None and (isinstance(self.count, bool)
                                       or not isinstance(self.count, int) or self.count < 1):
            raise ValueError("count must be a positive integer or null")
        self.latency_ms = spec.get("latency_ms") or 0
        if isinstance(self.latency_ms, bool) or not isinstance(self.latency_ms, int) \
                or not 0 <= self.latency_ms <= 600000:
            raise ValueError("latency_ms must be an integer from 0 to 600000")
        if self.error is None and not self.latency_ms:
            raise ValueError("a fault needs an error or a latency_ms")
        self.retry_delay = spec.get("retry_delay") or "1s"
        self.message = spec.get("message") or (ERRORS[self.error][1] if self.error else None)

    def matches(self, method_id):
        if self.method.endswith("*"):
            return method_id.startswith(self.method[:-1])
        return method_id == self.method

    @property
    def http_status(self):
        return ERRORS[self.error][0]

    def details(self):
        if self.error != "RESOURCE_EXHAUSTED":
            return []
        return [{"@type": "type.googleapis.com/google.rpc.RetryInfo",
                 "retryDelay": self.retry_delay}]

    def to_json(self):
        return {name: getattr(self, name) for name in sorted(FIELDS)}


class Faults:
    def __init__(self):
        self._lock = threading.Lock()
        self._rules = []

    def add(self, spec):
        fault = Fault(spec)
        with self._lock:
            self._rules.append(fault)
        return fault

    def clear(self):
        with self._lock:
            self._rules.clear()

    def list(self):
        with self._lock:
            return [f.to_json() for f in self._rules]

    def take(self, method_id):
        """The first rule matching this call, used up by one; or None."""
        with self._lock:
            for fault in self._rules:
                if fault.matches(method_id):
                    if fault.count is not None:
                        fault.count -= 1
                        if fault.count == 0:
                            self._rules.remove(fault)
                    return fault
        return None


class CallCounter:
    def __init__(self):
        self._lock = threading.Lock()
        self._counts = collections.Counter()

    def add(self, key):
        with self._lock:
            self._counts[key] += 1

    def snapshot(self):
        with self._lock:
            return dict(sorted(self._counts.items()))

    def reset(self):
        with self._lock:
            self._counts.clear()


class CallLog:
    """The opt-in call log: with SK_SIM_CALL_LOG=<file> in the environment
    at start, one JSON line per API call served, appended to that file
    (opened per line, so renaming it starts a new one):
    {"action": "run.jobs.create", "resource": "projects/p/locations/l/jobs",
     "op": "run.projects.locations.jobs.create", "ua": "<User-Agent>"}.
    action is the IAM permission Google checks for the method, from the
    table iam_permissions.json beside this file (Google's discovery
    documents do not carry permissions); a method missing from the table
    logs "UNMAPPED:<method id>", which tests/deploy/check_policies.py
    refuses."""

    TABLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "iam_permissions.json")

    def __init__(self, path=None):
        self.path = path if path is not None else os.environ.get("SK_SIM_CALL_LOG") or None
        self._lock = threading.Lock()
        self.permissions = {}
        if self.path:
            with open(self.TABLE, encoding="utf-8") as f:
                self.permissions = {k: v["permissions"]
                                    for k, v in json.load(f)["methods"].items()}

    def add(self, method_id, resource, ua, extra=()):
        """Logs the permissions of method_id (none for a method the table
        says needs none), then extra ones the request itself implies."""
        if not self.path:
            return
        actions = self.permissions.get(method_id, ["UNMAPPED:" + method_id])
        lines = "".join(json.dumps({"action": a, "resource": resource or "*", "op": method_id,
                                    "ua": ua or ""}, sort_keys=True) + "\n"
                        for a in list(actions) + list(extra))
        if not lines:
            return
        with self._lock, open(self.path, "a", encoding="utf-8") as f:
            f.write(lines)
