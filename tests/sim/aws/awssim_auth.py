"""Credentials the simulator knows (one static key pair plus the temporary
credentials it issues) and SigV4 verification of incoming requests.

The signature is recomputed with botocore's SigV4Auth, so the simulator
checks a client against the reference implementation rather than against a
second copy of the client's own assumptions."""

import calendar
import email.utils
import hmac
import secrets
import threading
import time
from urllib.parse import unquote

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials

CLOCK_SKEW = 300  # seconds AWS tolerates between X-Amz-Date and its clock


class AuthError(Exception):
    """A request AWS would refuse before running it. kind selects the code:
    JSON services and query services (STS) spell them differently."""

    CODES = {
        # kind: (JSON 1.1 code, query code, HTTP status)
        "missing": ("MissingAuthenticationTokenException", "MissingAuthenticationToken", 403),
        "incomplete": ("IncompleteSignatureException", "IncompleteSignature", 403),
        "unrecognized": ("UnrecognizedClientException", "InvalidClientTokenId", 403),
        "expired-token": ("ExpiredTokenException", "ExpiredToken", 403),
        "signature": ("InvalidSignatureException", "SignatureDoesNotMatch", 403),
    }

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind
        self.message = message

    def code(self, protocol):
        json_code, query_code, _ = self.CODES[self.kind]
        return query_code if protocol == "query" else json_code

    @property
    def status(self):
        return self.CODES[self.kind][2]


class Credential:
    """An access key with its secret; temporary ones carry a session token,
    an expiry and the role session they belong to."""

    def __init__(self, access_key, secret_key, arn, user_id, token=None, expires=None):
        self.access_key = access_key
        self.secret_key = secret_key
        self.arn = arn
        self.user_id = user_id
        self.token = token
        self.expires = expires

    def to_json(self):
        return dict(vars(self))


class CredentialStore:
    def __init__(self, account, access_key, secret_key):
        self.account = account
        self._lock = threading.Lock()
        self._keys = {access_key: Credential(
            access_key, secret_key, "arn:aws:iam::%s:user/sockerless" % account,
            "AIDA" + _random_id(16))}

    def lookup(self, access_key):
        with self._lock:
            return self._keys.get(access_key)

    def issue(self, role_arn, session_name, duration):
        """Temporary credentials for a role session, valid for duration
        seconds, that the simulator accepts until they expire."""
        role_name = role_arn.rsplit("/", 1)[-1]
        role_id = "AROA" + _random_id(16)
        cred = Credential(
            "ASIA" + _random_id(16), secrets.token_urlsafe(30),
            "arn:aws:sts::%s:assumed-role/%s/%s" % (self.account, role_name, session_name),
            "%s:%s" % (role_id, session_name),
            token=secrets.token_urlsafe(96), expires=time.time() + duration)
        with self._lock:
            self._keys[cred.access_key] = cred
        return cred

    def snapshot(self):
        with self._lock:
            return [c.to_json() for c in self._keys.values() if c.token]

    def restore(self, items):
        with self._lock:
            for item in items:
                self._keys[item["access_key"]] = Credential(**item)


def _random_id(n):
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    return "".join(secrets.choice(alphabet) for _ in range(n))


class Request:
    """The parts of an HTTP request that SigV4 covers, as received."""

    def __init__(self, method, path, query, headers, body):
        self.method = method
        self.path = path          # still percent-encoded, as sent
        self.query = query        # raw query string without '?'
        self.headers = headers    # email.message.Message (repeatable names)
        self.body = body


class Scope:
    def __init__(self, access_key, date, region, service):
        self.access_key = access_key
        self.date = date
        self.region = region
        self.service = service


def parse_authorization(request):
    """The credential scope, signed header names and signature of a
    request, or None when it carries no Authorization header."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    algorithm, _, rest = header.partition(" ")
    if algorithm != "AWS4-HMAC-SHA256":
        raise AuthError("incomplete", "Unsupported AWS 'algorithm': '%s'" % algorithm)
    fields = {}
    for part in rest.split(","):
        name, _, value = part.strip().partition("=")
        fields[name] = value
    missing = [n for n in ("Credential", "SignedHeaders", "Signature") if not fields.get(n)]
    if missing:
        raise AuthError("incomplete", " ".join(
            "Authorization header requires '%s' parameter." % n for n in missing)
            + " Authorization=" + header)
    scope = fields["Credential"].split("/")
    if len(scope) != 5 or scope[4] != "aws4_request":
        raise AuthError("incomplete", "Credential should be scoped to a valid region, service and "
                        "terminated by 'aws4_request'.")
    return Scope(*scope[:4]), fields["SignedHeaders"].split(";"), fields["Signature"]


def verify(store, request, service, regions, now=None):
    """Check a signed request; return its Credential or raise AuthError.
    service is the signing name the endpoint expects, regions the scope
    regions it accepts."""
    parsed = parse_authorization(request)
    if parsed is None:
        raise AuthError("missing", "Missing Authentication Token")
    scope, signed, signature = parsed
    amz_date = _request_date(request)
    _check_clock(amz_date, time.time() if now is None else now)
    cred = _credential(store, request, scope.access_key, now)
    if "host" not in signed:
        raise AuthError("incomplete", "'Host' or ':authority' must be a 'SignedHeader' in the "
                        "AWS Authorization.")
    if scope.date != amz_date[:8]:
        raise AuthError("signature", "Date in Credential scope does not match YYYYMMDD from "
                        "ISO-8601 version of date from HTTP: '%s' != '%s', from 'x-amz-date'."
                        % (scope.date, amz_date[:8]))
    if scope.region not in regions:
        raise AuthError("signature", "Credential should be scoped to a valid region. ")
    if scope.service != service:
        raise AuthError("signature", "Credential should be scoped to correct service: '%s'. "
                        % service)
    canonical, string_to_sign, expected = _signature(cred, scope, signed, amz_date, request)
    if not hmac.compare_digest(expected, signature):
        raise AuthError(
            "signature",
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method. Consult the service "
            "documentation for details.\n\nThe Canonical String for this request should have "
            "been\n'%s'\n\nThe String-to-Sign should have been\n'%s'\n"
            % (canonical, string_to_sign))
    return cred


def _request_date(request):
    amz_date = request.headers.get("X-Amz-Date")
    if amz_date is not None:
        try:
            time.strptime(amz_date, "%Y%m%dT%H%M%SZ")
        except ValueError as exc:
            raise AuthError("incomplete", "Date must be in ISO-8601 'basic format'. Got '%s'. "
                            "See http://en.wikipedia.org/wiki/ISO_8601" % amz_date) from exc
        return amz_date
    date = request.headers.get("Date")
    parsed = email.utils.parsedate_tz(date) if date else None
    if parsed is None:
        raise AuthError("incomplete", "Authorization header requires existence of either a "
                        "'X-Amz-Date' or a 'Date' header.")
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(email.utils.mktime_tz(parsed)))


def _check_clock(amz_date, now):
    signed_at = calendar.timegm(time.strptime(amz_date, "%Y%m%dT%H%M%SZ"))

    def fmt(t):
        return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(t))
    if signed_at < now - CLOCK_SKEW:
        raise AuthError("signature", "Signature expired: %s is now earlier than %s (%s - 5 min.)"
                        % (amz_date, fmt(now - CLOCK_SKEW), fmt(now)))
    if signed_at > now + CLOCK_SKEW:
        raise AuthError("signature", "Signature not yet current: %s is still later than %s "
                        "(%s + 5 min.)" % (amz_date, fmt(now + CLOCK_SKEW), fmt(now)))


def _credential(store, request, access_key, now):
    cred = store.lookup(access_key)
    token = request.headers.get("X-Amz-Security-Token")
    if cred is None or token != cred.token:
        raise AuthError("unrecognized", "The security token included in the request is invalid.")
    if cred.expires is not None and cred.expires < (time.time() if now is None else now):
        raise AuthError("expired-token", "The security token included in the request is expired")
    return cred


class _Verifier(SigV4Auth):
    """botocore's signer restricted to the headers the client says it
    signed, in place of every header botocore would sign itself."""

    def __init__(self, credentials, service, region, signed):
        super().__init__(credentials, service, region)
        self._signed = signed

    def headers_to_sign(self, request):
        selected = HTTPHeaders()
        for name in self._signed:
            for value in request.headers.get_all(name) or []:
                selected[name] = value
        return selected


def _signature(cred, scope, signed, amz_date, request):
    headers = HTTPHeaders()
    for name, value in request.headers.items():
        headers[name] = value
    aws_request = AWSRequest(method=request.method, url="http://host" + (request.path or "/"),
                             headers=headers, data=request.body)
    aws_request.params = _query_pairs(request.query)
    aws_request.context["timestamp"] = amz_date
    verifier = _Verifier(Credentials(cred.access_key, cred.secret_key, cred.token),
                         scope.service, scope.region, signed)
    canonical = verifier.canonical_request(aws_request)
    string_to_sign = verifier.string_to_sign(aws_request, canonical)
    return canonical, string_to_sign, verifier.signature(string_to_sign, aws_request)


def _query_pairs(query):
    """Decoded (name, value) pairs; botocore re-encodes and sorts them."""
    pairs = []
    for part in query.split("&") if query else []:
        name, _, value = part.partition("=")
        pairs.append((unquote(name), unquote(value)))
    return pairs
