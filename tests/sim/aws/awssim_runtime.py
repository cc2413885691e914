"""Lambda execution environments: one container on the engine per
environment, each with its own Runtime API server (2018-06-01) on
127.0.0.1:<port>, which the container reaches through the host network as
AWS_LAMBDA_RUNTIME_API.

    GET  /2018-06-01/runtime/invocation/next         blocks until an event
    POST /2018-06-01/runtime/invocation/{id}/response
    POST /2018-06-01/runtime/invocation/{id}/error
    POST /2018-06-01/runtime/init/error

An environment serves one invocation at a time and is reused (warm start)
until it is stopped: idle too long, its function deleted, a timeout (the
container is killed) or its container exited."""

import json
import logging
import math
import os
import re
import secrets
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

log = logging.getLogger("awssim")

PREFIX = "/2018-06-01/runtime/"
MAX_RESPONSE = 6 * 1024 * 1024
INIT_TIMEOUT = 10.0          # seconds Lambda allows the init phase
LOG_QUIET = 0.05             # no new log line for this long: the output is in
LOG_SETTLE_MAX = 1.0         # ... but wait at most this long for it
# The line that marks the end of an output; never logged.
SETTLE_MARK = re.compile(r"awssim-settled ([0-9a-f]{16})\r?$")
SIGNALS = {129: "hangup", 130: "interrupt", 131: "quit", 132: "illegal instruction",
           133: "trace/breakpoint trap", 134: "aborted", 135: "bus error",
           136: "floating point exception", 137: "killed", 139: "segmentation fault",
           141: "broken pipe", 142: "alarm clock", 143: "terminated"}


def exit_text(status):
    """Go's os.ProcessState wording, as Lambda's errorMessage has it."""
    if status in SIGNALS:
        return "signal: " + SIGNALS[status]
    return "exit status %d" % status


class Invocation:
    """One invocation: the event delivered to the runtime and the answer."""

    def __init__(self, request_id, payload, function_arn, timeout, client_context=None):
        self.request_id = request_id
        self.payload = payload
        self.function_arn = function_arn
        self.timeout = timeout
        self.client_context = client_context
        self.trace_id = "Root=1-%08x-%s;Parent=%s;Sampled=0" % (
            int(time.time()), secrets.token_hex(12), secrets.token_hex(8))
        self.created = time.time()
        self.delivered = None       # when GET /next handed it out
        self.deadline = None        # delivered + timeout
        self.finished = None
        self.body = None            # the answer's body (bytes)
        self.function_error = None  # "Unhandled" for every failure
        self.error_type = None
        self.timed_out = False
        self.lines = []             # the log lines of this invocation
        self.done = threading.Event()

    def finish(self, body, function_error=None, error_type=None):
        """Record the answer once; False if it was already answered."""
        if self.done.is_set():
            return False
        self.body = body
        self.function_error = function_error
        self.error_type = error_type
        self.finished = time.time()
        self.done.set()
        return True

    def fail(self, error_type, message):
        return self.finish(json.dumps({"errorType": error_type, "errorMessage": message},
                                      separators=(",", ":")).encode(), "Unhandled", error_type)


class RuntimeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "awssim-runtime"
    # The head and the body go out in separate writes: without TCP_NODELAY
    # the body waits for the client's delayed ACK of the head (40 ms).
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):
        log.debug("runtime %s " + fmt, self.server.environment.name, *args)

    def _send(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_GET(self):
        env = self.server.environment
        if self.path.split("?")[0] != PREFIX + "invocation/next":
            return self._send(404, {"errorMessage": "Not found", "errorType": "NotFound"})
        inv = env.next_invocation()
        if inv is None:  # the environment is going away: leave the runtime hanging up
            return self._send(500, {"errorMessage": "State transition from Shutdown to Ready "
                                    "failed", "errorType": "InvalidStateTransition"})
        headers = {"Lambda-Runtime-Aws-Request-Id": inv.request_id,
                   "Lambda-Runtime-Deadline-Ms": str(int(inv.deadline * 1000)),
                   "Lambda-Runtime-Invoked-Function-Arn": inv.function_arn,
                   "Lambda-Runtime-Trace-Id": inv.trace_id}
        if inv.client_context:
            headers["Lambda-Runtime-Client-Context"] = inv.client_context
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(inv.payload)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(inv.payload)
        except OSError:  # the runtime went away; the container watch ends it
            pass

    def do_POST(self):
        env = self.server.environment
        path = self.path.split("?")[0]
        body = self._body()
        if path == PREFIX + "init/error":
            env.init_error(body, self.headers.get("Lambda-Runtime-Function-Error-Type"))
            return self._send(202, {"status": "OK"})
        parts = path[len(PREFIX):].split("/") if path.startswith(PREFIX) else []
        if len(parts) != 3 or parts[0] != "invocation" or parts[2] not in ("response", "error"):
            return self._send(404, {"errorMessage": "Not found", "errorType": "NotFound"})
        inv = env.current
        if inv is None or inv.request_id != parts[1] or inv.done.is_set():
            return self._send(400, {"errorMessage": "Invalid request ID",
                                    "errorType": "InvalidRequestID"})
        if parts[2] == "response":
            if len(body) > MAX_RESPONSE:
                env.answer(inv, lambda: inv.fail(
                    "Function.ResponseSizeTooLarge",
                    "Response payload size exceeded maximum allowed payload size (%d bytes)."
                    % MAX_RESPONSE))
                return self._send(413, {"errorMessage": "Exceeded maximum allowed payload size "
                                        "(%d bytes)." % MAX_RESPONSE,
                                        "errorType": "RequestEntityTooLarge"})
            env.answer(inv, lambda: inv.finish(body))
        else:
            kind = self.headers.get("Lambda-Runtime-Function-Error-Type")
            env.answer(inv, lambda: inv.finish(body, "Unhandled", kind))
        return self._send(202, {"status": "OK"})


class RuntimeServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 16

    def __init__(self, environment):
        super().__init__(("127.0.0.1", 0), RuntimeHandler)
        self.environment = environment

    def handle_error(self, request, client_address):
        # A runtime gone with its environment (the container removed while
        # it asked for or answered an invocation) is no simulator error.
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            log.debug("runtime %s: the runtime hung up", self.environment.name)
            return
        super().handle_error(request, client_address)

    @property
    def port(self):
        return self.server_address[1]


class Environment:
    """One execution environment of a function. The service creates it,
    starts it with start(options) and hands it invocations with run()."""

    def __init__(self, service, function, stream):
        self.service = service
        self.function = function
        self.stream = stream
        self.name = "%s/%s" % (function.name, stream[-8:])
        self.server = RuntimeServer(self)
        self.container_id = None
        self.lock = threading.Condition()
        self.pending = None      # handed to the next GET /next
        self.current = None      # delivered, not yet answered
        self.busy = True         # created for an invocation
        self.dead = False
        self.exit_status = None
        self.started = None      # container start time
        self.ready = None        # first GET /next: the end of init
        self.init_reported = False
        self.last_used = time.time()
        self.last_line = 0.0
        self.follower = None
        self.pid = None          # of the container's process; 0: not here
        self.mark = None         # the mark written, until the follower reads it
        self.marked = threading.Event()
        self.init_failure = None  # (body, error type) of POST /init/error
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.2},
                         name="runtime-" + self.name, daemon=True).start()

    # Container lifecycle.

    def attach(self, container_id):
        self.container_id = container_id
        if self.started is None:
            self.started = time.time()
        self.follower = self.service.engine.follow_logs(container_id, self._on_line)
        threading.Thread(target=self._watch, name="envwatch-" + self.name, daemon=True).start()

    def _watch(self):
        status = self.service.engine.wait(self.container_id)
        with self.lock:
            self.exit_status = 137 if status is None else status
            self.dead = True
            inv = self.current or self.pending
            self.lock.notify_all()
        if self.follower is not None:
            self.follower.join(2)
        if inv is not None:
            message = "RequestId: %s Error: Runtime exited with error: %s" % (
                inv.request_id, exit_text(self.exit_status))
            if self.init_failure is not None:
                self.answer(inv, lambda: inv.finish(self.init_failure[0], "Unhandled",
                                                    self.init_failure[1]))
            else:
                self.answer(inv, lambda: inv.fail("Runtime.ExitError", message))
        self.service.environment_gone(self)

    def _on_line(self, stamp, text):
        self.last_line = time.time()
        mark = SETTLE_MARK.search(text)
        if mark is not None:
            if mark.group(1) == self.mark:
                self.marked.set()
            text = text[:mark.start()]
            if not text:
                return  # the mark alone: not the function's
        message = text + "\n"
        self.service.write_log(self.function, self.stream, stamp, message)
        with self.lock:
            inv = self.current or self.pending
            if inv is not None:
                inv.lines.append(message)

    def stop(self):
        """Kill the container and stop serving; the watch thread removes it."""
        with self.lock:
            self.dead = True
            self.lock.notify_all()
        if self.container_id is not None:
            self.service.engine.kill(self.container_id)
        self.server.shutdown()
        self.server.server_close()

    # Runtime API side.

    def next_invocation(self):
        with self.lock:
            if self.ready is None:
                self.ready = time.time()
            while self.pending is None and not self.dead:
                self.lock.wait(1)
            if self.dead:
                return None
            inv, self.pending = self.pending, None
            inv.delivered = time.time()
            inv.deadline = inv.delivered + inv.timeout
            self.current = inv
            self.lock.notify_all()
        self.service.invocation_started(self, inv)
        return inv

    def init_error(self, body, error_type):
        with self.lock:
            self.init_failure = (body, error_type or "Runtime.Unknown")
            inv = self.current or self.pending
        if inv is not None:
            self.answer(inv, lambda: inv.finish(body, "Unhandled", error_type))

    def answer(self, inv, finish):
        """Record an answer and wake run() (which writes the END lines)."""
        with self.lock:
            if finish():
                self.lock.notify_all()

    # Service side.

    def run(self, inv):
        """Deliver inv and wait for its answer, the container's end or the
        timeout; the environment is free again afterwards unless it died."""
        with self.lock:
            self.busy = True
            if self.dead:
                inv.fail("Runtime.ExitError", "RequestId: %s Error: Runtime exited with "
                         "error: %s" % (inv.request_id, exit_text(self.exit_status or 0)))
                return
            self.pending = inv
            self.lock.notify_all()
            while not inv.done.is_set():
                now = time.time()
                if inv.delivered is not None:
                    limit = inv.deadline
                else:
                    limit = inv.created + INIT_TIMEOUT + inv.timeout
                if now >= limit:
                    break
                self.lock.wait(min(0.2, limit - now))
        if not inv.done.is_set():
            inv.timed_out = True
            inv.fail("Sandbox.Timedout", "RequestId: %s Error: Task timed out after %.2f "
                     "seconds" % (inv.request_id, inv.timeout))
            self.stop()
        self._settle_logs(inv)
        with self.lock:
            if self.current is inv:
                self.current = None
            if self.pending is inv:
                self.pending = None
            self.busy = False
            self.last_used = time.time()
        if self.init_failure is not None and not self.dead:
            self.stop()

    def _settle_logs(self, inv):
        """Wait until the container's lines written before the answer have
        come through the engine's log stream. A mark line written to the
        container's stdout after the answer comes through after them (one
        pipe); without it (the engine's processes are elsewhere), until no
        line came for LOG_QUIET."""
        deadline = time.time() + LOG_SETTLE_MAX
        marked = self._write_mark(deadline)
        while time.time() < deadline:
            if self.dead and (self.follower is None or not self.follower.is_alive()):
                break
            if marked:
                if self.marked.wait(min(0.05, max(0.0, deadline - time.time()))):
                    break
                continue
            quiet_since = max(self.last_line, inv.finished or 0)
            if time.time() - quiet_since >= LOG_QUIET:
                break
            time.sleep(0.01)
        self.mark = None

    def _write_mark(self, deadline):
        """Writes a mark line to the container's stdout; False when it
        cannot (a full pipe is retried until deadline)."""
        if self.pid is None and self.container_id is not None:
            try:
                self.pid = self.service.engine.pid(self.container_id) or 0
            except Exception:  # the engine cannot tell: the quiet wait
                self.pid = 0
        if not self.pid or self.dead:
            return False
        fd = self.service.engine.stdout_fd(self.pid, self.container_id)
        if fd is None:
            self.pid = 0  # not on this machine: the quiet wait from now on
            return False
        self.marked.clear()
        self.mark = secrets.token_hex(8)
        data = ("awssim-settled %s\n" % self.mark).encode()
        try:
            while True:
                try:
                    if os.write(fd, data) == len(data):
                        return True
                    break  # a pipe takes up to 4 KiB whole or not at all
                except BlockingIOError:
                    if time.time() >= deadline:
                        break
                    time.sleep(0.002)
                except OSError:
                    break
        finally:
            os.close(fd)
        self.mark = None
        return False

    @property
    def idle(self):
        return not self.busy and not self.dead

    def init_duration_ms(self):
        if self.init_reported or self.started is None:
            return None
        self.init_reported = True
        end = self.ready or time.time()
        return max(0.0, (end - self.started) * 1000)


def billed_ms(duration_ms):
    return max(1, int(math.ceil(duration_ms)))
