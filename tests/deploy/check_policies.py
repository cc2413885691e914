#!/usr/bin/env python3
"""Checks a backend's least-privilege policy (deploy/iam) against the calls
it made in the simulators.

The simulators log every call they serve when started with
SK_SIM_CALL_LOG=<file> (deploy/local.sh's SK_SIM_CALL_LOG_DIR): one JSON
line {"action", "resource", "op", "ua"} with the action in the cloud's IAM
vocabulary. The backend's calls are the lines whose User-Agent is its own,
sockerless-backend-<name>/<version> (every cloud and registry call of a
backend sends it); the test suites' and the provisioning's own calls, and
other backends' (the suites swap backends), are left out. --legacy-ua
takes the lines without a User-Agent or with "sockerless" instead (logs of
builds before the backends named themselves: one backend's only).

  check_policies.py --backend ecs --calls DIR_OR_FILE [--policy FILE]

Every call must be allowed by the policy, as the cloud evaluates it within
reason: AWS statements (Effect, Action/NotAction and Resource/NotResource
with * and ? wildcards; an explicit Deny wins; Conditions are not
evaluated), GCP custom roles (includedPermissions, exact names), Azure role
definitions (Actions minus NotActions, * wildcards, case-insensitive; the
assignable scope is the operator's choice and not checked). A resource the
simulator could not name ("*") is taken as allowed by any resource pattern.
Exit status 1 when a call is denied. Policy actions no call used are
listed (informational): those expected unused are named, with the reason,
in policy_expect.json beside this file, as are ("simulator_only") actions
a simulator logs where the real cloud's differ, which are not checked."""

import argparse
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IAM_DIR = os.path.join(ROOT, "deploy", "iam")
EXPECT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "policy_expect.json")

# backend: (the simulator's log file name, the backend's policy file)
BACKENDS = {
    "ecs": ("aws.jsonl", "aws-ecs-backend.json"),
    "lambda": ("aws.jsonl", "aws-lambda-backend.json"),
    "cloudrun": ("gcp.jsonl", "gcp-cloudrun-backend.yaml"),
    "gcf": ("gcp.jsonl", "gcp-gcf-backend.yaml"),
    "aca": ("azure.jsonl", "azure-aca-backend.json"),
    "azfunc": ("azure.jsonl", "azure-azfunc-backend.json"),
}


def wildcard(pattern, value, fold):
    """IAM's wildcard match: * any run, ? one character, nothing else
    special; fold: case-insensitive."""
    if fold:
        pattern, value = pattern.lower(), value.lower()
    rx = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(rx, value, re.S) is not None


def as_list(v):
    return v if isinstance(v, list) else [] if v is None else [v]


class AwsPolicy:
    def __init__(self, doc):
        if doc.get("Version") != "2012-10-17":
            raise ValueError("an IAM policy document has Version 2012-10-17")
        self.statements = as_list(doc.get("Statement"))
        self.notes = []
        for st in self.statements:
            if st.get("Effect") not in ("Allow", "Deny"):
                raise ValueError("statement %r: Effect is Allow or Deny" % st.get("Sid"))
            if ("Action" in st) == ("NotAction" in st):
                raise ValueError("statement %r: one of Action, NotAction" % st.get("Sid"))
            if ("Resource" in st) == ("NotResource" in st):
                raise ValueError("statement %r: one of Resource, NotResource" % st.get("Sid"))
            if "Condition" in st:
                self.notes.append("statement %r has a Condition: not evaluated" % st.get("Sid"))

    @staticmethod
    def _applies(st, action, resource):
        if "Action" in st:
            ok = any(wildcard(p, action, True) for p in as_list(st["Action"]))
        else:
            ok = not any(wildcard(p, action, True) for p in as_list(st["NotAction"]))
        if not ok:
            return False
        if resource == "*":
            return True
        if "Resource" in st:
            return any(wildcard(p, resource, False) for p in as_list(st["Resource"]))
        return not any(wildcard(p, resource, False) for p in as_list(st["NotResource"]))

    def allows(self, action, resource):
        hits = [st for st in self.statements if self._applies(st, action, resource)]
        if any(st["Effect"] == "Deny" for st in hits):
            return False
        return any(st["Effect"] == "Allow" for st in hits)

    def actions(self):
        return sorted({a for st in self.statements if st["Effect"] == "Allow"
                       for a in as_list(st.get("Action"))})


class GcpRole:
    def __init__(self, doc):
        perms = doc.get("includedPermissions")
        if not isinstance(perms, list) or not doc.get("title"):
            raise ValueError("a custom role has a title and includedPermissions")
        if any("*" in p for p in perms):
            raise ValueError("custom roles take no wildcards")
        self.perms = set(perms)
        self.notes = []

    def allows(self, action, resource):
        return action in self.perms

    def actions(self):
        return sorted(self.perms)


class AzureRole:
    def __init__(self, doc):
        for key in ("Name", "Actions", "AssignableScopes"):
            if key not in doc:
                raise ValueError("a role definition has %s" % key)
        if doc.get("IsCustom") is not True:
            raise ValueError("a custom role definition has IsCustom true")
        self.allow = as_list(doc["Actions"])
        self.deny = as_list(doc.get("NotActions"))
        self.notes = []

    def allows(self, action, resource):
        return (any(wildcard(p, action, True) for p in self.allow)
                and not any(wildcard(p, action, True) for p in self.deny))

    def actions(self):
        return sorted(self.allow)


def load_policy(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if path.endswith(".yaml"):
        import yaml
        return GcpRole(yaml.safe_load(text))
    doc = json.loads(text)
    return AwsPolicy(doc) if "Statement" in doc else AzureRole(doc)


def backend_calls(path, backend, legacy=False):
    """The backend's lines of a call log (see the module's doc)."""
    own = "sockerless-backend-%s/" % backend
    calls = []
    if not os.path.exists(path):
        return calls
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            try:
                call = json.loads(line)
            except ValueError:
                raise ValueError("%s:%d: not a JSON line" % (path, n))
            ua = call.get("ua") or ""
            if ua.startswith(own) or (legacy and ua in ("", "sockerless")):
                calls.append(call)
    return calls


def used_by(pattern, actions, policy):
    """Whether a policy action (pattern) matched any used action."""
    fold = not isinstance(policy, GcpRole)
    return any(wildcard(pattern, a, fold) for a in actions)


def check(backend, calls_path, policy_path, out=sys.stdout, legacy=False):
    log_name, policy_name = BACKENDS[backend]
    if os.path.isdir(calls_path):
        calls_path = os.path.join(calls_path, log_name)
    policy_path = policy_path or os.path.join(IAM_DIR, policy_name)
    policy = load_policy(policy_path)
    calls = backend_calls(calls_path, backend, legacy)
    with open(EXPECT, encoding="utf-8") as f:
        entry = json.load(f).get(backend, {})
    expected, ignored = entry.get("unused", {}), entry.get("simulator_only", {})
    denied = {}
    used = set()
    for call in calls:
        action, resource = call["action"], call.get("resource") or "*"
        if action in ignored:
            continue
        used.add(action)
        if action.startswith("UNMAPPED:") or not policy.allows(action, resource):
            denied.setdefault((action, resource if isinstance(policy, AwsPolicy) else ""),
                              call.get("op", ""))
    print("%s: %d calls, %d actions in %s against %s" % (
        backend, len(calls), len(used), calls_path, os.path.relpath(policy_path, ROOT)),
        file=out)
    for note in policy.notes:
        print("  note: " + note, file=out)
    for action, reason in sorted(ignored.items()):
        print("  not checked %s: %s" % (action, reason), file=out)
    for (action, resource), op in sorted(denied.items()):
        print("  DENIED %s%s (%s)" % (action, " on " + resource if resource else "", op),
              file=out)
    for pattern in policy.actions():
        if used_by(pattern, used, policy):
            continue
        reason = expected.get(pattern)
        print("  unused %s: %s" % (pattern, reason or "not used by this run and not "
                                   "listed in tests/deploy/policy_expect.json"), file=out)
    if not calls:
        print("  no calls of the backend in %s" % calls_path, file=out)
        return 1
    return 1 if denied else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backend", required=True, choices=sorted(BACKENDS))
    ap.add_argument("--calls", required=True,
                    help="a call log, or the directory of aws/gcp/azure.jsonl")
    ap.add_argument("--policy", help="the policy file (default: deploy/iam's)")
    ap.add_argument("--legacy-ua", action="store_true",
                    help="the backend's calls are those without a User-Agent")
    args = ap.parse_args()
    try:
        return check(args.backend, args.calls, args.policy, legacy=args.legacy_ua)
    except (OSError, ValueError) as exc:
        print("check_policies: %s" % exc, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
