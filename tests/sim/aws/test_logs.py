"""CloudWatch Logs: groups, streams, events, token semantics, and the
awslogs driver behaviour of ECS tasks."""

import time

import pytest
from botocore.exceptions import ClientError

from conftest import run, task_definition, task_id, wait_status


def code_of(exc_info):
    return exc_info.value.response["Error"]["Code"]


@pytest.fixture
def stream(logs, request):
    group = "/t/" + request.node.name
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    return group, "s"


def put(logs, group, stream, messages, base=None):
    base = base or int(time.time() * 1000)
    logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=[
        {"timestamp": base + i, "message": m} for i, m in enumerate(messages)])


def test_group_and_stream_lifecycle(logs):
    logs.create_log_group(logGroupName="/t/life")
    with pytest.raises(ClientError) as exc:
        logs.create_log_group(logGroupName="/t/life")
    assert code_of(exc) == "ResourceAlreadyExistsException"
    logs.create_log_stream(logGroupName="/t/life", logStreamName="a")
    logs.create_log_stream(logGroupName="/t/life", logStreamName="b")
    with pytest.raises(ClientError) as exc:
        logs.create_log_stream(logGroupName="/t/life", logStreamName="a")
    assert code_of(exc) == "ResourceAlreadyExistsException"
    streams = logs.describe_log_streams(logGroupName="/t/life")["logStreams"]
    assert [s["logStreamName"] for s in streams] == ["a", "b"]
    assert streams[0]["arn"].endswith(":log-group:/t/life:log-stream:a")
    groups = logs.describe_log_groups(logGroupNamePrefix="/t/life")["logGroups"]
    assert [g["logGroupName"] for g in groups] == ["/t/life"]
    with pytest.raises(ClientError) as exc:
        logs.get_log_events(logGroupName="/t/none", logStreamName="a")
    assert code_of(exc) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as exc:
        logs.get_log_events(logGroupName="/t/life", logStreamName="zzz")
    assert code_of(exc) == "ResourceNotFoundException"


def test_forward_token_semantics(logs, stream):
    group, name = stream
    first = logs.get_log_events(logGroupName=group, logStreamName=name, startFromHead=True)
    assert first["events"] == []
    put(logs, group, name, ["one", "two"])
    got = logs.get_log_events(logGroupName=group, logStreamName=name,
                              nextToken=first["nextForwardToken"])
    assert [e["message"] for e in got["events"]] == ["one", "two"]
    token = got["nextForwardToken"]
    # At the end of the stream the same token comes back, again and again.
    for _ in range(2):
        again = logs.get_log_events(logGroupName=group, logStreamName=name, nextToken=token)
        assert again["events"] == [] and again["nextForwardToken"] == token
    put(logs, group, name, ["three"])
    more = logs.get_log_events(logGroupName=group, logStreamName=name, nextToken=token)
    assert [e["message"] for e in more["events"]] == ["three"]
    assert more["nextForwardToken"] != token
    event = more["events"][0]
    assert isinstance(event["timestamp"], int) and isinstance(event["ingestionTime"], int)


def test_head_tail_and_backward_paging(logs, stream):
    group, name = stream
    put(logs, group, name, ["m%d" % i for i in range(10)])
    head = logs.get_log_events(logGroupName=group, logStreamName=name, startFromHead=True,
                               limit=3)
    assert [e["message"] for e in head["events"]] == ["m0", "m1", "m2"]
    tail = logs.get_log_events(logGroupName=group, logStreamName=name, limit=3)
    assert [e["message"] for e in tail["events"]] == ["m7", "m8", "m9"]
    back = logs.get_log_events(logGroupName=group, logStreamName=name, limit=3,
                               nextToken=tail["nextBackwardToken"])
    assert [e["message"] for e in back["events"]] == ["m4", "m5", "m6"]
    fwd = logs.get_log_events(logGroupName=group, logStreamName=name, limit=4,
                              nextToken=head["nextForwardToken"])
    assert [e["message"] for e in fwd["events"]] == ["m3", "m4", "m5", "m6"]
    window = logs.get_log_events(logGroupName=group, logStreamName=name, startFromHead=True,
                                 startTime=head["events"][2]["timestamp"])
    assert window["events"][0]["message"] == "m2"
    with pytest.raises(ClientError) as exc:
        logs.get_log_events(logGroupName=group, logStreamName=name, nextToken="garbage")
    assert code_of(exc) == "InvalidParameterException"


def test_paging_reads_every_event_once_in_both_directions(logs, stream):
    """Pages of a stream larger than one response: each at most 1 MB (with
    AWS's 26 bytes per event), every event once and in order forward and
    backward, events of one millisecond kept apart by the token, the end
    answered with the same token, a time window honoured with a token."""
    group, name = stream
    base = int(time.time() * 1000)
    body = "x" * 1500
    for batch in range(5):   # 2500 events of ~1.5 KB: about 3.8 MB
        logs.put_log_events(logGroupName=group, logStreamName=name, logEvents=[
            {"timestamp": base + (batch * 500 + i) // 3, "message": "%05d %s" % (batch * 500 + i, body)}
            for i in range(500)])
    want = ["%05d" % i for i in range(2500)]

    def sizes(page):
        return sum(len(e["message"]) + 26 for e in page["events"])

    got, pages = [], 0
    page = logs.get_log_events(logGroupName=group, logStreamName=name, startFromHead=True)
    while page["events"]:
        assert sizes(page) <= 1048576
        got += [e["message"][:5] for e in page["events"]]
        pages += 1
        token = page["nextForwardToken"]
        page = logs.get_log_events(logGroupName=group, logStreamName=name, nextToken=token)
    assert got == want and pages > 3
    assert page["nextForwardToken"] == token
    back = []
    page = logs.get_log_events(logGroupName=group, logStreamName=name)
    while page["events"]:
        assert sizes(page) <= 1048576
        back = [e["message"][:5] for e in page["events"]] + back
        page = logs.get_log_events(logGroupName=group, logStreamName=name,
                                   nextToken=page["nextBackwardToken"])
    assert back == want
    small = logs.get_log_events(logGroupName=group, logStreamName=name, startFromHead=True,
                                limit=7, startTime=base + 100, endTime=base + 110)
    assert [e["message"][:5] for e in small["events"]] == want[300:307]
    rest = logs.get_log_events(logGroupName=group, logStreamName=name, startTime=base + 100,
                               endTime=base + 110, nextToken=small["nextForwardToken"])
    assert [e["message"][:5] for e in rest["events"]] == want[307:330]


def test_filter_log_events(logs, stream):
    group, name = stream
    put(logs, group, name, ["error: disk", "ok", "error: net"])
    out = logs.filter_log_events(logGroupName=group, filterPattern="error")
    assert [e["message"] for e in out["events"]] == ["error: disk", "error: net"]
    assert all(e["logStreamName"] == name for e in out["events"])
    page = logs.filter_log_events(logGroupName=group, limit=2)
    assert len(page["events"]) == 2 and page["nextToken"]
    rest = logs.filter_log_events(logGroupName=group, nextToken=page["nextToken"])
    assert [e["message"] for e in rest["events"]] == ["error: net"]


def test_put_log_events_must_be_chronological(logs, stream):
    group, name = stream
    now = int(time.time() * 1000)
    with pytest.raises(ClientError) as exc:
        logs.put_log_events(logGroupName=group, logStreamName=name, logEvents=[
            {"timestamp": now, "message": "b"}, {"timestamp": now - 5, "message": "a"}])
    assert code_of(exc) == "InvalidParameterException"


def test_awslogs_driver_merges_stdout_and_stderr(ecs, logs, cluster, log_group):
    script = ("echo out-1; sleep 0.1; echo err-1 >&2; sleep 0.1; echo out-2; sleep 0.1; "
              "echo err-2 >&2; exit 0")
    td = task_definition(ecs, "merged", ["sh", "-c", script], log_group=log_group)
    task = run(ecs, cluster, td)
    final, _ = wait_status(ecs, cluster, task["taskArn"], "STOPPED")
    assert final["containers"][0]["exitCode"] == 0
    name = "sk/main/" + task_id(task["taskArn"])
    streams = logs.describe_log_streams(logGroupName=log_group,
                                        logStreamNamePrefix="sk/main/")["logStreams"]
    assert name in [s["logStreamName"] for s in streams]
    out = logs.get_log_events(logGroupName=log_group, logStreamName=name, startFromHead=True)
    assert [e["message"] for e in out["events"]] == ["out-1", "err-1", "out-2", "err-2"]
    stamps = [e["timestamp"] for e in out["events"]]
    assert stamps == sorted(stamps)
    assert abs(stamps[0] / 1000.0 - final["startedAt"].timestamp()) < 10


def test_follow_a_running_task(ecs, logs, cluster, log_group):
    """The backend's logs -f: poll with nextForwardToken while it runs."""
    td = task_definition(ecs, "ticker", ["sh", "-c",
                                         "for i in 1 2 3 4; do echo tick $i; sleep 0.3; done"],
                         log_group=log_group)
    task = run(ecs, cluster, td)
    name = "sk/main/" + task_id(task["taskArn"])
    wait_status(ecs, cluster, task["taskArn"], "RUNNING")
    messages, token = [], None
    deadline = time.time() + 20
    while time.time() < deadline and len(messages) < 4:
        kw = {"nextToken": token} if token else {"startFromHead": True}
        try:
            out = logs.get_log_events(logGroupName=log_group, logStreamName=name, **kw)
        except ClientError:
            time.sleep(0.1)  # the stream appears when the container starts
            continue
        messages += [e["message"] for e in out["events"]]
        token = out["nextForwardToken"]
        time.sleep(0.15)
    assert messages == ["tick 1", "tick 2", "tick 3", "tick 4"]
    wait_status(ecs, cluster, task["taskArn"], "STOPPED")


@pytest.mark.parametrize("tty", [False, True])
def test_awslogs_long_lines_and_tty(ecs, logs, cluster, log_group, tty):
    # 20000 characters: the engine stores it as two partial entries; the
    # awslogs driver joins them into one event.
    script = "echo first; printf '%20000s' '' | tr ' ' x; echo; echo last"
    td = task_definition(ecs, "long", ["sh", "-c", script], log_group=log_group,
                         pseudoTerminal=tty)
    task = run(ecs, cluster, td)
    final, _ = wait_status(ecs, cluster, task["taskArn"], "STOPPED")
    assert final["containers"][0]["exitCode"] == 0
    out = logs.get_log_events(logGroupName=log_group, startFromHead=True,
                              logStreamName="sk/main/" + task_id(task["taskArn"]))
    # awslogs cuts at "\n" only: a TTY's lines keep the terminal's "\r".
    end = "\r" if tty else ""
    assert [e["message"] for e in out["events"]] == [m + end for m in ("first", "x" * 20000, "last")]
