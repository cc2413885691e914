"""Microsoft Entra ID as the Azure simulator serves it: the v2 token
endpoint (/{tenant}/oauth2/v2.0/token: client_credentials with a client
secret, a certificate assertion (RS256 JWT whose x5t names the
simulator's certificate) or a federated assertion (the workload identity
token file the simulator wrote)), the App Service / Container Apps
managed identity endpoint (/msi/token) and IMDS
(/metadata/identity/oauth2/token). Access tokens come from the token
store of azuresim_core (Sim.issue_token), one audience each: ARM or Log
Analytics.

Keys are made with openssl at first start and kept in the state
directory (a restarted simulator accepts the same secret, certificate and
token file). Signatures are verified in pure Python with the GCP
simulator's RSASSA-PKCS1-v1_5 code (gcpsim_auth, imported by path). No
secret, assertion or token is logged."""

import base64
import hashlib
import hmac
import os
import secrets
import subprocess
import time
import uuid

from azuresim_core import ARM_AUDIENCE, LOGS_AUDIENCE
from azuresim_faults import GCP_DIR  # noqa: F401 (puts tests/sim/gcp on sys.path)
from gcpsim_auth import RsaKey, make_jwt, parse_jwt  # noqa: E402

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
FEDERATED_AUDIENCE = "api://AzureADTokenExchange"
LIFETIME = 3600
SKEW = 300
# Scope resources (before "/.default") and the audience of their tokens.
RESOURCES = {"https://management.azure.com": ARM_AUDIENCE,
             "https://management.core.windows.net": ARM_AUDIENCE,
             "https://api.loganalytics.io": LOGS_AUDIENCE}
__all__ = ["Entra", "EntraError", "MsiError"]


class EntraError(Exception):
    """An Entra ID error answer: {"error", "error_description": "AADSTS...",
    "error_codes", "timestamp", "trace_id", "correlation_id"}."""

    def __init__(self, status, error, code, text):
        super().__init__(text)
        self.status = status
        self.error = error
        self.code = code
        self.text = text

    def to_json(self):
        trace, corr = str(uuid.uuid4()), str(uuid.uuid4())
        stamp = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime())
        return {"error": self.error,
                "error_description": "AADSTS%d: %s Trace ID: %s Correlation ID: %s "
                "Timestamp: %s" % (self.code, self.text, trace, corr, stamp),
                "error_codes": [self.code], "timestamp": stamp, "trace_id": trace,
                "correlation_id": corr,
                "error_uri": "https://login.microsoftonline.com/error?code=%d" % self.code}


class MsiError(Exception):
    def __init__(self, status, body):
        super().__init__(str(body))
        self.status = status
        self.body = body


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def audience_of(resource):
    """The token audience of a resource or scope ("https://x/.default",
    "https://x/", "https://x"); None when unknown."""
    text = resource[:-len("/.default")] if resource.endswith("/.default") else resource
    return RESOURCES.get(text.rstrip("/"))


class Entra:
    def __init__(self, sim, state_dir):
        self.sim = sim
        self.dir = state_dir
        self.client_id = self._stable("client-id", lambda: str(uuid.uuid4()))
        self.object_id = self._stable("object-id", lambda: str(uuid.uuid4()))
        self.secret = self._stable("client-secret",
                                   lambda: "sim~" + secrets.token_urlsafe(30))
        self.mi_client_id = self._stable("mi-client-id", lambda: str(uuid.uuid4()))
        self.mi_object_id = self._stable("mi-object-id", lambda: str(uuid.uuid4()))
        self.identity_header = self._stable("identity-header", lambda: secrets.token_hex(16))
        self.cert_path = os.path.join(state_dir, "client-cert.pem")
        self.cert_key, self.thumbprints = self._certificate()
        self.issuer_key = RsaKey(os.path.join(state_dir, "oidc-issuer-key.pem"))
        self.issuer = sim.url + "/oidc"
        self.fed_subject = "system:serviceaccount:sockerless:sockerless"
        self.fed_path = os.path.join(state_dir, "federated-token")

    def _stable(self, name, make):
        path = os.path.join(self.dir, name)
        if not os.path.exists(path):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(make())
        with open(path) as f:
            return f.read().strip()

    def _certificate(self):
        """The client certificate (key + self-signed cert in one PEM, as
        AZURE_CLIENT_CERTIFICATE_PATH takes it); (its RsaKey, its x5t and
        x5t#S256 thumbprints)."""
        key_path = os.path.join(self.dir, "client-cert-key.pem")
        crt_path = os.path.join(self.dir, "client-cert-only.pem")
        if not os.path.exists(self.cert_path):
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                            "-keyout", key_path, "-out", crt_path, "-days", "3650", "-subj",
                            "/CN=sockerless-azuresim-client"], check=True, capture_output=True)
            with open(key_path) as k, open(crt_path) as c:
                pem = k.read() + c.read()
            fd = os.open(self.cert_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(pem)
        der = subprocess.run(["openssl", "x509", "-in", self.cert_path, "-outform", "DER"],
                             check=True, capture_output=True).stdout
        key = RsaKey(key_path)
        return key, {b64url(hashlib.sha1(der).digest()), b64url(hashlib.sha256(der).digest())}

    def write_federated_token(self, lifetime=86400):
        """Writes the workload identity token file (an RS256 JWT of the
        simulator's OIDC issuer, as a Kubernetes projected token)."""
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": self.fed_subject, "aud": [FEDERATED_AUDIENCE],
                  "iat": now, "nbf": now, "exp": now + lifetime}
        token = make_jwt(self.issuer_key, {"alg": "RS256", "typ": "JWT",
                                           "kid": self.issuer_key.kid}, claims)
        tmp = self.fed_path + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(token)
        os.replace(tmp, self.fed_path)
        return token

    # The v2 token endpoint.

    def token(self, tenant, form):
        if tenant.lower() not in (self.sim.tenant.lower(), "organizations"):
            raise EntraError(400, "invalid_request", 90002, "Tenant '%s' not found. Check to "
                             "make sure you have the correct tenant ID and are signing into "
                             "the correct cloud." % tenant)
        grant = form.get("grant_type")
        if not grant:
            raise EntraError(400, "invalid_request", 900144, "The request body must contain "
                             "the following parameter: 'grant_type'.")
        if grant != "client_credentials":
            raise EntraError(400, "unsupported_grant_type", 70003, "The app requested an "
                             "unsupported grant type '%s'." % grant)
        client_id = form.get("client_id")
        if not client_id:
            raise EntraError(400, "invalid_request", 900144, "The request body must contain "
                             "the following parameter: 'client_id'.")
        if client_id != self.client_id:
            raise EntraError(400, "unauthorized_client", 700016, "Application with identifier "
                             "'%s' was not found in the directory '%s'." % (client_id, tenant))
        audience = self._scope(form.get("scope"), tenant)
        if form.get("client_secret") is not None:
            if not hmac.compare_digest(form["client_secret"].encode(), self.secret.encode()):
                raise EntraError(401, "invalid_client", 7000215, "Invalid client secret "
                                 "provided. Ensure the secret being sent in the request is the "
                                 "client secret value, not the client secret ID, for a secret "
                                 "added to app '%s'." % client_id)
        elif form.get("client_assertion") is not None:
            if form.get("client_assertion_type") != ASSERTION_TYPE:
                raise EntraError(400, "invalid_request", 50027, "client_assertion_type must "
                                 "be %s." % ASSERTION_TYPE)
            self._assertion(tenant, client_id, form["client_assertion"])
        else:
            raise EntraError(401, "invalid_client", 7000218, "The request body must contain "
                             "the following parameter: 'client_assertion' or "
                             "'client_secret'.")
        return self._answer(audience, {"oid": self.object_id, "appid": client_id,
                                       "tid": self.sim.tenant, "sub": self.object_id,
                                       "idtyp": "app"})

    def _scope(self, scope, tenant):
        if not scope:
            raise EntraError(400, "invalid_request", 900144, "The request body must contain "
                             "the following parameter: 'scope'.")
        scopes = scope.split()
        if len(scopes) != 1 or not scopes[0].endswith("/.default"):
            raise EntraError(400, "invalid_scope", 1002012, "The provided value for scope %s is "
                             "not valid. Client credential flows must have a scope value with "
                             "/.default suffixed to the resource identifier "
                             "(application ID URI)." % scope)
        audience = audience_of(scopes[0])
        if audience is None:
            raise EntraError(400, "invalid_resource", 500011, "The resource principal named "
                             "%s was not found in the tenant named %s. This can happen if the "
                             "application has not been installed by the administrator of the "
                             "tenant or consented to by any user in the tenant. The simulator "
                             "knows %s." % (scopes[0][:-len("/.default")], tenant,
                                            ", ".join(sorted(RESOURCES))))
        return audience

    def _assertion(self, tenant, client_id, assertion):
        try:
            header, claims, signing, signature = parse_jwt(assertion)
        except (ValueError, UnicodeDecodeError):
            raise EntraError(400, "invalid_client", 50027, "JWT token is invalid or "
                             "malformed.")
        if header.get("alg") != "RS256":
            raise EntraError(401, "invalid_client", 5002738, "Invalid JWT token. '%s' is not a "
                             "supported signature algorithm (RS256 is)." % header.get("alg"))
        if "x5t" in header or "x5t#S256" in header:
            return self._certificate_assertion(tenant, client_id, header, claims, signing,
                                               signature)
        return self._federated_assertion(header, claims, signing, signature)

    def _certificate_assertion(self, tenant, client_id, header, claims, signing, signature):
        thumb = header.get("x5t#S256") or header.get("x5t") or ""
        thumb = thumb.rstrip("=") if isinstance(thumb, str) else repr(thumb)
        if thumb not in self.thumbprints:
            raise EntraError(401, "invalid_client", 700027, "Client assertion failed signature "
                             "validation: the key with thumbprint '%s' was not found in the "
                             "application's credentials." % thumb)
        if not self.cert_key.verify(signing, signature):
            raise EntraError(401, "invalid_client", 700027, "Client assertion failed signature "
                             "validation.")
        if claims.get("iss") != client_id or claims.get("sub") != client_id:
            raise EntraError(401, "invalid_client", 700021, "Client assertion application "
                             "identifier doesn't match 'client_id' parameter (iss and sub must "
                             "both be the client id).")
        want = "%s/%s/oauth2/v2.0/token" % (self.sim.url, tenant)
        if claims.get("aud") != want:
            raise EntraError(401, "invalid_client", 700212, "No matching federated identity "
                             "record found for presented assertion audience '%s': the "
                             "audience must be the token endpoint %s." % (claims.get("aud"),
                                                                          want))
        self._times(claims)

    def _times(self, claims):
        now = time.time()
        exp, nbf = claims.get("exp"), claims.get("nbf", claims.get("iat"))
        if not isinstance(exp, (int, float)) or isinstance(exp, bool) or exp < now - SKEW or \
                (isinstance(nbf, (int, float)) and nbf > now + SKEW):
            raise EntraError(400, "invalid_client", 700024, "Client assertion is not within its "
                             "valid time range. Current time: %s, assertion valid from %s, "
                             "expiry time of assertion %s." % (
                                 stamp(now), stamp(nbf) if isinstance(nbf, (int, float))
                                 else "-", stamp(exp) if isinstance(exp, (int, float)) else "-"))

    def _federated_assertion(self, header, claims, signing, signature):
        if header.get("kid") != self.issuer_key.kid or \
                not self.issuer_key.verify(signing, signature):
            raise EntraError(401, "invalid_client", 700027, "Client assertion failed signature "
                             "validation (the federated token is not signed by the issuer %s)."
                             % self.issuer)
        aud = claims.get("aud")
        auds = aud if isinstance(aud, list) else [aud]
        if claims.get("iss") != self.issuer or claims.get("sub") != self.fed_subject or \
                FEDERATED_AUDIENCE not in auds:
            raise EntraError(400, "invalid_request", 70021, "No matching federated identity "
                             "record found for presented assertion. Assertion Issuer: '%s'. "
                             "Assertion Subject: '%s'. Assertion Audience: '%s'." % (
                                 claims.get("iss"), claims.get("sub"), aud))
        self._times(claims)

    def _answer(self, audience, claims):
        token = self.sim.tokens.issue(audience, claims, LIFETIME)
        self.sim.count("Entra_Token")
        return {"token_type": "Bearer", "expires_in": LIFETIME - 1,
                "ext_expires_in": LIFETIME - 1, "access_token": token}

    # Managed identity.

    def _mi_claims(self, query):
        for name, value in (("client_id", self.mi_client_id),
                            ("principal_id", self.mi_object_id),
                            ("object_id", self.mi_object_id)):
            given = query.get(name)
            if given and given != value:
                return None
        return {"oid": self.mi_object_id, "appid": self.mi_client_id, "tid": self.sim.tenant,
                "sub": self.mi_object_id, "idtyp": "app"}

    def msi(self, headers, query):
        """GET /msi/token: the App Service / Container Apps endpoint."""
        self.sim.count("ManagedIdentity_AppService")
        given = headers.get("X-IDENTITY-HEADER")
        if not given or not hmac.compare_digest(given.encode(), self.identity_header.encode()):
            raise MsiError(401 if given else 400, {
                "statusCode": 401 if given else 400,
                "message": "The X-IDENTITY-HEADER header is %s." % (
                    "not valid" if given else "missing: send the IDENTITY_HEADER value"),
                "correlationId": str(uuid.uuid4())})
        if query.get("api-version") != "2019-08-01":
            raise MsiError(400, {"statusCode": 400, "message": "The api-version '%s' is not "
                                 "supported; use 2019-08-01." % query.get("api-version"),
                                 "correlationId": str(uuid.uuid4())})
        audience = audience_of(query.get("resource") or "")
        claims = self._mi_claims(query)
        if audience is None or claims is None:
            raise MsiError(400, {"statusCode": 400, "message": "No managed identity token for "
                                 "resource '%s' and the given identity (the simulator knows "
                                 "%s and client_id %s)." % (query.get("resource"),
                                                           ", ".join(sorted(RESOURCES)),
                                                           self.mi_client_id),
                                 "correlationId": str(uuid.uuid4())})
        token = self.sim.tokens.issue(audience, claims, LIFETIME)
        now = int(time.time())
        return {"access_token": token, "expires_on": str(now + LIFETIME),
                "resource": query["resource"], "token_type": "Bearer",
                "client_id": self.mi_client_id}

    def imds(self, headers, query):
        """GET /metadata/identity/oauth2/token: IMDS."""
        self.sim.count("ManagedIdentity_Imds")
        if (headers.get("Metadata") or "").lower() != "true" or headers.get("X-Forwarded-For"):
            raise MsiError(400, {"error": "invalid_request",
                                 "error_description": "Required metadata header not specified"})
        if query.get("api-version") not in ("2018-02-01", "2019-08-01"):
            raise MsiError(400, {"error": "invalid_request", "error_description": "Invalid "
                                 "api-version '%s'; use 2018-02-01." % query.get("api-version")})
        audience = audience_of(query.get("resource") or "")
        if audience is None:
            raise MsiError(400, {"error": "invalid_resource", "error_description": "AADSTS500011:"
                                 " The resource principal named %s was not found in the tenant."
                                 % query.get("resource")})
        claims = self._mi_claims(query)
        if claims is None:
            raise MsiError(400, {"error": "invalid_request", "error_description": "Identity not "
                                 "found"})
        token = self.sim.tokens.issue(audience, claims, LIFETIME)
        now = int(time.time())
        return {"access_token": token, "client_id": self.mi_client_id,
                "expires_in": str(LIFETIME - 1), "expires_on": str(now + LIFETIME),
                "ext_expires_in": str(LIFETIME - 1), "not_before": str(now),
                "resource": query["resource"], "token_type": "Bearer"}

    def creds_env(self, authority):
        """The shell env file's lines (Interface S: --creds-out)."""
        values = [("AZURE_TENANT_ID", self.sim.tenant), ("AZURE_CLIENT_ID", self.client_id),
                  ("AZURE_CLIENT_SECRET", self.secret), ("AZURE_AUTHORITY_HOST", authority),
                  ("AZURE_SK_CERT_PATH", self.cert_path),
                  ("AZURE_SK_FEDERATED_TOKEN_FILE", self.fed_path),
                  ("AZURE_SK_IDENTITY_ENDPOINT", authority + "/msi/token"),
                  ("AZURE_SK_IDENTITY_HEADER", self.identity_header),
                  ("AZURE_SK_IMDS_ENDPOINT", authority + "/metadata/identity/oauth2/token"),
                  ("AZURE_SK_MI_CLIENT_ID", self.mi_client_id),
                  ("AZURE_SUBSCRIPTION_ID", self.sim.subscription),
                  ("AZURE_SK_RESOURCE_GROUP", self.sim.resource_group),
                  ("AZURE_SK_LOCATION", self.sim.location),
                  ("AZURE_SK_WORKSPACE_ID", self.sim.workspace_id)]
        if self.sim.acr_host:
            values.append(("AZURE_SK_ACR_HOST", self.sim.acr_host))
        values += sorted(getattr(self.sim, "creds_extra", {}).items())
        return "".join("export %s='%s'\n" % (k, v) for k, v in values)


def stamp(epoch):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
