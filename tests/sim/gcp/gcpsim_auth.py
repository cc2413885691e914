"""Google authentication as the simulator serves it: the OAuth2 token
endpoint (/token: the RS256 JWT-bearer grant of service-account keys,
refresh tokens of an authorized_user file, ID tokens for a
target_audience), STS token exchange (/v1/token), iamcredentials
generateAccessToken/generateIdToken, and the metadata server
(/computeMetadata/v1/...).

Keys are RSA keys made with `openssl genpkey`; their public numbers are
read from `openssl pkey -text` and signatures verified in pure Python
(pow(sig, e, n) against the PKCS#1 v1.5 SHA-256 DigestInfo). ID tokens
are real RS256 JWTs the simulator signs with `openssl dgst -sign`, so
check_id_token verifies them the same way. No token or key is logged."""

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import subprocess
import threading
import time
import uuid
from urllib.parse import parse_qs

from gcpsim_core import ApiError

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")
LIFETIME = 3600
ID_ISSUER = "https://accounts.google.com"
SKEW = 300  # seconds of clock skew Google tolerates on iat


class OAuthError(Exception):
    """An OAuth2 error answer: 400 {"error", "error_description"}."""

    def __init__(self, error, description, status=400):
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class RsaKey:
    """An RSA key pair in a PEM file (made when absent)."""

    def __init__(self, path):
        self.path = path
        if not os.path.exists(path):
            subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                            "rsa_keygen_bits:2048", "-out", path], check=True,
                           capture_output=True)
            os.chmod(path, 0o600)
        with open(path) as f:
            self.private_pem = f.read()
        pub = subprocess.run(["openssl", "pkey", "-in", path, "-pubout"], check=True,
                             capture_output=True).stdout
        self.public_pem = pub.decode()
        text = subprocess.run(["openssl", "pkey", "-pubin", "-noout", "-text"], input=pub,
                              check=True, capture_output=True).stdout.decode()
        self.n, self.e = parse_public_text(text)
        self.kid = hashlib.sha1(pub).hexdigest()

    def sign(self, data):
        return subprocess.run(["openssl", "dgst", "-sha256", "-sign", self.path], input=data,
                              check=True, capture_output=True).stdout

    def verify(self, data, signature):
        return rsa_verify(self.n, self.e, data, signature)


def parse_public_text(text):
    """(n, e) from `openssl pkey -pubin -text` output."""
    match = re.search(r"Modulus:\s*\n((?:\s+[0-9a-f:]+\n)+)", text)
    exp = re.search(r"Exponent:\s*(\d+)", text)
    if not match or not exp:
        raise ValueError("cannot read the RSA public key from openssl's output")
    n = int(re.sub(r"[\s:]", "", match.group(1)), 16)
    return n, int(exp.group(1))


def rsa_verify(n, e, data, signature):
    """RSASSA-PKCS1-v1_5 with SHA-256."""
    size = (n.bit_length() + 7) // 8
    if len(signature) != size:
        return False
    value = int.from_bytes(signature, "big")
    if value >= n:
        return False
    em = pow(value, e, n).to_bytes(size, "big")
    tail = SHA256_DIGEST_INFO + hashlib.sha256(data).digest()
    expected = b"\x00\x01" + b"\xff" * (size - len(tail) - 3) + b"\x00" + tail
    return hmac.compare_digest(em, expected)


def make_jwt(key, header, claims):
    signing = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    return signing + "." + b64url(key.sign(signing.encode()))


def parse_jwt(token):
    """(header, claims, signing input, signature); ValueError when the
    token is not a JWT."""
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError("not a JWT (three dot-separated parts)")
    header = json.loads(unb64url(parts[0]))
    claims = json.loads(unb64url(parts[1]))
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise ValueError("the JWT's header and claims must be JSON objects")
    return header, claims, (parts[0] + "." + parts[1]).encode(), unb64url(parts[2])


class Tokens:
    """Access tokens the simulator issued: token -> principal, expiry."""

    def __init__(self):
        self._lock = threading.Lock()
        self._tokens = {}
        self.version = 0

    def issue(self, principal, lifetime=LIFETIME, scopes=()):
        token = "ya29.sim-" + secrets.token_urlsafe(32)
        with self._lock:
            now = time.time()
            self._tokens = {t: v for t, v in self._tokens.items() if v["exp"] > now}
            self._tokens[token] = {"principal": principal, "exp": now + lifetime,
                                   "scopes": list(scopes)}
            self.version += 1
        return token

    def principal(self, token):
        with self._lock:
            entry = self._tokens.get(token)
            if entry is None or entry["exp"] <= time.time():
                return None
            return entry["principal"]

    def expire(self, token):
        """Makes a token expired (tests of the refresh path)."""
        with self._lock:
            if token in self._tokens:
                self._tokens[token]["exp"] = 0
                self.version += 1

    def snapshot(self):
        with self._lock:
            return dict(self._tokens)

    def restore(self, state):
        with self._lock:
            self._tokens = dict(state)


class Auth:
    def __init__(self, project, region, port, state_dir, tokens, subject_token):
        self.project = project
        self.region = region
        self.port = port
        self.tokens = tokens
        self.token_uri = "http://127.0.0.1:%d/token" % port
        self.email = "sockerless@%s.iam.gserviceaccount.com" % project
        self.sa_key = RsaKey(os.path.join(state_dir, "sa-key.pem"))
        self.google_key = RsaKey(os.path.join(state_dir, "id-token-key.pem"))
        self.user = {"client_id": "sockerless-sim.apps.googleusercontent.com",
                     "client_secret": "sim-client-secret",
                     "refresh_token": "1//sim-refresh-" + self.sa_key.kid[:16],
                     "email": "developer@sockerless.local"}
        self.subject_token = subject_token
        self.project_number = str(int(hashlib.sha256(project.encode()).hexdigest(), 16)
                                  % 10**12)

    def key_file(self):
        return {"type": "service_account", "project_id": self.project,
                "private_key_id": self.sa_key.kid, "private_key": self.sa_key.private_pem,
                "client_email": self.email, "client_id": "1%020d" % int(self.project_number),
                "auth_uri": "https://accounts.google.com/o/oauth2/auth",
                "token_uri": self.token_uri,
                "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
                "universe_domain": "googleapis.com"}

    def adc_file(self):
        return {"type": "authorized_user", "client_id": self.user["client_id"],
                "client_secret": self.user["client_secret"],
                "refresh_token": self.user["refresh_token"], "token_uri": self.token_uri,
                "quota_project_id": self.project, "universe_domain": "googleapis.com"}

    # The OAuth2 token endpoint.

    def token(self, form):
        grant = form.get("grant_type")
        if grant == JWT_BEARER:
            return self._jwt_bearer(form.get("assertion") or "")
        if grant == "refresh_token":
            return self._refresh(form)
        if not grant:
            raise OAuthError("invalid_request", "Missing required parameter: grant_type")
        raise OAuthError("unsupported_grant_type", "Invalid grant_type: %s" % grant)

    def _jwt_bearer(self, assertion):
        try:
            header, claims, signing, signature = parse_jwt(assertion)
        except (ValueError, UnicodeDecodeError):
            raise OAuthError("invalid_grant", "Invalid JWT: the assertion is not a JWT.")
        if header.get("alg") != "RS256":
            raise OAuthError("invalid_grant", "Invalid JWT: only RS256 is accepted.")
        if claims.get("iss") != self.email:
            raise OAuthError("invalid_grant", "Invalid grant: account not found")
        if header.get("kid") not in (None, self.sa_key.kid):
            raise OAuthError("invalid_grant", "Invalid JWT Signature.")
        if not self.sa_key.verify(signing, signature):
            raise OAuthError("invalid_grant", "Invalid JWT Signature.")
        if claims.get("aud") not in (self.token_uri, "https://oauth2.googleapis.com/token"):
            raise OAuthError("invalid_grant", "Invalid JWT: Failed audience check. The right "
                             "audience is %s" % self.token_uri)
        iat, exp, now = claims.get("iat"), claims.get("exp"), time.time()
        if not isinstance(iat, (int, float)) or not isinstance(exp, (int, float)) \
                or exp < now or iat > now + SKEW or exp - iat > LIFETIME:
            raise OAuthError("invalid_grant", "Invalid JWT: Token must be a short-lived token "
                             "(60 minutes) and in a reasonable timeframe. Check your iat and "
                             "exp values in the JWT claim.")
        if claims.get("target_audience"):
            return {"id_token": self.id_token(self.email, claims["target_audience"])}
        scope = claims.get("scope")
        if not isinstance(scope, str) or not scope.strip():
            raise OAuthError("invalid_scope", "Invalid OAuth scope or ID token audience "
                             "provided.")
        token = self.tokens.issue(self.email, scopes=scope.split())
        return {"access_token": token, "expires_in": LIFETIME - 1, "token_type": "Bearer"}

    def _refresh(self, form):
        if form.get("client_id") != self.user["client_id"] or \
                form.get("client_secret") != self.user["client_secret"]:
            raise OAuthError("invalid_client", "The OAuth client was not found.", 401)
        if form.get("refresh_token") != self.user["refresh_token"]:
            raise OAuthError("invalid_grant", "Bad Request")
        token = self.tokens.issue(self.user["email"])
        return {"access_token": token, "expires_in": LIFETIME - 1, "token_type": "Bearer",
                "scope": "https://www.googleapis.com/auth/cloud-platform"}

    # ID tokens.

    def id_token(self, email, audience):
        now = int(time.time())
        claims = {"aud": audience, "azp": email, "email": email, "email_verified": True,
                  "exp": now + LIFETIME, "iat": now, "iss": ID_ISSUER,
                  "sub": str(int(hashlib.sha256(email.encode()).hexdigest(), 16) % 10**21)}
        return make_jwt(self.google_key, {"alg": "RS256", "kid": self.google_key.kid,
                                          "typ": "JWT"}, claims)

    def check_id_token(self, token, audience):
        """The claims of an ID token this simulator signed for audience;
        ApiError 401 otherwise (what Cloud Run's front end answers)."""
        try:
            header, claims, signing, signature = parse_jwt(token or "")
        except (ValueError, UnicodeDecodeError):
            raise ApiError(401, "UNAUTHENTICATED", "The request was not authenticated: the "
                           "bearer token is not an ID token.")
        if header.get("kid") != self.google_key.kid or \
                not self.google_key.verify(signing, signature):
            raise ApiError(401, "UNAUTHENTICATED", "The request was not authenticated: the ID "
                           "token's signature is not valid.")
        if claims.get("aud") != audience:
            raise ApiError(401, "UNAUTHENTICATED", "The request was not authenticated: the ID "
                           "token's audience %r is not %r." % (claims.get("aud"), audience))
        if not isinstance(claims.get("exp"), (int, float)) or claims["exp"] < time.time():
            raise ApiError(401, "UNAUTHENTICATED", "The request was not authenticated: the ID "
                           "token has expired.")
        return claims

    # STS and iamcredentials.

    def sts(self, form):
        if form.get("grant_type") != TOKEN_EXCHANGE:
            raise OAuthError("unsupported_grant_type", "The grant_type must be %s."
                             % TOKEN_EXCHANGE)
        for name in ("subject_token", "subject_token_type", "audience"):
            if not form.get(name):
                raise OAuthError("invalid_request", "Missing required parameter: %s" % name)
        if not form["audience"].startswith("//iam.googleapis.com/"):
            raise OAuthError("invalid_target", "The target service indicated by the "
                             "\"audience\" parameters is invalid.")
        if not self.subject_token or form["subject_token"] != self.subject_token:
            raise OAuthError("invalid_grant", "The subject token could not be verified.")
        token = self.tokens.issue("principal:" + form["audience"][2:])
        return {"access_token": token, "issued_token_type": ACCESS_TOKEN_TYPE,
                "token_type": "Bearer", "expires_in": LIFETIME}

    def service_account(self, email, principal):
        if principal is None:
            raise ApiError(401, "UNAUTHENTICATED", "Request had invalid authentication "
                           "credentials.")
        if not email.endswith("@%s.iam.gserviceaccount.com" % self.project):
            raise ApiError(403, "PERMISSION_DENIED", "Permission 'iam.serviceAccounts."
                           "getAccessToken' denied on resource (or it may not exist).",
                           [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                             "reason": "IAM_PERMISSION_DENIED", "domain": "iam.googleapis.com"}])

    def generate_access_token(self, email, principal, body):
        self.service_account(email, principal)
        _only(body, {"scope", "lifetime", "delegates"})
        scope = body.get("scope")
        if not isinstance(scope, list) or not scope:
            raise ApiError(400, "INVALID_ARGUMENT", "Scope required.")
        lifetime = LIFETIME
        if "lifetime" in body:
            match = re.fullmatch(r"(\d+)(\.\d+)?s", str(body["lifetime"]))
            if not match or not 0 < int(match.group(1)) <= 43200:
                raise ApiError(400, "INVALID_ARGUMENT", "The lifetime must be a duration such "
                               "as \"3600s\", at most 43200s.")
            lifetime = int(match.group(1))
        token = self.tokens.issue(email, lifetime, scope)
        expire = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + lifetime))
        return {"accessToken": token, "expireTime": expire}

    def generate_id_token(self, email, principal, body):
        self.service_account(email, principal)
        _only(body, {"audience", "includeEmail", "delegates", "organizationNumberIncluded"})
        if not isinstance(body.get("audience"), str) or not body["audience"]:
            raise ApiError(400, "INVALID_ARGUMENT", "Audience required.")
        return {"token": self.id_token(email, body["audience"])}

    # The metadata server.

    def metadata(self, path, query):
        """(status, content type, body) of a metadata path below
        /computeMetadata/v1/."""
        sa = "instance/service-accounts/"
        if path.startswith(sa):
            who, _, leaf = path[len(sa):].partition("/")
            if who not in ("default", self.email):
                return 404, "text/html", "Not Found"
            if leaf == "token":
                scopes = (query.get("scopes") or [""])[0].split(",")
                token = self.tokens.issue(self.email, scopes=[s for s in scopes if s])
                return 200, "application/json", json.dumps(
                    {"access_token": token, "expires_in": LIFETIME - 1, "token_type": "Bearer"})
            if leaf == "identity":
                audience = (query.get("audience") or [""])[0]
                if not audience:
                    return 400, "text/plain", "non-empty audience parameter required"
                return 200, "text/plain", self.id_token(self.email, audience)
            if leaf == "email":
                return 200, "text/plain", self.email
            if leaf in ("", "scopes"):
                info = {"aliases": ["default"], "email": self.email,
                        "scopes": ["https://www.googleapis.com/auth/cloud-platform"]}
                if leaf == "scopes":
                    return 200, "text/plain", "\n".join(info["scopes"]) + "\n"
                return 200, "application/json", json.dumps(info)
            return 404, "text/html", "Not Found"
        fixed = {"project/project-id": self.project,
                 "project/numeric-project-id": self.project_number,
                 "instance/id": str(uuid.uuid5(uuid.NAMESPACE_DNS, self.project).int % 10**19),
                 "instance/region": "projects/%s/regions/%s" % (self.project_number,
                                                                self.region),
                 "instance/zone": "projects/%s/zones/%s-1" % (self.project_number,
                                                              self.region)}
        if path not in fixed:
            return 404, "text/html", "Not Found"
        return 200, "text/plain", fixed[path]


def _only(body, names):
    unknown = sorted(set(body) - names)
    if unknown:
        raise ApiError(400, "INVALID_ARGUMENT", 'Invalid JSON payload received. Unknown name '
                       '"%s": Cannot find field.' % unknown[0])


def parse_form(raw, content_type):
    """A token request's parameters: form-encoded (OAuth's rule) or JSON
    (STS also takes JSON)."""
    if (content_type or "").startswith("application/json"):
        obj = json.loads(raw or b"{}")
        if not isinstance(obj, dict):
            raise OAuthError("invalid_request", "The request body must be a JSON object.")
        return {k: v if isinstance(v, str) else json.dumps(v) for k, v in obj.items()}
    parsed = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[-1] for k, v in parsed.items()}
