"""AWS Lambda (rest-json, 2015-03-31) for container image functions:
functions, tags, reserved concurrency and Invoke. Invocations run in
execution environments (awssim_runtime): containers on the engine that
implement the Lambda Runtime API, with their output in CloudWatch Logs."""

import base64
import copy
import json
import logging
import re
import threading
import time
import uuid

from awssim_engine import ECR_HOST, LABEL, LOOPBACK_HOST, EngineError
from awssim_runtime import Environment, Invocation, billed_ms
from awssim_shapes import service_model
from awssim_util import AwsError, decode_token, encode_token, epoch_ms

log = logging.getLogger("awssim")

ACTIVATION_SECONDS = 0.3       # Pending -> Active after CreateFunction
DEFAULT_TIMEOUT = 3
MAX_TIMEOUT = 900
DEFAULT_MEMORY = 128
SYNC_PAYLOAD_LIMIT = 6 * 1024 * 1024
EVENT_PAYLOAD_LIMIT = 256 * 1024
TAIL_BYTES = 4096
MAX_ENV_BYTES = 4096
LIST_PAGE = 50
MAX_MEMORY_USED_MB = 20        # reported in REPORT lines (not measured)
LAMBDA_USER = "993:990"        # the unprivileged user Lambda runs functions as
CREDENTIAL_SECONDS = 12 * 3600
FUNCTION_REF = re.compile(
    r"^(?:(?:arn:(?P<partition>aws[a-zA-Z-]*):lambda:(?P<region>[a-z0-9-]+):)?"
    r"(?P<account>\d{12}):function:)?(?P<name>[a-zA-Z0-9_.-]+)(?::(?P<qualifier>[^:]+))?$")
RESERVED_ENV = ("_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION",
                "AWS_EXECUTION_ENV", "AWS_LAMBDA_FUNCTION_NAME",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
                "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME",
                "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID",
                "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_LAMBDA_RUNTIME_API",
                "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR")


class Function:
    """One function ($LATEST only): config is what GetFunctionConfiguration
    returns; envs are its execution environments."""

    def __init__(self, config, tags, concurrency, image):
        self.config = config
        self.tags = tags
        self.concurrency = concurrency
        self.image = image          # {"uri", "resolved", "digest"}
        self.envs = []
        self.inflight = 0
        self.deleted = False

    @property
    def name(self):
        return self.config["FunctionName"]

    @property
    def arn(self):
        return self.config["FunctionArn"]

    @property
    def log_group(self):
        return self.config["LoggingConfig"]["LogGroup"]

    def snapshot(self):
        return {"config": self.config, "tags": self.tags, "concurrency": self.concurrency,
                "image": self.image}


def lambda_time(t):
    """Lambda's LastModified format: 2024-01-15T10:30:00.000+0000."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03d+0000" % (
        int(t * 1000) % 1000)


def iso_ms(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % (int(t * 1000) % 1000)


class LambdaService:
    name = "lambda"

    def __init__(self, config, engine, logs, creds, idle_timeout=300.0):
        self.model = service_model("lambda")
        self.config = config
        self.engine = engine
        self.logs = logs
        self.creds = creds
        self.idle_timeout = idle_timeout
        self.lock = threading.RLock()
        self.version = 0             # bumped on every change worth saving
        self._functions = {}         # name -> Function
        self._closing = threading.Event()
        threading.Thread(target=self._reap_loop, name="lambda-reaper", daemon=True).start()
        self.operations = {
            "CreateFunction": self.create_function,
            "GetFunction": self.get_function,
            "GetFunctionConfiguration": self.get_function_configuration,
            "ListFunctions": self.list_functions,
            "DeleteFunction": self.delete_function,
            "TagResource": self.tag_resource,
            "UntagResource": self.untag_resource,
            "ListTags": self.list_tags,
            "PutFunctionConcurrency": self.put_function_concurrency,
            "GetFunctionConcurrency": self.get_function_concurrency,
            "DeleteFunctionConcurrency": self.delete_function_concurrency,
            "Invoke": self.invoke,
        }

    # Errors, as the model spells them (status per error shape).

    def error(self, code, message, headers=None, status=None, **extra):
        if status is None:
            try:
                status = self.model.shape_for(code).metadata["error"]["httpStatusCode"]
            except Exception:  # not modelled: a client error
                status = 400
        exc = AwsError(code, message, status=status, headers=headers)
        exc.body_extra = extra
        return exc

    def invalid(self, message):
        return self.error("InvalidParameterValueException", message)

    def _arn(self, name):
        return "arn:aws:lambda:%s:%s:function:%s" % (self.config.region, self.config.account,
                                                     name)

    def _parse_ref(self, ref, qualifier=None):
        """(name, qualifier) of a function name, partial or full ARN."""
        m = FUNCTION_REF.match(ref)
        if m is None:
            raise self.error("ResourceNotFoundException", "Function not found: %s" % ref)
        if m.group("account") and m.group("account") != self.config.account:
            raise self.error("AccessDeniedException", "User is not authorized to access "
                             "function %s in another account" % ref)
        if m.group("region") and m.group("region") != self.config.region:
            raise self.invalid("Functions from '%s' are not reachable in this region ('%s')"
                               % (m.group("region"), self.config.region))
        name = m.group("name")
        if not (m.group("account") or m.group("region")) and len(name) > 64:
            raise self.invalid("1 validation error detected: Value '%s' at 'functionName' "
                               "failed to satisfy constraint: Member must have length less "
                               "than or equal to 64" % name)
        in_ref = m.group("qualifier")
        if in_ref and qualifier and in_ref != qualifier:
            raise self.invalid("The derived qualifier from the function name does not match "
                               "the specified qualifier.")
        return name, in_ref or qualifier

    def _function(self, ref, qualifier=None):
        """The Function a request names; ResourceNotFoundException when
        unknown (only $LATEST exists: no versions, no aliases)."""
        name, qualifier = self._parse_ref(ref, qualifier)
        with self.lock:
            fn = self._functions.get(name)
        if fn is None or qualifier not in (None, "$LATEST"):
            arn = self._arn(name) + (":" + qualifier if qualifier else "")
            raise self.error("ResourceNotFoundException", "Function not found: %s" % arn)
        return fn

    def _function_by_arn(self, arn):
        m = FUNCTION_REF.match(arn)
        if m is None or not arn.startswith("arn:"):
            raise self.invalid("Invalid ARN: %s" % arn)
        return self._function(arn)

    # Functions.

    def create_function(self, params, call):
        name, qualifier = self._parse_ref(params["FunctionName"])
        if qualifier:
            raise self.invalid("Unqualified function name expected; got %s"
                               % params["FunctionName"])
        if params.get("PackageType", "Zip") != "Image":
            raise self.invalid("awssim runs container image functions only: set PackageType "
                               "to Image and Code.ImageUri")
        uri = params["Code"].get("ImageUri")
        if not uri:
            raise self.invalid("Please provide ImageUri when creating a function with package "
                               "type Image.")
        if set(params["Code"]) - {"ImageUri"}:
            raise self.invalid("Please don't provide ZipFile or S3 code when creating a "
                               "function with package type Image.")
        for member in ("Runtime", "Handler", "Layers"):
            if params.get(member):
                raise self.invalid("%s is not supported for functions with package type Image."
                                   % member)
        timeout = params.get("Timeout", DEFAULT_TIMEOUT)
        if timeout > MAX_TIMEOUT:
            raise self.error("ValidationException", "1 validation error detected: Value '%d' "
                             "at 'timeout' failed to satisfy constraint: Member must have value "
                             "less than or equal to %d" % (timeout, MAX_TIMEOUT))
        variables = (params.get("Environment") or {}).get("Variables") or {}
        self._check_environment(variables)
        vpc = params.get("VpcConfig") or {}
        if bool(vpc.get("SubnetIds")) != bool(vpc.get("SecurityGroupIds")):
            raise self.invalid("Error occurred while DescribeSecurityGroups. EC2 Error Code: "
                               "InvalidParameterValue. EC2 Error Message: Both SubnetIds and "
                               "SecurityGroupIds are required.")
        with self.lock:
            if name in self._functions:
                raise self.error("ResourceConflictException", "Function already exist: %s" % name)
        image = self._check_image(uri)
        logging_config = dict(params.get("LoggingConfig") or {})
        logging_config.setdefault("LogFormat", "Text")
        logging_config.setdefault("LogGroup", "/aws/lambda/" + name)
        if logging_config["LogFormat"] == "JSON":
            logging_config.setdefault("ApplicationLogLevel", "INFO")
            logging_config.setdefault("SystemLogLevel", "INFO")
        config = {
            "FunctionName": name,
            "FunctionArn": self._arn(name),
            "Role": params["Role"],
            "CodeSize": 0,
            "Description": params.get("Description", ""),
            "Timeout": timeout,
            "MemorySize": params.get("MemorySize", DEFAULT_MEMORY),
            "LastModified": lambda_time(time.time()),
            "CodeSha256": image["digest"].split(":", 1)[-1],
            "Version": "$LATEST",
            "TracingConfig": {"Mode": (params.get("TracingConfig") or {}).get("Mode",
                                                                             "PassThrough")},
            "RevisionId": str(uuid.uuid4()),
            "State": "Pending",
            "StateReason": "The function is being created.",
            "StateReasonCode": "Creating",
            "PackageType": "Image",
            "Architectures": params.get("Architectures", ["x86_64"]),
            "EphemeralStorage": params.get("EphemeralStorage", {"Size": 512}),
            "SnapStart": {"ApplyOn": "None", "OptimizationStatus": "Off"},
            "LoggingConfig": logging_config,
        }
        if variables or "Environment" in params:
            config["Environment"] = {"Variables": dict(variables)}
        if params.get("ImageConfig"):
            config["ImageConfigResponse"] = {"ImageConfig": copy.deepcopy(params["ImageConfig"])}
        if vpc.get("SubnetIds"):
            config["VpcConfig"] = {"SubnetIds": vpc["SubnetIds"],
                                   "SecurityGroupIds": vpc["SecurityGroupIds"],
                                   "VpcId": "vpc-0a1b2c3d4e5f60718"}
        for member in ("DeadLetterConfig", "KMSKeyArn", "FileSystemConfigs"):
            if params.get(member):
                config[member] = copy.deepcopy(params[member])
        fn = Function(config, dict(params.get("Tags") or {}), None, image)
        with self.lock:
            if name in self._functions:
                raise self.error("ResourceConflictException", "Function already exist: %s" % name)
            self._functions[name] = fn
            self.version += 1
            out = copy.deepcopy(fn.config)
        timer = threading.Timer(ACTIVATION_SECONDS, self._activate, args=(fn,))
        timer.daemon = True
        timer.start()
        return out

    def _check_environment(self, variables):
        reserved = [k for k in variables if k in RESERVED_ENV]
        if reserved:
            raise self.invalid("Lambda was unable to configure your environment variables "
                               "because the environment variables you have provided contains "
                               "reserved keys that are currently not supported for "
                               "modification. Reserved keys used in this request: %s"
                               % ", ".join(reserved))
        text = json.dumps(variables, separators=(",", ":"))
        if len(text.encode()) > MAX_ENV_BYTES:
            raise self.invalid("Lambda was unable to configure your environment variables "
                               "because the environment variables you have provided exceeded "
                               "the 4KB limit. String measured: %s" % text)

    def _check_image(self, uri):
        """Resolve an ImageUri through the local registry; its digest."""
        host = uri.split("/", 1)[0]
        if "/" not in uri or not (ECR_HOST.match(host) or LOOPBACK_HOST.match(host)):
            raise self.invalid("Source image %s is not valid. Provide a valid source image."
                               % uri)
        try:
            digest = self.engine.pull(uri)
        except EngineError as exc:
            log.info("image %s: %s", uri, exc)
            raise self.invalid("Source image %s does not exist. Provide a valid source image."
                               % uri) from exc
        repository = uri.split("@", 1)[0]
        name, _, tag = repository.rpartition(":")
        if name and "/" not in tag:
            repository = name
        return {"uri": uri, "resolved": "%s@%s" % (repository, digest), "digest": digest}

    def _activate(self, fn):
        with self.lock:
            if fn.config["State"] == "Pending":
                fn.config.update(State="Active", LastUpdateStatus="Successful")
                fn.config.pop("StateReason", None)
                fn.config.pop("StateReasonCode", None)
                self.version += 1

    def get_function(self, params, call):
        fn = self._function(params["FunctionName"], params.get("Qualifier"))
        with self.lock:
            out = {"Configuration": copy.deepcopy(fn.config),
                   "Code": {"RepositoryType": "ECR", "ImageUri": fn.image["uri"],
                            "ResolvedImageUri": fn.image["resolved"]}}
            if fn.tags:
                out["Tags"] = dict(fn.tags)
            if fn.concurrency is not None:
                out["Concurrency"] = {"ReservedConcurrentExecutions": fn.concurrency}
        return out

    def get_function_configuration(self, params, call):
        fn = self._function(params["FunctionName"], params.get("Qualifier"))
        with self.lock:
            return copy.deepcopy(fn.config)

    def list_functions(self, params, call):
        start = 0
        if params.get("Marker"):
            state = decode_token(params["Marker"], "InvalidParameterValueException")
            if not isinstance(state, dict) or not isinstance(state.get("offset"), int):
                raise self.invalid("Invalid marker: %s" % params["Marker"])
            start = state["offset"]
        limit = min(params.get("MaxItems") or LIST_PAGE, LIST_PAGE)
        with self.lock:
            configs = [copy.deepcopy(f.config) for _, f in sorted(self._functions.items())]
        out = {"Functions": configs[start:start + limit]}
        if start + limit < len(configs):
            out["NextMarker"] = encode_token({"offset": start + limit})
        return out

    def delete_function(self, params, call):
        fn = self._function(params["FunctionName"], params.get("Qualifier"))
        with self.lock:
            if self._functions.get(fn.name) is fn:
                del self._functions[fn.name]
            fn.deleted = True
            envs = list(fn.envs)
            self.version += 1
        for env in envs:
            threading.Thread(target=env.stop, daemon=True).start()
        return None

    # Tags.

    def tag_resource(self, params, call):
        fn = self._function_by_arn(params["Resource"])
        with self.lock:
            fn.tags.update(params["Tags"])
            self.version += 1
        return None

    def untag_resource(self, params, call):
        fn = self._function_by_arn(params["Resource"])
        with self.lock:
            for key in params["TagKeys"]:
                fn.tags.pop(key, None)
            self.version += 1
        return None

    def list_tags(self, params, call):
        fn = self._function_by_arn(params["Resource"])
        with self.lock:
            return {"Tags": dict(fn.tags)}

    # Reserved concurrency.

    def put_function_concurrency(self, params, call):
        fn = self._function(params["FunctionName"])
        with self.lock:
            fn.concurrency = params["ReservedConcurrentExecutions"]
            self.version += 1
        return {"ReservedConcurrentExecutions": fn.concurrency}

    def get_function_concurrency(self, params, call):
        fn = self._function(params["FunctionName"])
        with self.lock:
            if fn.concurrency is None:
                return {}
            return {"ReservedConcurrentExecutions": fn.concurrency}

    def delete_function_concurrency(self, params, call):
        fn = self._function(params["FunctionName"])
        with self.lock:
            fn.concurrency = None
            self.version += 1
        return None

    # Invoke.

    def invoke(self, params, call):
        fn = self._function(params["FunctionName"], params.get("Qualifier"))
        kind = params.get("InvocationType", "RequestResponse")
        payload = params.get("Payload") or b""
        limit = EVENT_PAYLOAD_LIMIT if kind == "Event" else SYNC_PAYLOAD_LIMIT
        if len(payload) > limit:
            # The model calls it RequestTooLargeException; the wire code is this.
            raise self.error("RequestEntityTooLargeException",
                             "Request must be smaller than %d bytes for the %s operation"
                             % (limit, "InvokeAsync" if kind == "Event" else "InvokeFunction"),
                             status=413)
        if payload:
            try:
                json.loads(payload)
            except ValueError as exc:
                raise self.error("InvalidRequestContentException", "Could not parse request "
                                 "body into json: Could not parse payload into json: %s" % exc)
        else:
            payload = b"{}"
        with self.lock:
            state = fn.config["State"]
        if state != "Active":
            raise self.error("ResourceConflictException", "The operation cannot be performed "
                             "at this time. The function is currently in the following state: "
                             "%s" % state)
        headers = {"ExecutedVersion": "$LATEST"}
        if kind == "DryRun":
            return dict(headers, StatusCode=204)
        context = params.get("ClientContext")
        if context:
            try:
                context = base64.b64decode(context, validate=True).decode()
                json.loads(context)
            except ValueError as exc:
                raise self.invalid("Client context must be a valid Base64-encoded JSON "
                                   "object.") from exc
        inv = Invocation(call.request_id, payload, fn.arn, fn.config["Timeout"], context)
        if kind == "Event":
            threading.Thread(target=self._run_event, args=(fn, inv),
                             name="event-" + inv.request_id[:8], daemon=True).start()
            return dict(headers, StatusCode=202)
        with self.lock:
            if fn.concurrency is not None and fn.inflight >= fn.concurrency:
                raise self.error(
                    "TooManyRequestsException", "Rate Exceeded.", headers={"Retry-After": "1"},
                    Reason="ReservedFunctionConcurrentInvocationLimitExceeded")
            fn.inflight += 1
        try:
            self._execute(fn, inv)
        finally:
            with self.lock:
                fn.inflight -= 1
        out = dict(headers, StatusCode=200, Payload=inv.body or b"")
        if inv.function_error:
            out["FunctionError"] = inv.function_error
        if params.get("LogType") == "Tail":
            text = "".join(inv.lines).encode()
            out["LogResult"] = base64.b64encode(text[-TAIL_BYTES:]).decode()
        return out

    def _run_event(self, fn, inv):
        """An asynchronous invocation: waits for a free slot of the
        function's reserved concurrency (none when it is 0: the event is
        dropped when the function goes away)."""
        while True:
            with self.lock:
                if fn.deleted or self._closing.is_set():
                    return
                if fn.concurrency is None or fn.inflight < fn.concurrency:
                    fn.inflight += 1
                    break
            time.sleep(0.2)
        try:
            self._execute(fn, inv)
        except Exception:
            log.exception("event invocation %s of %s failed", inv.request_id, fn.name)
        finally:
            with self.lock:
                fn.inflight -= 1

    def _execute(self, fn, inv):
        """Run one invocation in an idle environment of fn or a new one and
        write its platform log lines."""
        env, cold = None, False
        with self.lock:
            for candidate in fn.envs:
                if candidate.idle:
                    env = candidate
                    env.busy = True
                    break
            if env is None:
                stream = "%s/[$LATEST]%s" % (time.strftime("%Y/%m/%d", time.gmtime()),
                                             uuid.uuid4().hex)
                env = Environment(self, fn, stream)
                fn.envs.append(env)
                cold = True
        inv.env = env
        if cold:
            try:
                self._start_environment(fn, env)
            except EngineError as exc:
                self._write_start(env, inv)
                inv.fail("Runtime.InvalidEntrypoint", "RequestId: %s Error: %s"
                         % (inv.request_id, _entrypoint_error(str(exc))))
                self._log(env, inv, "%s %s" % (iso_ms(time.time()), inv.body.decode()))
                self._finish_logs(fn, env, inv, cold)
                env.stop()
                self.environment_gone(env)
                return
        env.run(inv)
        if inv.timed_out:
            self._log(env, inv, "%s %s Task timed out after %.2f seconds"
                      % (iso_ms(time.time()), inv.request_id, inv.timeout))
        self._finish_logs(fn, env, inv, cold)

    def _start_environment(self, fn, env):
        config = fn.config
        uri = fn.image["uri"]
        self.engine.pull(uri)
        image = self.engine.image_config(uri)
        wanted = (config.get("ImageConfigResponse") or {}).get("ImageConfig") or {}
        entrypoint = wanted.get("EntryPoint") or image.get("Entrypoint") or None
        command = wanted.get("Command") or image.get("Cmd") or None
        cred = self.creds.issue(config["Role"], fn.name, CREDENTIAL_SECONDS)
        region = self.config.region
        env_vars = dict((config.get("Environment") or {}).get("Variables") or {})
        env_vars.update({
            "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:%d" % env.server.port,
            "AWS_LAMBDA_FUNCTION_NAME": fn.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config["MemorySize"]),
            "AWS_LAMBDA_LOG_GROUP_NAME": fn.log_group,
            "AWS_LAMBDA_LOG_STREAM_NAME": env.stream,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_ACCESS_KEY_ID": cred.access_key,
            "AWS_SECRET_ACCESS_KEY": cred.secret_key,
            "AWS_SESSION_TOKEN": cred.token,
            "LAMBDA_TASK_ROOT": "/var/task",
            "LAMBDA_RUNTIME_DIR": "/var/runtime",
            "TZ": ":UTC",
        })
        size = (config.get("EphemeralStorage") or {}).get("Size", 512)
        options = {
            "name": "awssim-lambda-%s-%s" % (fn.name[:40], env.stream[-12:]),
            "labels": {LABEL: "1", LABEL + ".function": fn.arn,
                       LABEL + ".log-stream": env.stream},
            "environment": ["%s=%s" % item for item in env_vars.items()],
            "entrypoint": entrypoint,
            "command": command if entrypoint or command else None,
            "working_dir": wanted.get("WorkingDirectory") or image.get("WorkingDir") or None,
            "user": LAMBDA_USER,
            "read_only": True,
            "tmpfs": {"/tmp": "rw,exec,nosuid,nodev,size=%dm" % size},
            "mem_limit": "%dm" % config["MemorySize"],
        }
        env.started = time.time()
        try:
            container_id = self.engine.start(uri, **options)
        except EngineError as exc:
            if exc.container_id:
                self.engine.remove(exc.container_id)
            raise
        env.attach(container_id)

    def invocation_started(self, env, inv):
        self._write_start(env, inv)

    def _write_start(self, env, inv):
        if not getattr(inv, "start_written", False):
            inv.start_written = True
            self._log(env, inv, "START RequestId: %s Version: $LATEST" % inv.request_id)

    def _finish_logs(self, fn, env, inv, cold):
        self._write_start(env, inv)
        began = inv.delivered or inv.created
        duration = max(0.0, ((inv.finished or time.time()) - began) * 1000)
        self._log(env, inv, "END RequestId: %s" % inv.request_id)
        report = ("REPORT RequestId: %s\tDuration: %.2f ms\tBilled Duration: %d ms\t"
                  "Memory Size: %d MB\tMax Memory Used: %d MB\t"
                  % (inv.request_id, duration, billed_ms(duration), fn.config["MemorySize"],
                     min(MAX_MEMORY_USED_MB, fn.config["MemorySize"])))
        init = env.init_duration_ms() if cold else None
        if init is not None:
            report += "Init Duration: %.2f ms\t" % init
        self._log(env, inv, report)

    def _log(self, env, inv, line):
        message = line + "\n"
        with env.lock:
            inv.lines.append(message)
        self.write_log(env.function, env.stream, time.time(), message)

    def write_log(self, fn, stream, stamp, message):
        self.logs.put(fn.log_group, stream, epoch_ms(stamp), message)

    def environment_gone(self, env):
        """An environment's container exited or was stopped: forget it and
        remove the container."""
        with self.lock:
            if env in env.function.envs:
                env.function.envs.remove(env)
        try:
            env.server.shutdown()
            env.server.server_close()
        except Exception:
            pass
        self._remove(env)

    def _remove(self, env):
        if env.container_id is not None:
            try:
                self.engine.remove(env.container_id)
            except Exception as exc:  # already being removed (close and watch race)
                log.debug("removing %s: %s", env.container_id[:12], exc)

    # Idle environments, shutdown, persistence.

    def _reap_loop(self):
        while not self._closing.wait(1.0):
            now = time.time()
            with self.lock:
                idle = [env for fn in self._functions.values() for env in fn.envs
                        if env.idle and now - env.last_used > self.idle_timeout]
            for env in idle:
                log.info("stopping idle environment %s", env.name)
                env.stop()

    def close(self):
        self._closing.set()
        with self.lock:
            envs = [env for fn in self._functions.values() for env in fn.envs]
        for env in envs:
            env.stop()
            self._remove(env)

    def snapshot(self):
        with self.lock:
            return copy.deepcopy({"functions": [f.snapshot() for f in self._functions.values()]})

    def restore(self, state):
        with self.lock:
            for item in state.get("functions", []):
                fn = Function(item["config"], item["tags"], item["concurrency"], item["image"])
                self._functions[fn.name] = fn
                self._activate(fn)


def _entrypoint_error(message):
    """Lambda's wording for an entrypoint the runtime cannot exec, from the
    engine's explanation."""
    m = re.search(r'exec: "([^"]+)": (?:stat [^:]*: )?([^:]+)', message)
    if m is None:
        return "fork/exec: %s" % message
    reason = m.group(2).strip()
    if "not found" in reason:
        reason = "no such file or directory"
    return "fork/exec %s: %s" % (m.group(1), reason)
