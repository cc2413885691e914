"""The Container Apps log stream of a job execution's container, as the az
CLI's containerapp extension reads it for `az containerapp job logs show
--follow` (azure-cli-extensions src/containerapp: _clients.py
ContainerAppsJobPreviewClient.get_auth_token POSTs
.../providers/Microsoft.App/jobs/{job}/getAuthToken and get_replicas GETs
.../jobs/{job}/executions/{execution}/replicas, both api-version
2023-11-02-preview; the stream itself is a GET of

  <host of eventStreamEndpoint>/subscriptions/{sub}/resourceGroups/{rg}/jobs/{job}
      /executions/{execution}/replicas/{replica}/containers/{container}/logstream
      ?follow=true|false&tailLines=N&output=json|text

with `Authorization: Bearer <getAuthToken's token>`, the jobs' counterpart of
the app's .../containerApps/{app}/revisions/{rev}/replicas/{replica}/
containers/{container}/logstream that azure-cli's stream_containerapp_logs
builds (src/azure-cli/azure/cli/command_modules/containerapp/custom.py)).

The answer is one line per log line: output=json (the default)
`{"TimeStamp": "...", "Log": "..."}`, output=text `<TimeStamp> <Log>`,
after the service's two connection lines ("Connecting to the container
'...'..." and "Successfully Connected to container: ..."). Like the kubelet
log API it proxies, the stream merges stdout and stderr: the split comes
from Log Analytics (Stream_s / Stream)."""

import json
import logging
import time

from azuresim_core import ArmError, Stream

log = logging.getLogger("azuresim")

STREAM = r"/subscriptions/(?P<subscriptionId>[^/]+)/resourceGroups/(?P<resourceGroupName>" \
    r"[^/]+)/jobs/(?P<jobName>[^/]+)/executions/(?P<jobExecutionName>[^/]+)/replicas/" \
    r"(?P<replica>[^/]+)/containers/(?P<container>[^/]+)/logstream"
REPLICAS = r"/subscriptions/(?P<subscriptionId>[^/]+)/resourceGroups/(?P<resourceGroupName>" \
    r"[^/]+)/providers/Microsoft\.App/jobs/(?P<jobName>[^/]+)/executions/" \
    r"(?P<jobExecutionName>[^/]+)/replicas"
MAX_TAIL = 300          # the az CLI's --tail bound
DEFAULT_TAIL = 20       # the az CLI's --tail default
KEEPALIVE_SECONDS = 1.0


def _iso(ns):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9)) + ".%07dZ" % (
        (ns % 10**9) // 100)


class StreamBody:
    """The lines of one container's log as a stream's chunks."""

    content_type = "text/plain; charset=utf-8"

    def __init__(self, buf, lines, follow, output, intro):
        self.buf = buf
        self.start = lines
        self.follow = follow
        self.output = output
        self.intro = intro

    def _line(self, ns, text):
        if self.output == "text":
            return ("%s %s\n" % (_iso(ns), text)).encode()
        return (json.dumps({"TimeStamp": _iso(ns), "Log": text}) + "\n").encode()

    def chunks(self):
        now = time.time_ns()
        for text in self.intro:
            yield self._line(now, text)
        sent = self.start
        with self.buf.cond:
            pending = list(self.buf.lines[sent:])
            sent = len(self.buf.lines)
        for ns, _, text in pending:
            yield self._line(ns, text)
        if not self.follow:
            return
        while True:
            with self.buf.cond:
                if len(self.buf.lines) == sent and not self.buf.ended:
                    self.buf.cond.wait(KEEPALIVE_SECONDS)
                pending = list(self.buf.lines[sent:])
                sent = len(self.buf.lines)
                ended = self.buf.ended
            for ns, _, text in pending:
                yield self._line(ns, text)
            if ended and not pending:
                return


def _flag(req, name, default):
    value = (req.query.get(name) or [default])[-1].lower()
    if value not in ("true", "false"):
        raise ArmError(400, "InvalidParameter", "%s must be true or false, not '%s'."
                       % (name, value))
    return value == "true"


def register(sim, app):
    def stream(req):
        m = req.match
        job = app.jobs.get(m.group("jobName"))
        header = req.headers.get("Authorization") or ""
        scheme, _, token = header.partition(" ")
        resource = app.job_id(m.group("jobName"))
        if job is None or scheme.lower() != "bearer" or \
                not app.check_stream_token(token.strip(), resource):
            raise ArmError(401, "Unauthorized", "The log stream needs the bearer token of "
                           "the job's (or its environment's) getAuthToken, unexpired.")
        ex = app.executions.get((job["name"], m.group("jobExecutionName")))
        rep = ex.replica(m.group("replica")) if ex else None
        buf = rep.logs.get(m.group("container")) if rep else None
        if buf is None:
            raise ArmError(404, "NotFound", "No container '%s' in replica '%s' of execution "
                           "'%s' of job '%s'." % (m.group("container"), m.group("replica"),
                                                  m.group("jobExecutionName"), job["name"]))
        follow = _flag(req, "follow", "false")
        output = (req.query.get("output") or ["json"])[-1].lower()
        if output not in ("json", "text"):
            raise ArmError(400, "InvalidParameter", "output must be json or text, not '%s'."
                           % output)
        try:
            tail = int((req.query.get("tailLines") or [str(DEFAULT_TAIL)])[-1])
        except ValueError:
            tail = -1
        if not 0 <= tail <= MAX_TAIL:
            raise ArmError(400, "InvalidParameter", "tailLines must be between 0 and %d."
                           % MAX_TAIL)
        with buf.cond:
            start = max(0, len(buf.lines) - tail)
        intro = ["Connecting to the container '%s'..." % m.group("container"),
                 "Successfully Connected to container: '%s' [Execution: '%s', Replica: '%s']"
                 % (m.group("container"), ex.name, rep.name)]
        body = StreamBody(buf, start, follow, output, intro)
        return 200, Stream(body.chunks(), body.content_type), {"Cache-Control": "no-cache"}

    def replicas(req):
        ex = app._execution(req.match)
        out = []
        for rep in ex.replicas:
            containers = []
            for name, cid in list(rep.cids.items()) or [(n, "") for n in rep.logs]:
                containers.append({"name": name, "containerId": cid,
                                   "runningState": "Terminated" if rep.logs[name].ended
                                   else "Running"})
            out.append({"id": ex.id + "/replicas/" + rep.name, "name": rep.name,
                        "type": "Microsoft.App/jobs/executions/replicas",
                        "properties": {"containers": containers}})
        return 200, {"value": out}

    # Not in the 2025-07-01 spec (2023-11-02-preview): no spec check.
    sim.route("GET", REPLICAS, replicas, None)
    # The stream takes getAuthToken's token (checked above), no api-version.
    sim.route("GET", STREAM, stream, None, audience=None)

