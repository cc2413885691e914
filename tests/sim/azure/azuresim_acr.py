"""The Azure Container Registry host: a second listener on --acr-port
serving ACR's token flow and the registry v2 API, proxied to the local
--registry (the proxy and chunked-body reader are the GCP simulator's
Artifact Registry host's, gcpsim_ar.ArHandler, subclassed).

The flow, as ACR does it (and as `az acr login` and Microsoft's SDKs use
it):
  POST /oauth2/exchange  form grant_type=access_token, service, tenant?,
                         access_token=<an ARM token the simulator issued>
                         -> {"refresh_token"}
  GET  /oauth2/token?service=S&scope=repository:R:pull,push  with Basic
                         00000000-0000-0000-0000-000000000000:<refresh token>
  POST /oauth2/token     form grant_type=refresh_token, service, scope,
                         refresh_token -> {"access_token", "token"}
  /v2/...                needs Bearer <access token> whose scope covers the
                         repository and action (pull for GET/HEAD, push
                         otherwise); otherwise 401 with
                         WWW-Authenticate: Bearer realm=".../oauth2/token",
                         service="<acr host>",scope="repository:R:pull"
Only tokens the simulator issued are accepted (the token store of
azuresim_core, with ACR-only audiences)."""

import base64
import json
import logging
import re
import threading
from http.server import ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from azuresim_faults import GCP_DIR  # noqa: F401 (puts tests/sim/gcp on sys.path)
from gcpsim_ar import ArHandler  # noqa: E402

log = logging.getLogger("azuresim.acr")
NULL_USER = "00000000-0000-0000-0000-000000000000"
NAME = re.compile(r"^/v2/(?P<name>.+?)/(?P<kind>manifests|blobs|tags)(/|$)")
SCOPE = re.compile(r"^(repository|registry):([^:]+):([a-z*,]+)$")
REFRESH_LIFETIME = 3 * 3600
ACCESS_LIFETIME = 3600


class AcrServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


def serve(sim, port):
    """Starts the registry host's listener; returns the server."""
    handler = type("AcrHandlerBound", (AcrHandler,), {"sim": sim, "service": sim.acr_host})
    server = AcrServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, args=(0.2,), name="acr-host",
                     daemon=True).start()
    return server


def parse_scopes(values):
    """[{"type", "name", "actions"}] of scope strings; ValueError on a bad
    one."""
    out = []
    for value in values:
        for item in value.split():
            match = SCOPE.match(item)
            if not match:
                raise ValueError("the scope %r is not type:name:actions" % item)
            out.append({"type": match.group(1), "name": match.group(2),
                        "actions": match.group(3).split(",")})
    return out


# The registry's data plane as Azure RBAC authorizes it (the AcrPull,
# AcrPush and AcrDelete roles' actions), for the call log.
ACR_ACTIONS = {
    "GET": "Microsoft.ContainerRegistry/registries/pull/read",
    "HEAD": "Microsoft.ContainerRegistry/registries/pull/read",
    "PUT": "Microsoft.ContainerRegistry/registries/push/write",
    "POST": "Microsoft.ContainerRegistry/registries/push/write",
    "PATCH": "Microsoft.ContainerRegistry/registries/push/write",
    "DELETE": "Microsoft.ContainerRegistry/registries/artifacts/delete",
}


class AcrHandler(ArHandler):
    server_version = "azuresim-acr"

    def _handle(self):
        url = urlsplit(self.path)
        path, query = url.path, parse_qs(url.query, keep_blank_values=True)
        body = self._read_body()
        if path == "/oauth2/exchange":
            self.sim.count("ACR_Exchange")
            return self._exchange(body)
        if path == "/oauth2/token":
            self.sim.count("ACR_Token")
            return self._token_flow(query, body)
        if not path.startswith("/v2"):
            return self._registry_error(404, "NOT_FOUND", "no such ACR endpoint %s" % path)
        self.sim.count("ACR_Registry_%s" % self.command)
        if self.sim.call_log.path:
            self.sim.call_log.add(ACR_ACTIONS.get(self.command, "UNMAPPED:ACR %s" % self.command),
                                  path, "ACR_Registry_%s" % self.command,
                                  self.headers.get("User-Agent"))
        need = self._needed(path)
        access = self._access()
        if access is None or not self._allows(access, need):
            return self._challenge_for(need)
        self._proxy(body)

    # Token flow.

    def _form(self, body, lists=False):
        parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        return parsed if lists else {k: v[-1] for k, v in parsed.items()}

    def _service_ok(self, service):
        return service == self.service or (service or "").endswith(".azurecr.io")

    def _exchange(self, body):
        if self.command != "POST":
            return self._registry_error(405, "UNSUPPORTED", "POST the form to /oauth2/exchange")
        form = self._form(body)
        if form.get("grant_type") != "access_token":
            return self._registry_error(400, "UNSUPPORTED", "grant_type must be access_token "
                                        "(an Entra ID access token for ARM)")
        if not self._service_ok(form.get("service")):
            return self._registry_error(400, "UNSUPPORTED", "service must be the registry's "
                                        "login server %s" % self.service)
        if form.get("tenant") and form["tenant"].lower() != self.sim.tenant.lower():
            return self._registry_error(401, "UNAUTHORIZED", "the tenant %s is not the "
                                        "registry's tenant" % form["tenant"])
        claims = self.sim.check_token(form.get("access_token") or "", "arm")
        if claims is None:
            return self._registry_error(401, "UNAUTHORIZED", "the access_token is not a valid "
                                        "ARM token (https://management.azure.com/) the "
                                        "simulator issued, or it has expired")
        refresh = self.sim.tokens.issue("acr-refresh:" + self.service,
                                        {"oid": claims.get("oid"), "tid": claims.get("tid"),
                                         "grant_type": "refresh_token"}, REFRESH_LIFETIME)
        self._answer({"refresh_token": refresh})

    def _refresh_from_request(self, query, form):
        header = self.headers.get("Authorization") or ""
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(value).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return None
            return password if user == NULL_USER else None
        if form.get("grant_type") == "refresh_token":
            return form.get("refresh_token")
        return None

    def _token_flow(self, query, body):
        form = self._form(body) if self.command == "POST" else {}
        service = form.get("service") or (query.get("service") or [None])[-1]
        # (Docker clients repeat scope= for several repositories)
        scopes = self._form(body, lists=True).get("scope", []) if form.get("scope") \
            else query.get("scope", [])
        refresh = self._refresh_from_request(query, form)
        if not self._service_ok(service):
            return self._registry_error(400, "UNSUPPORTED", "service must be the registry's "
                                        "login server %s" % self.service)
        claims = self.sim.tokens.lookup(refresh or "")
        if claims is None or claims.get("aud") != "acr-refresh:" + self.service:
            return self._registry_error(401, "UNAUTHORIZED", "authentication required: a "
                                        "refresh token from /oauth2/exchange, as Basic %s:"
                                        "<token> or the refresh_token grant" % NULL_USER)
        try:
            access = parse_scopes(scopes)
        except ValueError as exc:
            return self._registry_error(400, "UNSUPPORTED", str(exc))
        token = self.sim.tokens.issue("acr-access:" + self.service,
                                      {"oid": claims.get("oid"), "access": access},
                                      ACCESS_LIFETIME)
        self._answer({"access_token": token, "token": token, "expires_in": ACCESS_LIFETIME})

    def _answer(self, obj):
        self._send(200, json.dumps(obj).encode(), {"Content-Type": "application/json",
                                                   "Cache-Control": "no-store"})

    # The registry API.

    def _needed(self, path):
        """(type, name, action) a request needs; None for /v2/ itself."""
        if path.rstrip("/") == "/v2":
            return None
        if path == "/v2/_catalog":
            return ("registry", "catalog", "*")
        match = NAME.match(path)
        if not match:
            return ("repository", path[len("/v2/"):], "pull")
        action = "pull" if self.command in ("GET", "HEAD") else \
            ("delete" if self.command == "DELETE" else "push")
        return ("repository", match.group("name"), action)

    def _access(self):
        header = self.headers.get("Authorization") or ""
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer":
            return None
        claims = self.sim.tokens.lookup(value.strip())
        if claims is None or claims.get("aud") != "acr-access:" + self.service:
            return None
        return claims.get("access", [])

    @staticmethod
    def _allows(access, need):
        if need is None:
            return True
        kind, name, action = need
        for grant in access:
            if grant["type"] == kind and grant["name"] == name and \
                    (action in grant["actions"] or "*" in grant["actions"]):
                return True
        return False

    def _challenge_for(self, need):
        scope = ""
        if need is not None:
            kind, name, action = need
            actions = "pull" if action == "pull" else ("*" if kind == "registry"
                                                       else "pull,%s" % action)
            scope = ',scope="%s:%s:%s"' % (kind, name, actions)
        self._registry_error(401, "UNAUTHORIZED", "authentication required, visit "
                             "https://aka.ms/acr/authorization for more information.",
                             challenge=True, scope=scope)

    def _registry_error(self, status, code, message, challenge=False, scope=""):
        headers = {"Content-Type": "application/json; charset=utf-8",
                   "Docker-Distribution-API-Version": "registry/2.0"}
        if challenge:
            headers["WWW-Authenticate"] = 'Bearer realm="http://%s/oauth2/token",' \
                'service="%s"%s' % (self.service, self.service, scope)
        body = json.dumps({"errors": [{"code": code, "message": message,
                                       "detail": None}]}).encode()
        self._send(status, body, headers)
