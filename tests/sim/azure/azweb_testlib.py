"""Helpers for the Microsoft.Web tests (test_azweb_*.py): a simulator of
their own (azapp_testlib.AzureSim on SK_TEST_PORT_BASE+186/187), site
bodies as the azfunc backend sends them, the function host front (the
simulator's main port with Host: <site>.azurewebsites.net), and the test
images, built on the test bed's engine and pushed to its registry:

- web/echo:v1 and :v2: busybox `nc -ll` running a shell handler that
  answers /api/echo with what it received (method, target, key header,
  body, its environment), streams /api/stream (a line, then another once
  the test creates /tmp/release in the container), hangs on /api/hang;
  with the app setting GATE=1 it listens only once /tmp/open exists.
- web/agent:v1: the sockerless agent (SK_BUILD/sockerless-agent) over
  busybox as an HTTP runtime, the image the azfunc backend derives."""

import io
import json
import os
import shutil
import tarfile
import tempfile
import time
import urllib.error
import urllib.request

import pytest

from azapp_testlib import ENGINE, REGISTRY, RG, SUB, AzureSim, HttpError  # noqa: F401

API = "2022-09-01"
WEB = "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Web" % (SUB, RG)
PREMIUM = WEB + "/serverfarms/sockerless-premium"
CONSUMPTION = WEB + "/serverfarms/sockerless-consumption"
DEDICATED = WEB + "/serverfarms/sockerless-dedicated"
KIND = "functionapp,linux,container"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
AGENT = os.path.join(os.environ.get("SK_BUILD") or os.path.join(ROOT, "build"),
                     "sockerless-agent")
LABEL_SITE = "sockerless.azuresim.web.site"

HANDLER = r"""#!/bin/sh
CR=$(printf '\r')
read -r method target version
len=0
key=
while IFS= read -r line; do
  line=${line%"$CR"}
  [ -z "$line" ] && break
  case "$line" in
    [Cc]ontent-[Ll]ength:*) len=${line#*: } ;;
    [Xx]-[Ff]unctions-[Kk]ey:*) key=${line#*: } ;;
  esac
done
body=$(head -c "$len")
case "$target" in
/api/stream*)
  printf 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n'
  echo first
  i=0
  while [ ! -e /tmp/release ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done
  echo second
  ;;
/api/hang*)
  sleep 120
  ;;
*)
  out="method=$method target=$target key=$key body=$body site=$WEBSITE_SITE_NAME mark=$MARK greeting=$GREETING port=$WEBSITES_PORT"
  printf 'HTTP/1.1 201 Created\r\nContent-Type: text/plain\r\nX-Echo: yes\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' "${#out}" "$out"
  ;;
esac
"""

ECHO_CMD = ('if [ -n "$GATE" ]; then while [ ! -e /tmp/open ]; do sleep 0.1; done; fi; '
            'echo "listening on $PORT"; exec nc -ll -p "$PORT" -e /srv/handler.sh')

needs_engine = pytest.mark.skipif(not (ENGINE and REGISTRY), reason="needs the test bed's "
                                  "engine and registry (SK_SIM_ENGINE_HOST, SK_REGISTRY)")


def docker_client():
    import docker
    return docker.DockerClient(base_url=ENGINE, version="1.41")


def _build(ref, dockerfile, files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data, mode in [("Dockerfile", dockerfile.encode(), 0o644)] + files:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = mode
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    client = docker_client()
    client.images.build(fileobj=buf, custom_context=True, tag=ref, network_mode="host",
                        rm=True)
    client.images.push(ref)


_built = set()


def echo_image(mark):
    """<registry>/web/echo:<mark>, built once per run."""
    ref = "%s/web/echo:%s" % (REGISTRY, mark)
    if ref not in _built:
        _build(ref, "FROM %s/library/busybox:latest\nCOPY handler.sh /srv/handler.sh\n"
               "ENV MARK=%s\nCMD [\"sh\", \"-c\", %s]\n" % (REGISTRY, mark,
                                                           json.dumps(ECHO_CMD)),
               [("handler.sh", HANDLER.encode(), 0o755)])
        _built.add(ref)
    return "web/echo:" + mark


def agent_image():
    ref = "%s/web/agent:v1" % REGISTRY
    if ref not in _built:
        with open(AGENT, "rb") as f:
            agent = f.read()
        _build(ref, "FROM %s/library/busybox:latest\nCOPY agent /sockerless/agent\n"
               "ENTRYPOINT [\"/sockerless/agent\", \"--\"]\n"
               "CMD [\"sh\", \"-c\", \"echo greeting=$GREETING\"]\n" % REGISTRY,
               [("agent", agent, 0o755)])
        _built.add(ref)
    return "web/agent:v1"


class WebSim(AzureSim):
    def __init__(self, workdir, env=None, ports=6):
        super().__init__(workdir, env=env, ports=ports)

    def creds_env(self):
        out = {}
        with open(self.creds) as f:
            for line in f:
                key, sep, value = line.strip().removeprefix("export ").partition("=")
                if sep:
                    out[key] = value.strip("'\"")
        return out

    def web(self, method, rest, body=None, api=API, expect=None):
        return self.arm(method, WEB + rest, body, api=api, expect=expect)

    def settings(self, **extra):
        values = {"FUNCTIONS_EXTENSION_VERSION": "~4",
                  "AzureWebJobsStorage": self.creds_env()["AZURE_SK_WEBJOBS_STORAGE"]}
        values.update(extra)
        return [{"name": k, "value": v} for k, v in values.items() if v is not None]

    def site_body(self, image, plan=PREMIUM, kind=KIND, settings=None, **config):
        site_config = {"linuxFxVersion": "DOCKER|" + image,
                       "appSettings": settings if settings is not None else self.settings(),
                       "alwaysOn": True}
        site_config.update(config)
        return {"location": "westeurope", "kind": kind, "tags": {"sockerless": "test"},
                "properties": {"serverFarmId": plan, "reserved": True, "httpsOnly": True,
                               "siteConfig": site_config}}

    def create_site(self, name, body):
        """PUT, then the Location to the end; the site."""
        status, out, headers = self.web("PUT", "/sites/" + name, body)
        if status == 202:
            out = self.poll(headers)
        return out

    def front_raw(self, site, method="POST", path="/api/echo", body=b"", headers=None,
                  timeout=60):
        headers = dict(headers or {})
        headers["Host"] = "%s.azurewebsites.net" % site
        req = urllib.request.Request(self.endpoint + path, data=body if method not in
                                     ("GET", "HEAD") else None, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, resp.read().decode(), resp.headers
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(), exc.headers

    def wait_front(self, site, deadline=120, **kw):
        """The first answer that is not the 503 of a starting site."""
        end = time.time() + deadline
        while time.time() < end:
            status, text, headers = self.front_raw(site, **kw)
            if status != 503 or "starting" not in text:
                return status, text, headers
            time.sleep(0.1)
        raise AssertionError("the site %s did not start" % site)

    def containers(self, site):
        """The engine's containers of a site of this simulator."""
        owner = "azuresim:" + os.path.realpath(self.state_dir)
        return docker_client().containers.list(all=True, filters={"label": [
            "%s=%s" % (LABEL_SITE, site), "sockerless.awssim.owner=" + owner]})


@pytest.fixture(scope="module")
def websim():
    workdir = tempfile.mkdtemp(prefix="azweb-")
    sim = WebSim(workdir).launch()
    yield sim
    sim.stop()
    shutil.rmtree(workdir, ignore_errors=True)
