"""Lambda: the rest-json API through botocore, and invocations in execution
environments that implement the Runtime API (a busybox shell runtime)."""

import base64
import json
import time
import uuid

import pytest
from botocore.exceptions import ClientError

from conftest import ACCOUNT, REGION, containers_of, with_extra_members

ROLE = "arn:aws:iam::%s:role/lambda-exec" % ACCOUNT
IMAGE = "%s.dkr.ecr.%s.amazonaws.com/library/busybox:latest" % (ACCOUNT, REGION)

# A Lambda runtime in busybox sh: take the next event, run HANDLER (shell
# code that reads the event in $EVENT and prints the answer on fd 3), post
# the answer. HANDLER may exit or sleep.
RUNTIME = r"""
api=http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime
while true; do
  wget -q -S -O /tmp/event "$api/invocation/next" 2>/tmp/headers || exit 9
  id=$(sed -n 's/^ *Lambda-Runtime-Aws-Request-Id: *//ip' /tmp/headers | tr -d '\r')
  EVENT=$(cat /tmp/event)
  ( eval "$HANDLER" ) 3>/tmp/answer
  if [ -e /tmp/error ]; then
    rm /tmp/error
    wget -q -O /dev/null --header 'Lambda-Runtime-Function-Error-Type: Custom.Failure' \
      --post-data "$(cat /tmp/answer)" "$api/invocation/$id/error"
  else
    wget -q -O /dev/null --post-data "$(cat /tmp/answer)" "$api/invocation/$id/response"
  fi
done
"""


@pytest.fixture(scope="module")
def lam(sim):
    return sim.client("lambda")


@pytest.fixture(scope="module")
def loose_lam(sim):
    return sim.client("lambda", parameter_validation=False)


def error_of(exc_info):
    r = exc_info.value.response
    return r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Message"]


def create(lam, handler="echo \"$EVENT\" >&3", name=None, wait=True, env=None, **kw):
    name = name or "fn-" + uuid.uuid4().hex[:10]
    variables = dict(env or {}, HANDLER=handler)
    out = lam.create_function(
        FunctionName=name, Role=ROLE, PackageType="Image", Code={"ImageUri": IMAGE},
        ImageConfig={"EntryPoint": ["sh", "-c", RUNTIME]},
        Environment={"Variables": variables}, **kw)
    if wait:
        lam.get_waiter("function_active_v2").wait(
            FunctionName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 50})
    return out


def invoke(lam, name, payload=b'{"x": 1}', **kw):
    out = lam.invoke(FunctionName=name, Payload=payload, **kw)
    out["Body"] = out.pop("Payload").read()
    return out


def events(logs, group, stream=None):
    kw = {"logStreamNames": [stream]} if stream else {}
    try:
        return logs.filter_log_events(logGroupName=group, **kw)["events"]
    except logs.exceptions.ResourceNotFoundException:  # no line written yet
        return []


# The API.

def test_create_get_list_delete_and_tags(lam):
    out = create(lam, wait=False, Tags={"team": "a"}, MemorySize=256, Timeout=5)
    name = out["FunctionName"]
    arn = "arn:aws:lambda:%s:%s:function:%s" % (REGION, ACCOUNT, name)
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert out["FunctionArn"] == arn
    assert out["State"] == "Pending" and out["StateReasonCode"] == "Creating"
    assert out["PackageType"] == "Image" and out["Version"] == "$LATEST"
    assert (out["MemorySize"], out["Timeout"]) == (256, 5)
    lam.get_waiter("function_active_v2").wait(FunctionName=name,
                                              WaiterConfig={"Delay": 0.2, "MaxAttempts": 50})
    got = lam.get_function(FunctionName=name)
    assert got["Configuration"]["State"] == "Active"
    assert got["Configuration"]["LastUpdateStatus"] == "Successful"
    assert got["Code"]["RepositoryType"] == "ECR" and got["Code"]["ImageUri"] == IMAGE
    assert got["Code"]["ResolvedImageUri"].startswith(IMAGE.rsplit(":", 1)[0] + "@sha256:")
    assert got["Tags"] == {"team": "a"}
    # A full ARN (URL-encoded in the path, double-encoded when signed) and
    # a partial one name the same function.
    assert lam.get_function_configuration(FunctionName=arn)["FunctionName"] == name
    assert lam.get_function(FunctionName="%s:function:%s" % (ACCOUNT, name))[
        "Configuration"]["FunctionArn"] == arn
    names = []
    marker = None
    while True:
        page = lam.list_functions(MaxItems=1, **({"Marker": marker} if marker else {}))
        assert len(page["Functions"]) <= 1
        names += [f["FunctionName"] for f in page["Functions"]]
        marker = page.get("NextMarker")
        if not marker:
            break
    assert name in names
    lam.tag_resource(Resource=arn, Tags={"b": "2"})
    lam.untag_resource(Resource=arn, TagKeys=["team"])
    assert lam.list_tags(Resource=arn)["Tags"] == {"b": "2"}
    assert lam.delete_function(FunctionName=name)["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as exc:
        lam.get_function(FunctionName=name)
    assert error_of(exc) == ("ResourceNotFoundException", 404, "Function not found: " + arn)
    assert isinstance(exc.value, lam.exceptions.ResourceNotFoundException)


def test_errors(lam, loose_lam, sim):
    name = create(lam, wait=False)["FunctionName"]
    with pytest.raises(ClientError) as exc:
        create(lam, name=name, wait=False)
    assert error_of(exc) == ("ResourceConflictException", 409,
                             "Function already exist: %s" % name)
    # Invoking a Pending function.
    with pytest.raises(ClientError) as exc:
        lam.invoke(FunctionName=name)
    code, status, message = error_of(exc)
    assert (code, status) == ("ResourceConflictException", 409)
    assert message.endswith("The function is currently in the following state: Pending")
    # Model constraints: ValidationException, members in lowerCamelCase.
    with pytest.raises(ClientError) as exc:
        loose_lam.create_function(FunctionName="x", Role="lambda-exec", PackageType="Image",
                                  Code={"ImageUri": IMAGE}, MemorySize=64)
    code, status, message = error_of(exc)
    assert (code, status) == ("ValidationException", 400)
    assert message.startswith("2 validation errors detected: ")
    assert "Value 'lambda-exec' at 'role' failed to satisfy constraint: Member must satisfy " \
        "regular expression pattern" in message
    assert "Value 64 at 'memorySize' failed to satisfy constraint: Member must have value " \
        "greater than or equal to 128" in message
    with pytest.raises(ClientError) as exc:
        lam.create_function(FunctionName="nosuchimage", Role=ROLE, PackageType="Image",
                            Code={"ImageUri": IMAGE.replace("busybox", "nope")})
    code, status, message = error_of(exc)
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert message == "Source image %s does not exist. Provide a valid source image." \
        % IMAGE.replace("busybox", "nope")
    with pytest.raises(ClientError) as exc:
        create(lam, wait=False, env={"AWS_REGION": "x"})
    assert error_of(exc)[:2] == ("InvalidParameterValueException", 400)
    assert "Reserved keys used in this request: AWS_REGION" in error_of(exc)[2]
    # The raw rest-json error envelope.
    import urllib.request
    import urllib.error
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    from conftest import ACCESS_KEY, SECRET_KEY
    url = sim.endpoint + "/2015-03-31/functions/nosuch"
    req = AWSRequest(method="GET", url=url)
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "lambda", REGION).add_auth(req)
    raw = urllib.request.Request(url, headers=dict(req.headers.items()))
    with pytest.raises(urllib.error.HTTPError) as http:
        urllib.request.urlopen(raw, timeout=10)
    assert http.value.code == 404
    assert http.value.headers["X-Amzn-ErrorType"] == "ResourceNotFoundException"
    assert http.value.headers["x-amzn-RequestId"]
    assert json.loads(http.value.read()) == {
        "Type": "User", "Message": "Function not found: arn:aws:lambda:%s:%s:function:nosuch"
        % (REGION, ACCOUNT)}


def test_logging_config_and_calls(lam, sim):
    undo = with_extra_members(lam, "CreateFunction",
                              {"LoggingConfig": {"LogFormat": "Text", "LogGroup": "/custom/fns"}})
    try:
        name = create(lam, wait=False)["FunctionName"]
    finally:
        undo()
    loose = sim.client("lambda", parameter_validation=False)
    undo = with_extra_members(loose, "CreateFunction", {"LoggingConfig": {"LogFormat": "XML"}})
    try:
        with pytest.raises(ClientError) as exc:
            create(loose, wait=False)
    finally:
        undo()
    assert error_of(exc)[0] == "ValidationException"
    assert "at 'loggingConfig.logFormat'" in error_of(exc)[2]
    sim.post("/_sim/calls/reset")
    sim.post("/_sim/faults", {"service": "lambda", "operation": "GetFunction",
                              "error": "TooManyRequestsException", "status": 429,
                              "retry_after": 2})
    with pytest.raises(ClientError) as exc:
        lam.get_function(FunctionName=name)
    assert error_of(exc)[:2] == ("TooManyRequestsException", 429)
    assert exc.value.response["ResponseMetadata"]["HTTPHeaders"]["retry-after"] == "2"
    assert sim.get("/_sim/calls") == {"lambda.GetFunction": 1}
    lam.delete_function(FunctionName=name)


# Invocations.

def test_invoke_round_trip_tail_and_logs(lam, sim):
    name = create(lam)["FunctionName"]
    payload = json.dumps({"hello": "wörld", "n": [1, 2]}).encode()
    out = invoke(lam, name, payload, LogType="Tail")
    assert out["StatusCode"] == 200 and "FunctionError" not in out
    assert out["ExecutedVersion"] == "$LATEST"
    assert json.loads(out["Body"]) == json.loads(payload)
    request_id = out["ResponseMetadata"]["RequestId"]
    tail = base64.b64decode(out["LogResult"]).decode()
    assert tail.splitlines()[0] == "START RequestId: %s Version: $LATEST" % request_id
    assert "END RequestId: %s\n" % request_id in tail
    assert "\nREPORT RequestId: %s\tDuration: " % request_id in tail
    init = float(tail.split("Init Duration: ")[1].split(" ms")[0])
    assert init > 0
    logs = sim.client("logs")
    found = events(logs, "/aws/lambda/" + name)
    stream = {e["logStreamName"] for e in found}
    assert len(stream) == 1
    assert len(stream.pop().split("/")[3]) == len("[$LATEST]") + 32
    messages = [e["message"] for e in found]
    assert messages[-2:] == ["END RequestId: %s\n" % request_id, messages[-1]]
    assert messages[-1].startswith("REPORT RequestId: %s\t" % request_id)
    assert "START RequestId: %s Version: $LATEST\n" % request_id in messages
    lam.delete_function(FunctionName=name)


def test_environment_and_warm_reuse(lam, sim):
    handler = ('n=$(cat /tmp/count 2>/dev/null || echo 0); n=$((n+1)); echo $n >/tmp/count; '
               'echo "out $n"; echo "err $n" >&2; touch /ro 2>/dev/null && ro=no || ro=yes; '
               'printf \'{"n":%s,"fn":"%s","mem":"%s","ver":"%s","ro":"%s","uid":"%s",'
               '"task":"%s","tz":"%s","stream":"%s","token":%s}\' $n '
               '"$AWS_LAMBDA_FUNCTION_NAME" "$AWS_LAMBDA_FUNCTION_MEMORY_SIZE" '
               '"$AWS_LAMBDA_FUNCTION_VERSION" $ro $(id -u) "$LAMBDA_TASK_ROOT" "$TZ" '
               '"$AWS_LAMBDA_LOG_STREAM_NAME" ${#AWS_SESSION_TOKEN} >&3')
    name = create(lam, handler, MemorySize=200)["FunctionName"]
    first = json.loads(invoke(lam, name)["Body"])
    second = invoke(lam, name, LogType="Tail")
    assert json.loads(second["Body"])["n"] == 2  # the same container: warm
    assert "Init Duration" not in base64.b64decode(second["LogResult"]).decode()
    assert first["fn"] == name and first["mem"] == "200" and first["ver"] == "$LATEST"
    assert first["ro"] == "yes" and first["uid"] == "993" and first["task"] == "/var/task"
    assert first["tz"] == ":UTC" and first["token"] > 0
    assert len(containers_of(sim.engine, sim.state_dir)) >= 1
    messages = [e["message"] for e in events(sim.client("logs"), "/aws/lambda/" + name,
                                             first["stream"])]
    assert "out 1\n" in messages and "err 1\n" in messages and "out 2\n" in messages
    lam.delete_function(FunctionName=name)


def test_function_error_passthrough(lam):
    handler = 'printf \'{"errorMessage":"boom","errorType":"MyError"}\' >&3; touch /tmp/error'
    name = create(lam, handler)["FunctionName"]
    out = invoke(lam, name)
    assert out["StatusCode"] == 200 and out["FunctionError"] == "Unhandled"
    assert out["Body"] == b'{"errorMessage":"boom","errorType":"MyError"}'
    lam.delete_function(FunctionName=name)


def test_tail_has_the_lines_written_just_before_the_answer(lam, sim):
    # 5000 lines, the last one the instant before the answer goes out: the
    # tail (its last 4 KB) ends with them, in order, for every invocation.
    name = create(lam, 'seq 5000 | sed "s/^/line-/"; echo "$EVENT" >&3')["FunctionName"]
    for _ in range(3):
        out = invoke(lam, name, LogType="Tail")
        assert "FunctionError" not in out
        tail = base64.b64decode(out["LogResult"]).decode()
        lines = [l for l in tail.splitlines() if l.startswith("line-")]
        assert len(lines) > 100
        first = int(lines[0][5:])
        assert lines == ["line-%d" % i for i in range(first, 5001)]
        assert "awssim-settled" not in tail
    # The mark that tells the simulator the output is in is never logged.
    pages = sim.client("logs").get_paginator("filter_log_events").paginate(
        logGroupName="/aws/lambda/" + name)
    found = [e for page in pages for e in page["events"]]
    assert sum(e["message"] == "line-5000\n" for e in found) == 3
    assert not [e for e in found if "awssim-settled" in e["message"]]
    lam.delete_function(FunctionName=name)


def test_exit_status(lam, sim):
    # A runtime that exits 42 when it gets an event.
    name = "fn-" + uuid.uuid4().hex[:10]
    script = ('wget -q -O /dev/null "http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime/'
              'invocation/next"; echo bye; exit 42')
    lam.create_function(FunctionName=name, Role=ROLE, PackageType="Image",
                        Code={"ImageUri": IMAGE}, ImageConfig={"EntryPoint": ["sh", "-c", script]})
    lam.get_waiter("function_active_v2").wait(FunctionName=name,
                                              WaiterConfig={"Delay": 0.2, "MaxAttempts": 50})
    out = invoke(lam, name, LogType="Tail")
    request_id = out["ResponseMetadata"]["RequestId"]
    assert out["FunctionError"] == "Unhandled"
    assert json.loads(out["Body"]) == {
        "errorType": "Runtime.ExitError",
        "errorMessage": "RequestId: %s Error: Runtime exited with error: exit status 42"
        % request_id}
    assert "bye\n" in base64.b64decode(out["LogResult"]).decode()
    lam.delete_function(FunctionName=name)


def test_killed_runtime(lam, sim):
    import threading
    import docker
    name = create(lam, "echo started; sleep 2; echo '{}' >&3")["FunctionName"]
    client = docker.DockerClient(base_url=sim.engine, version="1.41")

    def kill():
        deadline = time.time() + 10
        while time.time() < deadline:
            found = client.containers.list(ignore_removed=True, filters={
                "label": "sockerless.awssim.function=arn:aws:lambda:%s:%s:function:%s"
                % (REGION, ACCOUNT, name)})
            if found:
                time.sleep(0.5)
                found[0].kill()
                return
            time.sleep(0.1)
    killer = threading.Thread(target=kill)
    killer.start()
    try:
        out = invoke(lam, name)
    finally:
        killer.join()
        client.close()
    assert out["FunctionError"] == "Unhandled"
    assert json.loads(out["Body"])["errorMessage"].endswith(
        "Error: Runtime exited with error: signal: killed")
    lam.delete_function(FunctionName=name)


def test_timeout(lam, sim):
    name = create(lam, "echo sleeping; sleep 30", Timeout=1)["FunctionName"]
    started = time.time()
    out = invoke(lam, name, LogType="Tail")
    assert time.time() - started < 10
    request_id = out["ResponseMetadata"]["RequestId"]
    assert out["FunctionError"] == "Unhandled"
    assert json.loads(out["Body"]) == {
        "errorType": "Sandbox.Timedout",
        "errorMessage": "RequestId: %s Error: Task timed out after 1.00 seconds" % request_id}
    tail = base64.b64decode(out["LogResult"]).decode()
    assert "sleeping\n" in tail
    assert " %s Task timed out after 1.00 seconds\n" % request_id in tail
    # The environment was killed: the next invocation starts a new one.
    out = invoke(lam, name, LogType="Tail")
    assert "Init Duration" in base64.b64decode(out["LogResult"]).decode()
    lam.delete_function(FunctionName=name)


def test_bad_entrypoint(lam):
    name = "fn-" + uuid.uuid4().hex[:10]
    lam.create_function(FunctionName=name, Role=ROLE, PackageType="Image",
                        Code={"ImageUri": IMAGE}, ImageConfig={"EntryPoint": ["/no/such"]})
    lam.get_waiter("function_active_v2").wait(FunctionName=name,
                                              WaiterConfig={"Delay": 0.2, "MaxAttempts": 50})
    out = invoke(lam, name)
    body = json.loads(out["Body"])
    assert out["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.InvalidEntrypoint"
    assert "/no/such" in body["errorMessage"]
    lam.delete_function(FunctionName=name)


def test_event_dry_run_and_payload_limits(lam, sim):
    name = create(lam, 'echo "got $EVENT"; echo "{}" >&3')["FunctionName"]
    out = lam.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"async":true}')
    assert out["StatusCode"] == 202
    out = lam.invoke(FunctionName=name, InvocationType="DryRun")
    assert out["StatusCode"] == 204
    logs = sim.client("logs")
    deadline = time.time() + 20
    while time.time() < deadline:
        messages = [e["message"] for e in events(logs, "/aws/lambda/" + name)]
        if 'got {"async":true}\n' in messages and any(
                m.startswith("REPORT") for m in messages):
            break
        time.sleep(0.2)
    assert 'got {"async":true}\n' in messages
    with pytest.raises(ClientError) as exc:
        lam.invoke(FunctionName=name, InvocationType="Event", Payload=b'"' + b"x" * 262144 + b'"')
    assert error_of(exc)[:2] == ("RequestEntityTooLargeException", 413)
    with pytest.raises(ClientError) as exc:
        lam.invoke(FunctionName=name, Payload=b"not json")
    assert error_of(exc)[:2] == ("InvalidRequestContentException", 400)
    lam.delete_function(FunctionName=name)


def test_reserved_concurrency(lam):
    name = create(lam)["FunctionName"]
    assert lam.get_function_concurrency(FunctionName=name).get(
        "ReservedConcurrentExecutions") is None
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    assert lam.get_function_concurrency(FunctionName=name)["ReservedConcurrentExecutions"] == 0
    assert lam.get_function(FunctionName=name)["Concurrency"] == {
        "ReservedConcurrentExecutions": 0}
    with pytest.raises(ClientError) as exc:
        lam.invoke(FunctionName=name, Payload=b"{}")
    assert error_of(exc)[:2] == ("TooManyRequestsException", 429)
    assert exc.value.response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    lam.delete_function_concurrency(FunctionName=name)
    assert invoke(lam, name)["StatusCode"] == 200
    lam.delete_function(FunctionName=name)


def test_delete_kills_environments_and_persistence(fresh_sim):
    sim = fresh_sim("--lambda-idle-timeout", "2").start()
    lam = sim.client("lambda")
    name = create(lam, Tags={"keep": "yes"})["FunctionName"]
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=3)
    assert invoke(lam, name)["StatusCode"] == 200
    assert containers_of(sim.engine, sim.state_dir)
    # Idle environments go away.
    deadline = time.time() + 15
    while containers_of(sim.engine, sim.state_dir) and time.time() < deadline:
        time.sleep(0.3)
    assert containers_of(sim.engine, sim.state_dir) == []
    assert invoke(lam, name)["StatusCode"] == 200
    sim.stop()
    assert containers_of(sim.engine, sim.state_dir) == []
    sim.start()
    lam = sim.client("lambda")
    got = lam.get_function(FunctionName=name)
    assert got["Configuration"]["State"] == "Active"
    assert got["Tags"] == {"keep": "yes"}
    assert got["Concurrency"] == {"ReservedConcurrentExecutions": 3}
    assert json.loads(invoke(lam, name)["Body"]) == {"x": 1}
    lam.delete_function(FunctionName=name)
    deadline = time.time() + 15
    while containers_of(sim.engine, sim.state_dir) and time.time() < deadline:
        time.sleep(0.3)
    assert containers_of(sim.engine, sim.state_dir) == []
    sim.stop()
    assert "Traceback" not in sim.log_text()
