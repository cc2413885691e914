"""The containers of Microsoft.Web function apps and the function host
front (Interface W).

Each running site has one instance: the image of its linuxFxVersion
("DOCKER|<image>"), pulled then started on the engine with host
networking (an always-ready Premium instance), env = the app settings +
WEBSITES_PORT / PORT (a free loopback port the simulator picks),
WEBSITE_SITE_NAME, WEBSITE_HOSTNAME and SOCKERLESS_HTTP_LISTEN=127.0.0.1:<port>
(so the sockerless agent listens on loopback only, where App Service
would give the container a network of its own). Creating, re-pointing,
restarting a site or changing its settings replaces the instance (a cold
start); stopping or deleting the site removes it. Each line the container
writes goes into the Log Analytics store's FunctionAppLogs table.

The front: a request whose Host header is <site>.azurewebsites.net (any
port) on the simulator's main port goes to the site's instance: method,
path, query, headers (hop-by-hop ones dropped; x-functions-key passed on,
since the container checks it) and body; the answer comes back as it is,
streamed. 404 for an unknown site, 503 while the site is stopped or its
instance is starting (until its port accepts, at most START_SECONDS) or
failed to start, 502 when the instance does not answer. A request running
past the site's functionTimeout (the app setting
AzureFunctionsJobHost__functionTimeout, hh:mm:ss, default 00:30:00 as on
Premium) gets 500 (or, once the answer has started, its connection
closed) and the instance is restarted. Every front request counts as
`WebApps_Front` in /_sim/calls."""

import http.client
import logging
import os
import re
import socket
import threading
import time

from azuresim_core import ArmError
import azuresim_app_run as app_run

log = logging.getLogger("azuresim")

START_SECONDS = 120
# SIGTERM to SIGKILL when an instance goes (tests shorten it, as for
# Container Apps: the same knob)
STOP_GRACE_SECONDS = float(os.environ.get("AZURESIM_STOP_GRACE_SECONDS", "30"))
DEFAULT_TIMEOUT = 30 * 60
LABEL_SITE = "sockerless.azuresim.web.site"
LOG_TABLE = "FunctionAppLogs"
HOP_HEADERS = {"connection", "keep-alive", "proxy-connection", "te", "trailer",
               "transfer-encoding", "upgrade", "proxy-authorization", "proxy-authenticate",
               "content-length", "expect"}
TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d{1,2}):(\d\d):(\d\d)$")
REGISTRY_SETTINGS = ("DOCKER_REGISTRY_SERVER_URL", "DOCKER_REGISTRY_SERVER_USERNAME",
                     "DOCKER_REGISTRY_SERVER_PASSWORD")


def function_timeout(settings):
    """Seconds a run may take (None: unbounded, "-1"); ArmError 400 for a
    value that is not a .NET timespan."""
    text = settings.get("AzureFunctionsJobHost__functionTimeout")
    if text is None or text == "":
        return DEFAULT_TIMEOUT
    if text.strip() == "-1":
        return None
    match = TIMESPAN.match(text.strip())
    if not match or int(match.group(3)) > 59 or int(match.group(4)) > 59:
        raise ArmError(400, "BadRequest", "The app setting AzureFunctionsJobHost__functionTimeout "
                       "'%s' is not a timespan such as 00:30:00 (or -1: unbounded)." % text,
                       target="AzureFunctionsJobHost__functionTimeout")
    days, hours, minutes, secs = (int(g or 0) for g in match.groups())
    total = ((days * 24 + hours) * 60 + minutes) * 60 + secs
    if total <= 0:
        raise ArmError(400, "BadRequest", "AzureFunctionsJobHost__functionTimeout must be "
                       "positive (or -1: unbounded).",
                       target="AzureFunctionsJobHost__functionTimeout")
    return total


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Instance:
    def __init__(self, site, image, env, timeout, denied):
        self.site = site
        self.image = image
        self.env = env
        self.timeout = timeout
        self.denied = denied        # why the pull would be refused (None: it is not)
        self.port = int(env["PORT"])
        self.cid = None
        self.ready = threading.Event()  # set once listening, or failed
        self.failed = None
        self.gone = False


class Runs:
    def __init__(self, web):
        self.web = web
        self.sim = web.sim
        self.instances = {}         # site name (lower case) -> Instance
        self.closed = False

    # Instances (called with sim.lock held).

    def deploy(self, entry):
        """A new instance of the site, replacing the one it had."""
        site = entry["site"]
        config = site["properties"]["siteConfig"]
        image = config["linuxFxVersion"][len("DOCKER|"):].strip()
        port = free_port()
        env = dict(entry["settings"])
        env.update({"WEBSITES_PORT": str(port), "PORT": str(port),
                    "WEBSITE_SITE_NAME": site["name"],
                    "WEBSITE_HOSTNAME": site["properties"]["defaultHostName"],
                    "SOCKERLESS_HTTP_LISTEN": "127.0.0.1:%d" % port})
        inst = Instance(site["name"], image, env, function_timeout(entry["settings"]),
                        self._denied(site, image, config, entry["settings"]))
        old = self.instances.get(site["name"].lower())
        self.instances[site["name"].lower()] = inst
        threading.Thread(target=self._replace, args=(old, inst), daemon=True,
                         name="site-" + site["name"]).start()

    def remove(self, name):
        old = self.instances.pop(name.lower(), None)
        if old is not None:
            threading.Thread(target=self._stop, args=(old,), daemon=True,
                             name="site-stop-" + name).start()

    def _denied(self, site, image, config, settings):
        host = image.split("/", 1)[0].lower() if "/" in image else ""
        if not host or not app_run._private(self.sim, host):
            return None
        if config.get("acrUseManagedIdentityCreds"):
            return self._identity_pull(site, image, config)
        if all(settings.get(k) for k in REGISTRY_SETTINGS):
            return None
        return "pulling %s failed: unauthorized: the registry %s needs credentials (set " \
            "siteConfig.acrUseManagedIdentityCreds, or the app settings %s)" % (
                image, host, ", ".join(REGISTRY_SETTINGS))

    def _identity_pull(self, site, image, config):
        """A pull with a managed identity: the user-assigned one whose
        clientId siteConfig.acrUserManagedIdentityID gives (it must still
        be the site's and exist), else the site's system-assigned one (not
        required: the simulator's own tests make sites without one). The
        identity is logged: "site <name>: pulling <image> with ..."."""
        cid = config.get("acrUserManagedIdentityID")
        if not cid:
            log.info("site %s: pulling %s with the site's system-assigned identity",
                     site["name"], image)
            return None
        msi = getattr(self.sim, "msi", None)
        for uid in ((site.get("identity") or {}).get("userAssignedIdentities") or {}):
            ident = msi.lookup(uid) if msi is not None else None
            if ident is not None and ident["properties"]["clientId"].lower() == cid.lower():
                log.info("site %s: pulling %s with the user-assigned identity %s "
                         "(clientId %s)", site["name"], image, ident["id"], cid)
                return None
        return "pulling %s failed: unauthorized: no identity of the site has the clientId " \
            "%s (siteConfig.acrUserManagedIdentityID): it was removed from the site or " \
            "deleted" % (image, cid)

    # Instances (threads of their own).

    def _replace(self, old, inst):
        if old is not None:
            self._stop(old)
        self._start(inst)

    def _stop(self, inst):
        inst.gone = True
        cid = inst.cid
        if cid and self.sim.engine is not None:
            self.sim.engine.stop(cid, STOP_GRACE_SECONDS)
            self.sim.engine.remove(cid)

    def _fail(self, inst, why):
        inst.failed = why
        inst.ready.set()
        log.info("site %s: %s", inst.site, why)

    def _start(self, inst):
        if self.sim.engine is None:
            return self._fail(inst, "the simulator was started without --engine, so function "
                              "apps cannot run; start it with --engine")
        if inst.denied:
            return self._fail(inst, inst.denied)
        try:
            self.sim.engine.pull(inst.image)
            if inst.gone:
                return None
            inst.cid = self.sim.engine.start(inst.image, environment=inst.env,
                                             labels={LABEL_SITE: inst.site})
        except Exception as exc:
            return self._fail(inst, "the container of %s did not start: %s" % (inst.image, exc))
        if inst.gone:       # replaced or removed while it started
            return self._stop(inst)
        self.sim.engine.follow_logs(inst.cid, lambda ts, text: self._log(inst, ts, text))
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline and not inst.gone:
            try:
                socket.create_connection(("127.0.0.1", inst.port), 0.5).close()
                inst.ready.set()
                return None
            except OSError:
                pass
            try:
                if self.sim.engine.state(inst.cid)["Status"] != "running":
                    return self._fail(inst, "the container exited before listening on "
                                      "WEBSITES_PORT %d" % inst.port)
            except Exception:
                return self._fail(inst, "the container is gone")
            time.sleep(0.05)
        return self._fail(inst, "the container did not listen on WEBSITES_PORT %d within "
                          "%d s" % (inst.port, START_SECONDS))

    def _log(self, inst, ts, text):
        self.sim.la_ingest(LOG_TABLE, {"_timestamp_ns": int(ts * 1e9), "AppName": inst.site,
                                       "Category": "Host.Function.Console",
                                       "Level": "Information", "Message": text,
                                       "HostInstanceId": (inst.cid or "")[:32]})

    def close(self):
        with self.sim.lock:
            self.closed = True
            gone = list(self.instances.values())
            self.instances = {}
        threads = [threading.Thread(target=self._stop, args=(inst,), daemon=True)
                   for inst in gone]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(STOP_GRACE_SECONDS + 30)

    # The front.

    def front(self, handler, match, raw):
        self.sim.count("WebApps_Front")
        key = match.group("site").lower()
        with self.sim.lock:
            entry = self.web.sites.get(key)
            state = entry["site"]["properties"]["state"] if entry else None
            inst = self.instances.get(key)
        if entry is None:
            return _text(handler, 404, "Error 404 - Web app not found. The web app %s.azurewebsites"
                         ".net is not in the simulator's resource group." % key)
        if state != "Running" or inst is None:
            return _text(handler, 503, "Error 503 - This function app is stopped (start it "
                         "with POST .../sites/%s/start)." % entry["site"]["name"])
        if not inst.ready.is_set():
            return _text(handler, 503, "Error 503 - The function app is starting (its "
                         "container is being pulled and started); retry shortly.",
                         {"Retry-After": "1"})
        if inst.failed:
            return _text(handler, 503, "Error 503 - The function app's container failed: %s."
                         % inst.failed)
        body = raw
        if "chunked" in (handler.headers.get("Transfer-Encoding") or "").lower():
            body = _read_chunked(handler.rfile)
        return self._forward(handler, inst, body)

    def _forward(self, handler, inst, body):
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in HOP_HEADERS}
        headers["Content-Length"] = str(len(body))
        headers["X-Forwarded-Proto"] = "https"
        conn = http.client.HTTPConnection("127.0.0.1", inst.port, timeout=60)
        expired = threading.Event()

        def expire():
            expired.set()
            sock = conn.sock
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        timer = threading.Timer(inst.timeout, expire) if inst.timeout else None
        if timer is not None:
            timer.daemon = True
            timer.start()
        started = False
        try:
            try:
                conn.request(handler.command, handler.path, body=body, headers=headers)
                resp = conn.getresponse()
            except (OSError, http.client.HTTPException) as exc:
                if expired.is_set():
                    return _text(handler, 500, "The function ran longer than its "
                                 "functionTimeout (%d s) and was stopped; the host restarts."
                                 % inst.timeout)
                return _text(handler, 502, "Error 502 - The function app's container did not "
                             "answer: %s." % exc)
            handler.send_response(resp.status, resp.reason)
            for k, v in resp.getheaders():
                if k.lower() not in HOP_HEADERS:
                    handler.send_header(k, v)
            length = resp.getheader("Content-Length")
            chunked = length is None and handler.command != "HEAD" and \
                resp.status not in (204, 304)
            if chunked:
                handler.send_header("Transfer-Encoding", "chunked")
            elif length is not None:
                handler.send_header("Content-Length", length)
            else:
                handler.send_header("Content-Length", "0")
            handler.end_headers()
            started = True
            while handler.command != "HEAD":
                try:
                    data = resp.read1(65536)
                except (OSError, http.client.HTTPException):
                    handler.close_connection = True
                    break
                if not data:
                    break
                handler.wfile.write(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)
                handler.wfile.flush()
            if chunked and not handler.close_connection:
                handler.wfile.write(b"0\r\n\r\n")
        except OSError:         # the client went away
            handler.close_connection = True
        finally:
            if timer is not None:
                timer.cancel()
            conn.close()
            if expired.is_set():
                if started:
                    handler.close_connection = True
                self._restart_after_timeout(inst)
        return None

    def _restart_after_timeout(self, inst):
        with self.sim.lock:
            entry = self.web.sites.get(inst.site.lower())
            if entry is not None and self.instances.get(inst.site.lower()) is inst:
                log.info("site %s: a run passed functionTimeout: restarting", inst.site)
                self.deploy(entry)


def _read_chunked(rfile):
    out = b""
    while True:
        size = int(rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            while rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return out
        out += rfile.read(size)
        rfile.readline()


def _text(handler, status, message, headers=None):
    body = (message + "\n").encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "text/plain; charset=utf-8")
    for k, v in (headers or {}).items():
        handler.send_header(k, v)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(body)
