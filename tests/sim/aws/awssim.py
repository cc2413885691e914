#!/usr/bin/python3
"""awssim: a local AWS simulator for Sockerless' ECS and Lambda backends.

One HTTP endpoint (127.0.0.1:--port) serves ECS, CloudWatch Logs and ECR
(JSON 1.1, told apart by X-Amz-Target), STS (query protocol, XML
answers), EC2's security groups and subnets (ec2 query protocol, told apart
by the SigV4 scope's service), Lambda and EFS (rest-json, told apart by
the SigV4 scope's service and routed by method and path; Lambda
invocations run in containers that implement the Lambda Runtime API; EFS
file systems are directories under --efs-dir that tasks bind-mount).
Every request's SigV4 signature is verified, its input validated against
the botocore model, and ECS tasks run as real containers on a private
Docker engine (--engine) from a local registry (--registry), each in its
own network namespace on a simulated VPC (awssim_net; needs root).

Debug endpoints (no auth):
  GET  /_sim/health            {"ok": true}
  GET  /_sim/calls             {"ecs.RunTask": 3, ...}
  POST /_sim/calls/reset
  GET|POST /_sim/ecs/running-lag  {"seconds": N}: tasks report RUNNING N seconds
                              after their essential containers run (real ECS reports it
                              a moment late); 0 by default
  GET|POST|DELETE /_sim/faults  list / add (JSON spec, see awssim_faults) / clear
  GET  /_sim/vpc               the simulated VPC: cidr, gateway, resolver, namespace
  GET|POST /_sim/dns           the resolver's sim.internal names / add {"name", "address"}
  GET  /_sim/container-credentials, /latest/... (IMDSv2)

State (clusters, task definitions, stopped tasks, ECR repositories,
issued credentials) is saved as JSON in --state-dir, log events appended
to a file per stream under its logs/ (awssim_logs.py), and reloaded on
start. SIGTERM/SIGINT stop and remove every container the
simulator created, then save the state."""

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote
from xml.sax.saxutils import escape

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from awssim_auth import AuthError, CredentialStore, Request, verify  # noqa: E402
from awssim_ecr import EcrService  # noqa: E402
from awssim_ec2 import Ec2Service  # noqa: E402
from awssim_ec2 import error_document as ec2_error  # noqa: E402
from awssim_ec2 import output_document as ec2_output  # noqa: E402
from awssim_ec2 import parse_input as ec2_input  # noqa: E402
from awssim_ecs import EcsService  # noqa: E402
from awssim_efs import EfsService  # noqa: E402
from awssim_engine import LABEL, Engine  # noqa: E402
from awssim_faults import CallCounter, CallLog, Faults  # noqa: E402
from awssim_idmap import unmount_all  # noqa: E402
from awssim_iam import MetadataEndpoints, StsService  # noqa: E402
from awssim_lambda import LambdaService  # noqa: E402
from awssim_logs import LogsService  # noqa: E402
from awssim_net import Vpc  # noqa: E402
from awssim_net import cleanup as vpc_cleanup  # noqa: E402
from awssim_rest import (RestRouter, error_document, output_for_validation,  # noqa: E402
                         parse_input, serialize_output)
from awssim_secrets import SecretsService  # noqa: E402
from awssim_shapes import known_members, validate, validation_message  # noqa: E402
from awssim_util import AwsError, iso8601  # noqa: E402

log = logging.getLogger("awssim")

STATE_FILE = "state.json"
SAVE_INTERVAL = 2.0
MAX_BODY = 16 * 1024 * 1024

# The error code each service answers for a request that breaks a model
# constraint (required member missing, enum, length, range, pattern).
VALIDATION_CODE = {
    "ecs": "ClientException",
    "logs": "InvalidParameterException",
    "ecr": "InvalidParameterException",
    "sts": "ValidationError",
    "lambda": "ValidationException",
    "efs": "BadRequest",
}
# The code for input of the wrong type or unparseable JSON, by service.
SERIALIZATION_CODE = {"lambda": "InvalidRequestContentException", "efs": "BadRequest"}
# Operations that change nothing worth an immediate save (the periodic
# save picks up Invoke's log events).
NO_SAVE = {"Invoke"}
# Operations that change nothing: no state save after them.
READ_ONLY_PREFIXES = ("Describe", "List", "Get", "Filter")


class Config:
    def __init__(self, args):
        self.region = args.region
        self.account = args.account
        self.stopped_task_ttl = args.stopped_task_ttl
        self.endpoint = "http://127.0.0.1:%d" % args.port
        self.container_auth_token = args.container_auth_token
        self.shutdown_stop_timeout = args.shutdown_stop_timeout
        self.check_responses = args.check_responses
        self.state_dir = args.state_dir
        self.lambda_idle_timeout = args.lambda_idle_timeout
        self.vpc_id = args.vpc_id
        self.subnet_id = args.subnet_id
        self.security_group_id = args.security_group_id
        self.default_group_ingress = args.default_group_ingress
        self.efs_dir = args.efs_dir or os.path.join(args.state_dir, "efs")
        self.efs_access_point_limit = args.efs_access_point_limit
        self.efs_creating_seconds = args.efs_creating_seconds
        # Where tasks reach the simulator from their namespaces (the VPC
        # gateway; set once the VPC is up).
        self.task_endpoint = self.endpoint


class Call:
    """What a handler knows about the request it serves."""

    def __init__(self, service, operation, identity, request_id):
        self.service = service
        self.operation = operation
        self.identity = identity
        self.request_id = request_id


class Simulator:
    def __init__(self, config, engine, vpc):
        self.config = config
        self.engine = engine
        self.vpc = vpc
        self.creds = CredentialStore(config.account, config.access_key, config.secret_key)
        self.faults = Faults()
        self.calls = CallCounter()
        self.call_log = CallLog()
        self.logs = LogsService(config.region, config.account)
        self.logs.store_dir = os.path.join(config.state_dir, "logs")
        self.ecr = EcrService(config.region, config.account, config.registry)
        self.sts = StsService(self.creds)
        self.ec2 = Ec2Service(config, vpc)
        self.efs = EfsService(config, config.efs_dir, config.efs_access_point_limit,
                              config.efs_creating_seconds)
        self.ecs = EcsService(config, engine, self.logs, self.faults, vpc, self.ec2, self.efs)
        self.metadata = MetadataEndpoints(self.creds, config.container_auth_token)
        self.lambda_ = LambdaService(config, engine, self.logs, self.creds,
                                     config.lambda_idle_timeout)
        self.secrets = SecretsService(config.region, config.account)
        self.ecs.secrets = self.secrets
        self.services = {s.name: s for s in (self.ecs, self.logs, self.ecr, self.sts,
                                             self.lambda_, self.ec2, self.efs, self.secrets)}
        self.rest = [(RestRouter(s.model), s) for s in (self.lambda_, self.efs)]
        self.targets = {s.model.metadata["targetPrefix"]: s
                        for s in (self.ecs, self.logs, self.ecr, self.secrets)}
        self._save_lock = threading.Lock()
        self._closing = threading.Event()
        self._saver = threading.Thread(target=self._save_loop, name="saver", daemon=True)

    # The call log (SK_SIM_CALL_LOG, awssim_faults.CallLog).

    def log_call(self, service, operation, params, labels, headers):
        """One line per IAM check the call costs: its action (the service's
        signing name and the operation, as IAM names them) and, where the
        request names one, the resource's ARN; and iam:PassRole for each
        role a task definition or function is given."""
        prefix = _signing_name(service)
        action = "%s:%s" % (prefix, IAM_ACTION_NAMES.get((prefix, operation), operation))
        ua = headers.get("User-Agent", "")
        op = "%s.%s" % (service.name, operation)
        resource = "*"
        name = labels.get("FunctionName") or (params.get("FunctionName")
                                              if prefix == "lambda" else None)
        if name:
            resource = name if name.startswith("arn:") else "arn:aws:lambda:%s:%s:function:%s" % (
                self.config.region, self.config.account, name.split(":")[0])
        self.call_log.add(action, resource, op, ua)
        for key in PASSED_ROLES.get((prefix, operation), ()):
            role = params.get(key)
            if isinstance(role, str) and role:
                self.call_log.add("iam:PassRole", role, op, ua)
        tagging = TAG_ON_CREATE.get((prefix, operation))
        if tagging and any(k.split(".")[0] == tagging[0] and params[k] for k in params):
            self.call_log.add(tagging[1], resource, op, ua)

    # Persistence.

    def state_path(self):
        return os.path.join(self.config.state_dir, STATE_FILE)

    def load(self):
        path = self.state_path()
        if not os.path.exists(path):
            return
        with open(path) as f:
            state = json.load(f)
        self.ecs.restore(state.get("ecs", {}))
        self.logs.restore(state.get("logs", {"seq": 0, "groups": []}))
        self.ecr.restore(state.get("ecr", []))
        self.creds.restore(state.get("credentials", []))
        self.lambda_.restore(state.get("lambda", {}))
        self.ec2.restore(state.get("ec2", {}))
        self.efs.restore(state.get("efs", {}))
        self.secrets.restore(state.get("secretsmanager", []))
        log.info("restored state from %s", path)

    def save(self):
        with self._save_lock:
            state = {"version": 1, "savedAt": time.time(), "ecs": self.ecs.snapshot(),
                     "logs": self.logs.snapshot(), "ecr": self.ecr.snapshot(),
                     "credentials": self.creds.snapshot(), "lambda": self.lambda_.snapshot(),
                     "ec2": self.ec2.snapshot(), "efs": self.efs.snapshot(),
                     "secretsmanager": self.secrets.snapshot()}
            data = json.dumps(state, separators=(",", ":"), default=str)
            tmp = self.state_path() + ".tmp"
            with open(tmp, "w") as f:
                f.write(data)
            os.replace(tmp, self.state_path())

    def _fingerprint(self):
        """Changes whenever anything a snapshot holds may have changed
        (task progress, log events, API calls); cheap to compute."""
        with self.ecs.lock:
            tasks = sum(t.wire["version"] for t in self.ecs._tasks.values())
            count = len(self.ecs._tasks)
        return (tasks, count, self.logs._seq, sum(self.calls.snapshot().values()),
                len(self.creds.snapshot()), self.lambda_.version, self.ec2.version,
                self.efs.version, self.secrets.version)

    def _save_loop(self):
        last = None
        while not self._closing.wait(SAVE_INTERVAL):
            try:
                current = self._fingerprint()
                if current != last:
                    self.save()
                    last = current
            except Exception:  # keep serving; the next round retries
                log.exception("saving state failed")

    def start(self):
        self._saver.start()

    def close(self):
        self._closing.set()
        try:
            self.ecs.close(self.config.shutdown_stop_timeout)
        except Exception:  # the engine went away first: still save the state
            log.exception("stopping tasks failed")
        try:
            self.lambda_.close()
        except Exception:
            log.exception("stopping Lambda environments failed")
        unmount_all(self.efs.mounts_dir)  # what a task that never got its teardown left
        self.save()
        self.vpc.down()


# Query protocol (STS): form parameters <-> shapes.

def query_params(shape, form, prefix=""):
    """The input structure a query request's form pairs encode."""
    out = {}
    for name, member in shape.members.items():
        key = prefix + member.serialization.get("name", name)
        value = _query_value(member, form, key)
        if value is not None:
            out[name] = value
    return out


def _query_value(shape, form, key):
    kind = shape.type_name
    if kind == "structure":
        if not any(k.startswith(key + ".") for k in form):
            return None
        return query_params(shape, form, key + ".")
    if kind == "list":
        flat = shape.serialization.get("flattened")
        base = key if flat else key + ".member"
        items, i = [], 1
        while any(k == "%s.%d" % (base, i) or k.startswith("%s.%d." % (base, i)) for k in form):
            items.append(_query_value(shape.member, form, "%s.%d" % (base, i)))
            i += 1
        if not items and key in form:
            return []
        return items or None
    if kind == "map":
        items, i = {}, 1
        while "%s.entry.%d.key" % (key, i) in form:
            items[form["%s.entry.%d.key" % (key, i)]] = _query_value(
                shape.value, form, "%s.entry.%d.value" % (key, i))
            i += 1
        return items or None
    if key not in form:
        return None
    text = form[key]
    if kind in ("integer", "long"):
        try:
            return int(text)
        except ValueError:
            return text  # validate() reports the type
    if kind in ("float", "double"):
        try:
            return float(text)
        except ValueError:
            return text
    if kind == "boolean":
        return {"true": True, "false": False}.get(text, text)
    return text


def xml_value(shape, value, name):
    kind = shape.type_name
    if kind == "structure":
        inner = "".join(xml_value(m, value[n], m.serialization.get("name", n))
                        for n, m in shape.members.items() if value.get(n) is not None)
        return "<%s>%s</%s>" % (name, inner, name)
    if kind == "list":
        member_name = shape.member.serialization.get("name", "member")
        inner = "".join(xml_value(shape.member, v, member_name) for v in value)
        return "<%s>%s</%s>" % (name, inner, name)
    if kind == "timestamp":
        text = iso8601(value) if isinstance(value, (int, float)) else str(value)
    elif kind == "boolean":
        text = "true" if value else "false"
    else:
        text = str(value)
    return "<%s>%s</%s>" % (name, escape(text), name)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "awssim"
    # The head and the body go out in separate writes: without TCP_NODELAY
    # the body waits for the client's delayed ACK of the head (40 ms).
    disable_nagle_algorithm = True
    sim = None  # set by main()

    def log_message(self, fmt, *args):
        log.debug("%s " + fmt, self.address_string(), *args)

    # Plumbing.

    def _send(self, status, body, content_type, headers=None):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _send_json(self, status, obj, headers=None):
        self._send(status, json.dumps(obj), "application/json", headers)

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise AwsError("SerializationException", "Request too large", status=413)
        return self.rfile.read(length) if length else b""

    def do_GET(self):
        self._dispatch()

    def do_POST(self):
        self._dispatch()

    def do_PUT(self):
        self._dispatch()

    def do_DELETE(self):
        self._dispatch()

    def _dispatch(self):
        path, _, query = self.path.partition("?")
        try:
            if path.startswith("/_sim/") or path.startswith("/latest/"):
                self._control(path)
            elif path == "/" and self.command == "POST":
                self._api(path, query)
            elif path == "/" and self.command == "GET" and "Action=" in query:
                self._api(path, query)
            elif any(router.owns(path) for router, _ in self.sim.rest):
                self._rest_api(path, query)
            else:
                self._body()
                self._send(404, json.dumps({"__type": "UnknownOperationException",
                                            "message": "Unknown path %s" % path}),
                           "application/x-amz-json-1.1",
                           {"x-amzn-RequestId": str(uuid.uuid4())})
        except (BrokenPipeError, ConnectionResetError):
            pass

    # Debug and metadata endpoints.

    def _control(self, path):
        body = self._body()
        sim = self.sim
        method = self.command
        if path == "/_sim/health" and method == "GET":
            return self._send_json(200, {"ok": True})
        if path == "/_sim/calls" and method == "GET":
            return self._send_json(200, sim.calls.snapshot())
        if path == "/_sim/calls/reset" and method == "POST":
            sim.calls.reset()
            return self._send_json(200, {"ok": True})
        if path == "/_sim/faults":
            if method == "GET":
                return self._send_json(200, sim.faults.list())
            if method == "DELETE":
                sim.faults.clear()
                return self._send_json(200, {"ok": True})
            if method == "POST":
                try:
                    spec = json.loads(body or b"{}")
                    specs = spec if isinstance(spec, list) else [spec]
                    added = [sim.faults.add(s).to_json() for s in specs]
                except (ValueError, TypeError, AttributeError) as exc:
                    return self._send_json(400, {"error": str(exc)})
                return self._send_json(200, {"added": added})
        if path == "/_sim/vpc" and method == "GET":
            vpc = sim.vpc
            return self._send_json(200, {"cidr": vpc.cidr, "gateway": vpc.gateway,
                                         "resolver": vpc.resolver, "namespace": vpc.ns,
                                         "hostInterface": vpc.host_if})
        if path == "/_sim/dns" and method == "GET":
            return self._send_json(200, sim.vpc.dns.names)
        if path == "/_sim/dns" and method == "POST":
            try:
                spec = json.loads(body or b"{}")
                sim.vpc.dns.register(spec["name"], spec["address"])
            except (ValueError, TypeError, KeyError) as exc:
                return self._send_json(400, {"error": "expected {\"name\": \"x.sim.internal\", "
                                             "\"address\": \"10.x.y.z\"}: %s" % exc})
            return self._send_json(200, {"ok": True})
        if path == "/_sim/state/save" and method == "POST":
            sim.save()
            return self._send_json(200, {"ok": True})
        if path == "/_sim/ecs/running-lag":
            if method == "GET":
                return self._send_json(200, {"seconds": sim.ecs.running_lag})
            if method == "POST":
                try:
                    seconds = float(json.loads(body or b"{}")["seconds"])
                    if not 0 <= seconds <= 600:
                        raise ValueError("seconds must be in [0, 600]")
                except (ValueError, TypeError, KeyError) as exc:
                    return self._send_json(400, {"error": "expected {\"seconds\": N}: %s"
                                                 % exc})
                sim.ecs.running_lag = seconds
                return self._send_json(200, {"seconds": seconds})
        if path == "/_sim/reap" and method == "POST":
            sim.ecs.reap()
            return self._send_json(200, {"ok": True})
        if path == "/_sim/container-credentials" and method == "GET":
            status, ctype, text = sim.metadata.container_credentials(self.headers)
            return self._send(status, text, ctype)
        if path.startswith("/latest/"):
            status, ctype, text = sim.metadata.imds(method, path, self.headers)
            return self._send(status, text, ctype)
        return self._send_json(404, {"error": "no such debug endpoint: %s %s" % (method, path)})

    # The AWS API.

    def _api(self, path, query):
        request_id = str(uuid.uuid4())
        sim = self.sim
        protocol, service, operation = "json", None, None
        try:
            body = self._body()
            target = self.headers.get("X-Amz-Target")
            if target:
                prefix, _, operation = target.rpartition(".")
                service = sim.targets.get(prefix)
                if service is None:
                    raise AwsError("UnknownOperationException", "", status=400)
            else:
                protocol = "query"
                form = dict(parse_qsl(query, keep_blank_values=True))
                ctype = self.headers.get("Content-Type", "")
                if self.command == "POST" and ctype.startswith("application/x-www-form-urlencoded"):
                    form.update(parse_qsl(body.decode("utf-8", "replace"),
                                          keep_blank_values=True))
                service = sim.sts
                operation = form.get("Action")
                if _signing_service(self.headers) == "ec2" or (
                        _signing_service(self.headers) is None
                        and operation in sim.ec2.operations):
                    protocol, service = "ec2", sim.ec2
                if not operation:
                    raise AwsError("MissingAction", "Missing Action", status=400)
            handler = service.operations.get(operation)
            sim.calls.add(service.name, operation)
            if sim.call_log.path:
                sim.log_call(service, operation, _json_or_form(body, target), {},
                             self.headers)
            if handler is None or operation not in service.model.operation_names:
                raise AwsError("UnknownOperationException" if protocol == "json"
                               else "InvalidAction",
                               "" if protocol == "json" else
                               "Could not find operation %s for version %s"
                               % (operation, service.model.api_version), status=400)
            identity = self._authenticate(service, operation, body, path, query)
            fault = sim.faults.take(service.name, operation)
            if fault is not None:
                if fault.latency_ms:
                    time.sleep(fault.latency_ms / 1000.0)
                if fault.error:
                    headers = {}
                    if fault.retry_after is not None:
                        headers["Retry-After"] = str(fault.retry_after)
                    raise AwsError(fault.error, fault.message, status=fault.status,
                                   headers=headers)
            op_model = service.model.operation_model(operation)
            if protocol == "json":
                params = self._json_input(service, op_model, body)
            elif protocol == "ec2":
                form.pop("Action", None)
                form.pop("Version", None)
                params = ec2_input(op_model, form)
            else:
                form.pop("Action", None)
                form.pop("Version", None)
                params = self._query_input(service, op_model, form)
            call = Call(service.name, operation, identity, request_id)
            result = handler(params, call)
            if not operation.startswith(READ_ONLY_PREFIXES):
                try:
                    sim.save()
                except Exception:
                    log.exception("saving state failed")
            if sim.config.check_responses and op_model.output_shape is not None:
                problems = validate(op_model.output_shape, result or {},
                                    timestamps="any" if protocol == "ec2" else "number")
                if problems:
                    log.error("response of %s.%s does not fit the model: %s",
                              service.name, operation, "; ".join(map(str, problems)))
                    raise AwsError("InternalFailure", "awssim response does not fit the "
                                   "model: " + "; ".join(map(str, problems[:5])), status=500)
            if protocol == "json":
                self._send(200, "" if result is None else json.dumps(result),
                           "application/x-amz-json-1.1", {"x-amzn-RequestId": request_id})
            elif protocol == "ec2":
                self._send(200, ec2_output(op_model, result or {}, request_id), "text/xml;charset=UTF-8",
                           {"x-amzn-RequestId": request_id})
            else:
                self._send(200, self._query_output(op_model, result or {}, request_id),
                           "text/xml", {"x-amzn-RequestId": request_id})
        except AuthError as exc:
            self._error(protocol, exc.code("json" if protocol == "json" else "query"),
                        exc.message, exc.status, request_id, {})
        except AwsError as exc:
            self._error(protocol, exc.code, exc.message, exc.status, request_id, exc.headers)
        except Exception as exc:  # a simulator bug: answer like AWS's own 500
            log.exception("internal error in %s.%s", service and service.name, operation)
            code = "ServerException" if protocol == "json" else "InternalFailure"
            self._error(protocol, code, "awssim internal error: %s" % exc, 500, request_id, {})

    # rest-json services (Lambda, EFS), told apart by the SigV4 scope's service.

    def _rest_api(self, path, query):
        request_id = str(uuid.uuid4())
        sim = self.sim
        service, operation = None, None
        pairs = [(unquote(k), unquote(v)) for k, _, v in
                 (p.partition("=") for p in query.split("&") if p)]
        try:
            body = self._body()
            signing = _signing_service(self.headers)
            found = None
            for router, candidate in sim.rest:
                if signing is not None and signing != _signing_name(candidate):
                    continue
                found = router.match(self.command, path, pairs)
                if found is not None:
                    service = candidate
                    break
            if service is None or found[0] is None:
                service = service or next((s for _, s in sim.rest
                                           if _signing_name(s) == signing), sim.rest[0][1])
                raise AwsError("UnknownOperationException", "Unknown operation %s %s"
                               % (self.command, path), status=404)
            operation, labels = found
            handler = service.operations.get(operation)
            sim.calls.add(service.name, operation)
            if sim.call_log.path:
                sim.log_call(service, operation, _json_or_form(body, True), labels,
                             self.headers)
            if handler is None:
                raise AwsError("UnknownOperationException", "awssim does not implement %s"
                               % operation, status=404)
            identity = self._authenticate(service, operation, body, path, query)
            self._take_fault(service, operation)
            op_model = service.model.operation_model(operation)
            try:
                params, problems = parse_input(op_model, labels, pairs, self.headers, body)
            except AwsError as exc:
                raise AwsError(SERIALIZATION_CODE.get(service.name, exc.code),
                               "Could not parse request body into json: %s" % exc.message)
            typed = [p for p in problems if p.kind == "type"]
            if typed:
                raise AwsError(SERIALIZATION_CODE.get(service.name, "SerializationException"),
                               "Could not parse request body into json: %s" % typed[0])
            constraint = [p for p in problems if p.kind == "constraint"]
            if constraint:
                for p in constraint:  # Coral names members in lowerCamelCase
                    p.path = ".".join(seg[:1].lower() + seg[1:] for seg in p.path.split("."))
                raise AwsError(VALIDATION_CODE[service.name], validation_message(constraint))
            unknown = [p.path for p in problems if p.kind == "unknown"]
            if unknown:
                log.warning("%s.%s: ignoring members the model lacks: %s", service.name,
                            operation, ", ".join(unknown))
            call = Call(service.name, operation, identity, request_id)
            result = handler(params, call)
            request_id = call.request_id
            if not operation.startswith(READ_ONLY_PREFIXES) and operation not in NO_SAVE:
                try:
                    sim.save()
                except Exception:
                    log.exception("saving state failed")
            if sim.config.check_responses and op_model.output_shape is not None:
                problems = validate(op_model.output_shape,
                                    output_for_validation(op_model, result))
                if problems:
                    log.error("response of %s.%s does not fit the model: %s",
                              service.name, operation, "; ".join(map(str, problems)))
                    raise AwsError("ServiceException", "awssim response does not fit the "
                                   "model: " + "; ".join(map(str, problems[:5])), status=500)
            status, headers, data, ctype = serialize_output(op_model, result)
            headers["x-amzn-RequestId"] = request_id
            self._send(status, data, ctype or "application/json", headers)
        except AuthError as exc:
            self._rest_error(service, exc.code("json"), exc.message, exc.status, request_id,
                             {}, {})
        except AwsError as exc:
            self._rest_error(service, exc.code, exc.message, exc.status, request_id,
                             exc.headers, getattr(exc, "body_extra", {}))
        except Exception as exc:  # a simulator bug: answer like AWS's own 500
            log.exception("internal error in %s.%s", service and service.name, operation)
            self._rest_error(service, "ServiceException", "awssim internal error: %s" % exc,
                             500, request_id, {}, {})

    def _rest_error(self, service, code, message, status, request_id, headers, extra):
        document = error_document(service.model, code, message, status) if service else {
            "message": message}
        document.update(extra or {})
        headers = dict(headers, **{"x-amzn-RequestId": request_id, "X-Amzn-ErrorType": code})
        self._send(status, json.dumps(document), "application/json", headers)

    def _take_fault(self, service, operation):
        fault = self.sim.faults.take(service.name, operation)
        if fault is not None:
            if fault.latency_ms:
                time.sleep(fault.latency_ms / 1000.0)
            if fault.error:
                headers = {}
                if fault.retry_after is not None:
                    headers["Retry-After"] = str(fault.retry_after)
                raise AwsError(fault.error, fault.message, status=fault.status,
                               headers=headers)

    def _authenticate(self, service, operation, body, path, query):
        if operation in getattr(service, "unsigned", ()) and \
                self.headers.get("Authorization") is None:
            return None
        request = Request(self.command, path, query, self.headers, body)
        signing = service.model.metadata.get("signingName",
                                             service.model.metadata["endpointPrefix"])
        return verify(self.sim.creds, request, signing, {self.sim.config.region})

    def _json_input(self, service, op_model, body):
        try:
            params = json.loads(body or b"{}")
        except ValueError as exc:
            raise AwsError("SerializationException", "Unable to parse request body: %s" % exc)
        if not isinstance(params, dict):
            raise AwsError("SerializationException",
                           "Start of list found where not expected")
        shape = op_model.input_shape
        if shape is None:
            return {}
        problems = validate(shape, params)
        typed = [p for p in problems if p.kind == "type"]
        if typed:
            raise AwsError("SerializationException", str(typed[0]))
        constraint = [p for p in problems if p.kind == "constraint"]
        if constraint:
            raise AwsError(VALIDATION_CODE[service.name], validation_message(constraint))
        unknown = [p.path for p in problems if p.kind == "unknown"]
        if unknown:  # AWS ignores them; a client bug worth seeing in the log
            log.warning("%s.%s: ignoring members the model lacks: %s", service.name,
                        op_model.name, ", ".join(unknown))
        return known_members(shape, params)

    def _query_input(self, service, op_model, form):
        shape = op_model.input_shape
        if shape is None:
            return {}
        params = query_params(shape, form)
        problems = validate(shape, params, timestamps="any")
        typed = [p for p in problems if p.kind == "type"]
        if typed:
            raise AwsError("MalformedInput", str(typed[0]))
        constraint = [p for p in problems if p.kind == "constraint"]
        if constraint:
            raise AwsError(VALIDATION_CODE[service.name], validation_message(constraint))
        return params

    def _query_output(self, op_model, result, request_id):
        name = op_model.name
        namespace = op_model.service_model.metadata.get("xmlNamespace", "")
        shape = op_model.output_shape
        wrapper = shape.serialization.get("resultWrapper", name + "Result") if shape else None
        inner = xml_value(shape, result, wrapper) if shape else ""
        return ('<%sResponse xmlns="%s">%s<ResponseMetadata><RequestId>%s</RequestId>'
                '</ResponseMetadata></%sResponse>' % (name, namespace, inner, request_id, name))

    def _error(self, protocol, code, message, status, request_id, headers):
        headers = dict(headers, **{"x-amzn-RequestId": request_id})
        if protocol == "ec2":
            code = {"InvalidClientTokenId": "AuthFailure", "InvalidAction":
                    "InvalidAction"}.get(code, code)
            self._send(status, ec2_error(code, message, request_id), "text/xml;charset=UTF-8",
                       headers)
        elif protocol == "query":
            kind = "Receiver" if status >= 500 else "Sender"
            body = ('<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
                    '<Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error>'
                    '<RequestId>%s</RequestId></ErrorResponse>'
                    % (kind, escape(code), escape(message), request_id))
            self._send(status, body, "text/xml", headers)
        else:
            self._send(status, json.dumps({"__type": code, "message": message}),
                       "application/x-amz-json-1.1", headers)


# IAM actions whose names differ from the API operation's.
IAM_ACTION_NAMES = {("lambda", "Invoke"): "InvokeFunction"}

# The request fields naming a role the caller passes to the service, which
# IAM authorizes as iam:PassRole on that role.
PASSED_ROLES = {
    ("ecs", "RegisterTaskDefinition"): ("executionRoleArn", "taskRoleArn"),
    ("lambda", "CreateFunction"): ("Role",),
    ("lambda", "UpdateFunctionConfiguration"): ("Role",),
}


# Create calls that carry tags, which IAM also authorizes as the service's
# tagging action (the request field, that action).
TAG_ON_CREATE = {
    ("ecs", "RunTask"): ("tags", "ecs:TagResource"),
    ("ecs", "RegisterTaskDefinition"): ("tags", "ecs:TagResource"),
    ("elasticfilesystem", "CreateAccessPoint"): ("Tags", "elasticfilesystem:TagResource"),
    ("lambda", "CreateFunction"): ("Tags", "lambda:TagResource"),
    ("ec2", "CreateSecurityGroup"): ("TagSpecification", "ec2:CreateTags"),
}


def _json_or_form(body, is_json):
    """The request's parameters for the call log: a JSON body's object, or
    the query protocol's form ({} when neither parses)."""
    try:
        if is_json:
            params = json.loads(body or b"{}")
            return params if isinstance(params, dict) else {}
        return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    except ValueError:
        return {}


def _signing_name(service):
    metadata = service.model.metadata
    return metadata.get("signingName", metadata["endpointPrefix"])


def _signing_service(headers):
    """The service of a SigV4 Authorization header's credential scope."""
    header = headers.get("Authorization") or ""
    credential = header.partition("Credential=")[2].split(",")[0].split("/")
    return credential[3] if len(credential) == 5 else None


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--engine", required=True, help="Docker engine URL, unix:///path")
    ap.add_argument("--registry", required=True, help="local registry host:port")
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--account", default="123456789012")
    ap.add_argument("--access-key", default="AKIDSOCKERLESSTEST")
    ap.add_argument("--secret-key", default="sockerless-test-secret")
    ap.add_argument("--state-dir", required=True)
    ap.add_argument("--stopped-task-ttl", type=float, default=3600.0,
                    help="seconds a STOPPED task stays describable (AWS: about an hour)")
    ap.add_argument("--shutdown-stop-timeout", type=float, default=2.0,
                    help="SIGKILL containers this long after SIGTERM on shutdown")
    ap.add_argument("--container-auth-token", default=None)
    ap.add_argument("--check-responses", action="store_true",
                    help="validate every response against the model (500 if it does not fit)")
    ap.add_argument("--lambda-idle-timeout", type=float, default=300.0,
                    help="seconds an idle Lambda execution environment is kept (AWS: minutes)")
    ap.add_argument("--vpc-id", default="vpc-0default",
                    help="the simulated default VPC (10.x.0.0/16, x chosen free)")
    ap.add_argument("--subnet-id", default="subnet-0default",
                    help="its one subnet (the whole /16)")
    ap.add_argument("--security-group-id", default="sg-0default",
                    help="its default security group (admits the VPC)")
    ap.add_argument("--default-group-ingress", choices=["vpc", "self", "none"], default="vpc",
                    help="what the default group admits: the whole VPC (default), its own "
                    "members (AWS's default group), or nothing")
    ap.add_argument("--efs-dir", default=None,
                    help="where EFS file systems live, one directory each (default "
                    "STATE_DIR/efs)")
    ap.add_argument("--efs-access-point-limit", type=int, default=1000,
                    help="access points per file system (AccessPointLimitExceeded above)")
    ap.add_argument("--efs-creating-seconds", type=float, default=0.2,
                    help="how long a new file system stays 'creating'")
    ap.add_argument("--log-level", default="INFO")
    return ap.parse_args(argv)


def cleanup_leftovers(engine, owner):
    """Remove containers and volumes an earlier run with the same state
    directory left behind (after a crash: its tasks are gone)."""
    try:
        for c in engine.docker.containers.list(all=True, filters={"label": "%s.owner=%s"
                                                                  % (LABEL, owner)}):
            log.info("removing leftover container %s", c.name)
            c.remove(force=True)
        for v in engine.docker.volumes.list(filters={"label": "%s.owner=%s" % (LABEL, owner)}):
            v.remove(force=True)
    except Exception:
        log.exception("cleaning up leftovers failed")


def main(argv=None):
    args = parse_args(argv if argv is not None else sys.argv[1:])
    logging.basicConfig(level=getattr(logging, args.log_level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(threadName)s %(message)s")
    os.makedirs(args.state_dir, exist_ok=True)
    config = Config(args)
    config.access_key = args.access_key
    config.secret_key = args.secret_key
    config.registry = args.registry
    config.owner = os.path.realpath(args.state_dir)
    engine = Engine(args.engine, args.registry, owner=config.owner)
    try:
        engine.ping()
    except Exception as exc:
        log.error("cannot reach the engine at %s: %s", args.engine, exc)
        return 1
    cleanup_leftovers(engine, config.owner)
    try:
        vpc = Vpc(config.owner)
        vpc.up()
    except Exception as exc:
        log.error("cannot make the VPC's namespaces (root needed): %s", exc)
        vpc_cleanup(config.owner)
        return 1
    config.task_endpoint = "http://%s:%d" % (vpc.gateway, args.port)
    sim = Simulator(config, engine, vpc)
    sim.load()
    Handler.sim = sim
    server = Server((args.host, args.port), Handler)
    # The tasks' view of the endpoint (credentials, IMDS), on the gateway.
    task_server = Server((vpc.gateway, args.port), Handler)
    threading.Thread(target=task_server.serve_forever, args=(0.2,), name="task-endpoint",
                     daemon=True).start()
    stopping = threading.Event()

    def on_signal(signum, frame):
        if not stopping.is_set():
            stopping.set()
            threading.Thread(target=server.shutdown, daemon=True).start()
            threading.Thread(target=task_server.shutdown, daemon=True).start()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    sim.start()
    log.info("awssim listening on %s:%d (engine %s, registry %s)", args.host, args.port,
             args.engine, args.registry)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        log.info("shutting down: stopping tasks and removing containers")
        sim.close()
        server.server_close()
        task_server.server_close()
        log.info("bye")
    return 0


if __name__ == "__main__":
    sys.exit(main())
