"""CloudWatch Logs (JSON 1.1, Logs_20140328): log groups, streams and events
kept in memory, each stream sorted by timestamp. The ECS task runner writes
awslogs output here through append()."""

import bisect
import collections
import json
import os
import shlex
import threading

from awssim_shapes import service_model
from awssim_util import AwsError, decode_token, encode_token, epoch_ms, now, paginate

MAX_BATCH_BYTES = 1048576   # GetLogEvents / FilterLogEvents / PutLogEvents size cap
EVENT_OVERHEAD = 26         # bytes AWS adds per event when sizing a batch
DAY_MS = 24 * 3600 * 1000

# One stored event. (timestamp, seq) orders a stream; seq is unique across
# the store, so it also orders events of different streams with equal times.
Event = collections.namedtuple("Event", "timestamp seq message ingestion")


class Stream:
    def __init__(self, name, created):
        self.name = name
        self.created = created
        self.events = []
        self.file = None    # its events file in the store (--state-dir)
        self.pending = []   # events not yet in that file

    def describe(self, group_arn):
        out = {"logStreamName": self.name, "creationTime": self.created,
               "arn": "%s:log-stream:%s" % (group_arn[:-2], self.name), "storedBytes": 0}
        if self.events:
            out["firstEventTimestamp"] = self.events[0].timestamp
            out["lastEventTimestamp"] = self.events[-1].timestamp
            out["lastIngestionTime"] = max(e.ingestion for e in self.events)
        return out


class Group:
    def __init__(self, name, created, arn):
        self.name = name
        self.created = created
        self.arn = arn
        self.streams = {}

    def describe(self):
        stored = sum(len(e.message.encode()) for s in self.streams.values() for e in s.events)
        return {"logGroupName": self.name, "creationTime": self.created,
                "metricFilterCount": 0, "arn": self.arn, "storedBytes": stored}


class LogsService:
    name = "logs"

    def __init__(self, region, account):
        self.model = service_model("logs")
        self.region = region
        self.account = account
        self._lock = threading.Lock()
        self._groups = {}
        self._seq = 0
        # Persistence: each stream's events in an append-only file of
        # store_dir (one JSON [timestamp, seq, message, ingestion] a line),
        # so a save writes only what was added since the last one.
        self.store_dir = None
        self._next_file = 0
        self._dropped = []          # files of streams deleted since the last save
        self._dropped_saved = []    # ... and before it: gone at the next save
        self.operations = {
            "CreateLogGroup": self.create_log_group,
            "DeleteLogGroup": self.delete_log_group,
            "DescribeLogGroups": self.describe_log_groups,
            "CreateLogStream": self.create_log_stream,
            "DeleteLogStream": self.delete_log_stream,
            "DescribeLogStreams": self.describe_log_streams,
            "PutLogEvents": self.put_log_events,
            "GetLogEvents": self.get_log_events,
            "FilterLogEvents": self.filter_log_events,
        }

    # Used by the ECS task runner (awslogs driver).

    def group_exists(self, name):
        with self._lock:
            return name in self._groups

    def ensure_group(self, name):
        with self._lock:
            if name not in self._groups:
                self._groups[name] = self._new_group(name)

    def ensure_stream(self, group, stream):
        with self._lock:
            streams = self._groups[group].streams
            streams.setdefault(stream, Stream(stream, epoch_ms(now())))

    def append(self, group, stream, timestamp, message):
        """Store one event; dropped if its group or stream was deleted."""
        with self._lock:
            target = self._groups.get(group)
            target = target and target.streams.get(stream)
            if target is not None:
                # The driver delivers in order: never file an event before
                # one already delivered, so followers holding a forward
                # token miss nothing.
                if target.events:
                    timestamp = max(timestamp, target.events[-1].timestamp)
                self._insert(target, timestamp, message, max(timestamp, epoch_ms(now())))

    def put(self, group, stream, timestamp, message):
        """Store one event, creating its group and stream when missing (the
        Lambda service writes function logs this way)."""
        with self._lock:
            target = self._groups.get(group)
            if target is None:
                target = self._groups[group] = self._new_group(group)
            events = target.streams.setdefault(stream, Stream(stream, epoch_ms(now())))
            if events.events:
                timestamp = max(timestamp, events.events[-1].timestamp)
            self._insert(events, timestamp, message, max(timestamp, epoch_ms(now())))

    # Persistence (--state-dir).

    def snapshot(self):
        """The groups and streams; each stream's events are appended to its
        file in store_dir (only those added since the last snapshot), or
        inline without a store_dir. The files of streams deleted before the
        previous snapshot go: no saved state names them any more."""
        with self._lock:
            state = {"seq": self._seq, "groups": []}
            appends = []
            for g in self._groups.values():
                streams = []
                for st in g.streams.values():
                    entry = {"name": st.name, "created": st.created}
                    if self.store_dir is None:
                        entry["events"] = [list(e) for e in st.events]
                    else:
                        if st.file is None:
                            st.file = "s%d.jsonl" % self._next_file
                            self._next_file += 1
                        entry["file"] = st.file
                        appends.append((st.file, st.pending))
                        st.pending = []
                    streams.append(entry)
                state["groups"].append({"name": g.name, "created": g.created,
                                        "streams": streams})
            dropped, self._dropped = self._dropped, []
        if self.store_dir is not None:
            os.makedirs(self.store_dir, exist_ok=True)
            for name in self._dropped_saved:
                try:
                    os.unlink(os.path.join(self.store_dir, name))
                except FileNotFoundError:
                    pass
            self._dropped_saved = dropped
            for name, events in appends:
                # Created even when empty, so that restore finds every
                # stream's file.
                with open(os.path.join(self.store_dir, name), "a") as f:
                    f.write("".join(json.dumps(list(e), separators=(",", ":")) + "\n"
                                    for e in events))
        return state

    def restore(self, state):
        with self._lock:
            self._seq = state["seq"]
            used = set()
            for g in state["groups"]:
                group = self._new_group(g["name"], g["created"])
                for s in g["streams"]:
                    stream = group.streams[s["name"]] = Stream(s["name"], s["created"])
                    if "events" in s:
                        stream.events = [Event(*e) for e in s["events"]]
                    else:
                        stream.file = s["file"]
                        used.add(stream.file)
                        stream.events = sorted(self._read_file(stream.file))
                    if stream.events:
                        self._seq = max(self._seq, max(e.seq for e in stream.events))
                    if self.store_dir is not None and stream.file is None:
                        stream.pending = list(stream.events)
                self._groups[group.name] = group
            if self.store_dir is not None and os.path.isdir(self.store_dir):
                for name in os.listdir(self.store_dir):
                    if name.startswith("s") and name.endswith(".jsonl"):
                        try:
                            self._next_file = max(self._next_file, int(name[1:-6]) + 1)
                        except ValueError:
                            continue
                        if name not in used:   # a stream deleted before the crash
                            os.unlink(os.path.join(self.store_dir, name))

    def _read_file(self, name):
        """A stream's saved events; a line cut short by a crash is skipped."""
        out = []
        try:
            with open(os.path.join(self.store_dir, name)) as f:
                for line in f:
                    try:
                        out.append(Event(*json.loads(line)))
                    except (ValueError, TypeError):
                        continue
        except (FileNotFoundError, TypeError):
            pass
        return out

    # Internals; callers hold self._lock.

    def _new_group(self, name, created=None):
        arn = "arn:aws:logs:%s:%s:log-group:%s:*" % (self.region, self.account, name)
        return Group(name, created or epoch_ms(now()), arn)

    def _insert(self, stream, timestamp, message, ingestion):
        self._seq += 1
        event = Event(timestamp, self._seq, message, ingestion)
        bisect.insort(stream.events, event)
        if self.store_dir is not None:
            stream.pending.append(event)

    def _drop(self, streams):
        for stream in streams:
            if stream.file is not None:
                self._dropped.append(stream.file)

    def _group(self, params):
        name = params.get("logGroupName")
        identifier = params.get("logGroupIdentifier")
        if name and identifier:
            raise AwsError("InvalidParameterException",
                           "LogGroup name and LogGroup ARN are mutually exclusive parameters.")
        if identifier:
            name = identifier.split(":log-group:", 1)[-1].removesuffix(":*")
        if not name:
            raise AwsError("InvalidParameterException",
                           "Either logGroupName or logGroupIdentifier must be specified.")
        group = self._groups.get(name)
        if group is None:
            raise AwsError("ResourceNotFoundException", "The specified log group does not exist.")
        return group

    def _stream(self, params):
        stream = self._group(params).streams.get(params["logStreamName"])
        if stream is None:
            raise AwsError("ResourceNotFoundException", "The specified log stream does not exist.")
        return stream

    # Operations.

    def create_log_group(self, params, call):
        with self._lock:
            if params["logGroupName"] in self._groups:
                raise AwsError("ResourceAlreadyExistsException",
                               "The specified log group already exists")
            self._groups[params["logGroupName"]] = self._new_group(params["logGroupName"])
        return None

    def delete_log_group(self, params, call):
        with self._lock:
            group = self._group(params)
            self._drop(group.streams.values())
            del self._groups[group.name]
        return None

    def describe_log_groups(self, params, call):
        prefix = params.get("logGroupNamePrefix", "")
        with self._lock:
            groups = [g.describe() for name, g in sorted(self._groups.items())
                      if name.startswith(prefix)]
        page, token = paginate(groups, params, "limit", 50)
        return _with_token({"logGroups": page}, "nextToken", token)

    def create_log_stream(self, params, call):
        with self._lock:
            group = self._group(params)
            if params["logStreamName"] in group.streams:
                raise AwsError("ResourceAlreadyExistsException",
                               "The specified log stream already exists")
            group.streams[params["logStreamName"]] = Stream(params["logStreamName"],
                                                            epoch_ms(now()))
        return None

    def delete_log_stream(self, params, call):
        with self._lock:
            stream = self._stream(params)
            self._drop([stream])
            del self._group(params).streams[stream.name]
        return None

    def describe_log_streams(self, params, call):
        prefix = params.get("logStreamNamePrefix", "")
        by_time = params.get("orderBy") == "LastEventTime"
        if by_time and prefix:
            raise AwsError("InvalidParameterException",
                           "Cannot order by LastEventTime with a logStreamNamePrefix.")
        with self._lock:
            group = self._group(params)
            streams = [s.describe(group.arn) for s in group.streams.values()
                       if s.name.startswith(prefix)]
        key = ((lambda s: s.get("lastEventTimestamp", 0)) if by_time
               else (lambda s: s["logStreamName"]))
        streams.sort(key=key, reverse=bool(params.get("descending")))
        page, token = paginate(streams, params, "limit", 50)
        return _with_token({"logStreams": page}, "nextToken", token)

    def put_log_events(self, params, call):
        events = params["logEvents"]
        times = [e["timestamp"] for e in events]
        if times != sorted(times):
            raise AwsError("InvalidParameterException", "Log events in a single PutLogEvents "
                           "request must be in chronological order.")
        if times[-1] - times[0] > DAY_MS:
            raise AwsError("InvalidParameterException", "The batch of log events in a single "
                           "PutLogEvents request cannot span more than 24 hours.")
        size = sum(len(e["message"].encode()) + EVENT_OVERHEAD for e in events)
        if size > MAX_BATCH_BYTES:
            raise AwsError("InvalidParameterException", "Upload too large: %d bytes exceeds "
                           "limit of %d" % (size, MAX_BATCH_BYTES))
        current = epoch_ms(now())
        too_old = [i for i, t in enumerate(times) if t < current - 14 * DAY_MS]
        too_new = [i for i, t in enumerate(times) if t > current + 2 * 3600 * 1000]
        with self._lock:
            stream = self._stream(params)
            for i, event in enumerate(events):
                if i not in too_old and i not in too_new:
                    self._insert(stream, event["timestamp"], event["message"], current)
        out = {"nextSequenceToken": "%056d" % self._seq}
        rejected = {}
        if too_old:
            rejected["tooOldLogEventEndIndex"] = too_old[-1]
        if too_new:
            rejected["tooNewLogEventStartIndex"] = too_new[0]
        if rejected:
            out["rejectedLogEventsInfo"] = rejected
        return out

    def get_log_events(self, params, call):
        # A page costs what it returns, not what the stream holds: the
        # events are sorted by (timestamp, seq), so the window and the
        # token's position are found by bisection.
        start, end = params.get("startTime"), params.get("endTime")
        limit = params.get("limit", 10000)
        token = params.get("nextToken")
        key = (0, 0)
        if token:
            direction, key = _parse_stream_token(token)
        with self._lock:
            events = self._stream(params).events
            lo = 0 if start is None else bisect.bisect_left(events, (start,))
            hi = len(events) if end is None else bisect.bisect_left(events, (end,))
            if token and direction == "f":
                selected = _head(events, max(lo, bisect.bisect_left(
                    events, (key[0], key[1] + 1))), hi, limit)
            elif token:
                selected = _tail(events, lo, min(hi, bisect.bisect_left(events, key)), limit)
            elif params.get("startFromHead"):
                selected = _head(events, lo, hi, limit)
            else:
                selected = _tail(events, lo, hi, limit)
        if selected:
            forward = _stream_token("f", selected[-1])
            backward = _stream_token("b", selected[0])
        else:
            # Nothing new: hand back the same position, as AWS does at the
            # end of a stream, so a follower can keep polling with it.
            forward = token if token and token.startswith("f/") else "f/%020d%036d/s" % key
            backward = token if token and token.startswith("b/") else "b/%020d%036d/s" % key
        return {"events": [{"timestamp": e.timestamp, "message": e.message,
                            "ingestionTime": e.ingestion} for e in selected],
                "nextForwardToken": forward, "nextBackwardToken": backward}

    def filter_log_events(self, params, call):
        names, prefix = params.get("logStreamNames"), params.get("logStreamNamePrefix")
        if names and prefix:
            raise AwsError("InvalidParameterException", "logStreamNames and logStreamNamePrefix "
                           "are mutually exclusive parameters.")
        matches = _filter_pattern(params.get("filterPattern", ""))
        start, end = params.get("startTime"), params.get("endTime")
        after = (-1, -1)
        if params.get("nextToken"):
            after = tuple(_token_list(params["nextToken"]))
        with self._lock:
            group = self._group(params)
            found = [(e, s.name) for s in group.streams.values()
                     if (names is None or s.name in names) and s.name.startswith(prefix or "")
                     for e in s.events
                     if _in_window(e, start, end) and (e.timestamp, e.seq) > after
                     and matches(e.message)]
        found.sort(key=lambda pair: (pair[0].timestamp, pair[0].seq))
        page = found[:len(_head([e for e, _ in found], 0, len(found),
                                params.get("limit", 10000)))]
        out = {"events": [{"logStreamName": name, "timestamp": e.timestamp,
                           "message": e.message, "ingestionTime": e.ingestion,
                           "eventId": "%020d%036d" % (e.timestamp, e.seq)} for e, name in page]}
        if len(page) < len(found):
            last = page[-1][0]
            out["nextToken"] = encode_token([last.timestamp, last.seq])
        return out


def _with_token(out, name, token):
    if token:
        out[name] = token
    return out


def _in_window(event, start, end):
    return ((start is None or event.timestamp >= start)
            and (end is None or event.timestamp < end))


def _size(event):
    return len(event.message.encode()) + EVENT_OVERHEAD


def _head(events, lo, hi, limit):
    """The first events of events[lo:hi] that fit in one response: at most
    limit of them and 1 MB."""
    out, size = [], 0
    for i in range(lo, min(hi, lo + limit)):
        size += _size(events[i])
        if size > MAX_BATCH_BYTES:
            break
        out.append(events[i])
    return out


def _tail(events, lo, hi, limit):
    """The last events of events[lo:hi] that fit in one response."""
    out, size = [], 0
    for i in range(hi - 1, max(lo, hi - limit) - 1, -1):
        size += _size(events[i])
        if size > MAX_BATCH_BYTES:
            break
        out.append(events[i])
    out.reverse()
    return out


def _stream_token(direction, event):
    return "%s/%020d%036d/s" % (direction, event.timestamp, event.seq)


def _parse_stream_token(token):
    direction, _, rest = token.partition("/")
    digits = rest.removesuffix("/s")
    if direction not in ("f", "b") or len(digits) != 56 or not digits.isdigit():
        raise AwsError("InvalidParameterException", "The specified nextToken is invalid.")
    return direction, (int(digits[:20]), int(digits[20:]))


def _token_list(token):
    state = decode_token(token)
    if not (isinstance(state, list) and len(state) == 2 and all(isinstance(v, int) for v in state)):
        raise AwsError("InvalidParameterException", "The specified nextToken is invalid.")
    return state


def _filter_pattern(pattern):
    """A predicate for a term filter pattern: every term (or "quoted
    phrase") must occur in the message. JSON and space-delimited patterns
    are not simulated."""
    if pattern.strip().startswith(("{", "[")):
        raise AwsError("InvalidParameterException",
                       "awssim supports only term filter patterns, not %r" % pattern)
    try:
        terms = shlex.split(pattern)
    except ValueError as exc:
        raise AwsError("InvalidParameterException", "Invalid filter pattern") from exc
    return lambda message: all(term in message for term in terms)
