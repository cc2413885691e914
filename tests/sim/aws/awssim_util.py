"""Small pieces shared by the simulator's services: the AWS error type, time
formats and opaque pagination tokens."""

import base64
import binascii
import calendar
import json
import time


class AwsError(Exception):
    """An error answered in the service's own envelope (JSON __type or XML
    <Error>); code is the AWS error code, status the HTTP status."""

    def __init__(self, code, message, status=400, headers=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.headers = headers or {}


def now():
    return time.time()


def epoch_ms(t):
    return int(t * 1000)


def iso8601(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def parse_rfc3339(text):
    """Seconds since the epoch for an RFC 3339 UTC time with an optional
    fraction of any length, as the Docker engine writes them."""
    base, _, rest = text.rstrip("Z").partition(".")
    seconds = calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S"))
    fraction = float("0." + rest) if rest.isdigit() else 0.0
    return seconds + fraction


def encode_token(state):
    return base64.urlsafe_b64encode(json.dumps(state).encode()).decode()


def decode_token(token, code="InvalidParameterException"):
    try:
        return json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, binascii.Error) as exc:
        raise AwsError(code, "The specified nextToken is invalid.") from exc


def paginate(items, params, limit_key, default_limit, token_code="InvalidParameterException"):
    """One page of items by offset; returns (page, nextToken or None)."""
    start = 0
    if params.get("nextToken"):
        state = decode_token(params["nextToken"], token_code)
        if not isinstance(state, dict) or not isinstance(state.get("offset"), int):
            raise AwsError(token_code, "The specified nextToken is invalid.")
        start = state["offset"]
    limit = params.get(limit_key) or default_limit
    page = items[start:start + limit]
    more = start + limit < len(items)
    return page, (encode_token({"offset": start + limit}) if more else None)
