"""Fault injection and call counting, driven through the control API
(/_sim/faults, /_sim/calls) so tests can make AWS misbehave on purpose and
count the API calls a Docker command costs."""

import collections
import json
import os
import random
import threading


class Fault:
    """One injected misbehaviour for calls of service (and operation, when
    given). count is how many matching calls get it (None: all of them).
    probability (0 < p <= 1, default 1) makes it strike each matching call
    by chance, e.g. {"service": "logs", "error": "ThrottlingException",
    "probability": 0.2, "count": null, "latency_ms": 300}; a call it spares
    goes on to the next rule. seed makes the draws repeatable."""

    FIELDS = {"service", "operation", "error", "message", "status", "count",
              "latency_ms", "retry_after", "run_task_failure", "detail",
              "probability", "seed"}

    def __init__(self, spec):
        unknown = set(spec) - self.FIELDS
        if unknown:
            raise ValueError("unknown fault fields: %s" % ", ".join(sorted(unknown)))
        if not isinstance(spec.get("service"), str):
            raise ValueError("a fault needs a service, e.g. \"ecs\"")
        self.service = spec["service"]
        self.operation = spec.get("operation")
        self.error = spec.get("error")
        self.status = int(spec.get("status") or 400)
        self.message = spec.get("message") or _default_message(self.error)
        self.count = spec.get("count", 1)
        self.latency_ms = int(spec.get("latency_ms") or 0)
        self.retry_after = spec.get("retry_after")
        self.run_task_failure = spec.get("run_task_failure")
        self.detail = spec.get("detail")
        if self.run_task_failure and (self.service, self.operation) != ("ecs", "RunTask"):
            raise ValueError("run_task_failure applies to service ecs, operation RunTask")
        if self.count is not None and (not isinstance(self.count, int) or self.count < 1):
            raise ValueError("count must be a positive integer or null")
        self.probability = spec.get("probability", 1)
        if (isinstance(self.probability, bool)
                or not isinstance(self.probability, (int, float))
                or not 0 < self.probability <= 1):
            raise ValueError("probability must be a number in (0, 1]")
        self.seed = spec.get("seed")
        self._rng = random.Random(self.seed)

    def strikes(self):
        """Whether this call gets the fault (always, unless probability)."""
        return self.probability >= 1 or self._rng.random() < self.probability

    @property
    def kind(self):
        """'failure' faults are RunTask failures[] answered with HTTP 200;
        the others act on the HTTP exchange (latency, error)."""
        return "failure" if self.run_task_failure else "exchange"

    def matches(self, service, operation, kind):
        return (self.kind == kind and self.service == service
                and self.operation in (None, operation))

    def to_json(self):
        return {name: getattr(self, name) for name in sorted(self.FIELDS)}


def _default_message(error):
    return {
        "ThrottlingException": "Rate exceeded",
        "ServiceUnavailableException": "Service Unavailable",
        "InternalFailure": "We encountered an internal error. Please try again.",
    }.get(error, "Injected fault")


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

    def take(self, service, operation, kind="exchange"):
        """The first rule matching this call, used up by one; or None."""
        with self._lock:
            for fault in self._rules:
                if fault.matches(service, operation, kind):
                    if not fault.strikes():
                        continue
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

    def add(self, service, operation):
        with self._lock:
            self._counts["%s.%s" % (service, operation)] += 1

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
    {"action": "ecs:RunTask", "resource": "*", "op": "ecs.RunTask",
     "ua": "<User-Agent>"}. action is the IAM action AWS authorizes the
    call as; an implied check (iam:PassRole of a role the request names)
    is a line of its own. tests/deploy/check_policies.py reads it."""

    def __init__(self, path=None):
        self.path = path if path is not None else os.environ.get("SK_SIM_CALL_LOG") or None
        self._lock = threading.Lock()

    def add(self, action, resource, op, ua):
        if not self.path:
            return
        line = json.dumps({"action": action, "resource": resource or "*", "op": op,
                           "ua": ua or ""}, sort_keys=True) + "\n"
        with self._lock, open(self.path, "a", encoding="utf-8") as f:
            f.write(line)
