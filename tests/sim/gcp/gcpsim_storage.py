"""Cloud Storage JSON API v1 on the GCP simulator, as far as the backends
use it: buckets get/insert, objects insert (media and multipart uploads),
list (prefix, delimiter, pages), get (metadata or alt=media) and delete.

Objects are files: bucket B's object N is $STATE/gcs/B/N, so that a Cloud
Run volume of the bucket (gcsfuse's view) is a plain directory bind-mounted
into the workload, and what a workload writes there is listed at once. A
name ending in "/" is a directory (gcsfuse's placeholder object), and every
directory under a bucket lists as one: a file written at "v/a" also makes
"v/" appear, as gcsfuse's mkdir would have. Names the file system cannot
hold ("", ".", "..", "a//b") are refused. contentType and metadata live in
the simulator's state; generation is the file's mtime in ns.

Errors have Cloud Storage's own envelope: {"error": {"code", "message",
"errors": [{"message", "domain": "global", "reason"}]}}, no "status"."""

import base64
import hashlib
import json
import logging
import os
import re
import time
from urllib.parse import quote, unquote

from gcpsim_core import ApiError, invalid_argument
from gcpsim_discovery import check_body

log = logging.getLogger("gcpsim")

BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$")
IPV4 = re.compile(r"^\d+\.\d+\.\d+\.\d+$")
B = r"/storage/v1/b/(?P<b>[^/]+)"
# Query parameters whose meaning the simulator does not implement: refused
# rather than ignored.
UNSERVED = ("versions", "softDeleted", "matchGlob",
            "filter", "restoreToken", "kmsKeyName", "contentEncoding",
            "predefinedAcl", "predefinedDefaultObjectAcl", "enableObjectRetention",
            "includeTrailingDelimiter")
REASON = {400: "invalid", 401: "required", 403: "forbidden", 404: "notFound",
          409: "conflict", 412: "conditionNotMet", 429: "rateLimitExceeded"}


class StorageError(ApiError):
    """An error in Cloud Storage's envelope."""

    def __init__(self, http_status, message, reason=None):
        name = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                409: "ALREADY_EXISTS", 412: "FAILED_PRECONDITION"}.get(http_status, "UNKNOWN")
        super().__init__(http_status, name, message)
        self.reason = reason or REASON.get(http_status, "invalid")

    def to_json(self):
        return {"error": {"code": self.http_status, "message": self.message,
                          "errors": [{"message": self.message, "domain": "global",
                                      "reason": self.reason}]}}


class Media:
    """A handler's raw answer (alt=media): bytes and their Content-Type."""

    def __init__(self, data, content_type):
        self.data = data
        self.content_type = content_type


def rfc3339(epoch):
    """Cloud Storage's timestamps: RFC 3339 UTC with milliseconds."""
    ms = int(round(epoch * 1000))
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + ".%03dZ" % (ms % 1000)


def bucket_name_ok(name):
    if not BUCKET_RE.match(name) or IPV4.match(name) or name.startswith("goog") or \
            "google" in name:
        return False
    parts = name.split(".")
    return (len(name) <= 63 or len(parts) > 1) and all(0 < len(p) <= 63 for p in parts)


def object_path(root, name):
    """The file of an object name, or StorageError 400 when the file
    system cannot hold it."""
    if not name or len(name.encode()) > 1024 or "\r" in name or "\n" in name or \
            "\0" in name:
        raise StorageError(400, "Object name must be 1-1024 bytes of UTF-8 without CR, LF or "
                           "NUL: %r." % name)
    body = name[:-1] if name.endswith("/") else name
    if any(part in ("", ".", "..") for part in body.split("/")):
        raise StorageError(400, "The simulator keeps objects as files: the name %r has an "
                           "empty, '.' or '..' segment, which a file path cannot hold." % name)
    return os.path.join(root, body)


class Storage:
    def __init__(self, sim):
        self.sim = sim
        self.root = os.path.join(sim.state_dir, "gcs")
        os.makedirs(self.root, exist_ok=True)
        self.buckets = {}   # name -> Bucket resource (server fields included)
        self.meta = {}      # "bucket/name" -> {"contentType", "metadata"}

    # Buckets.

    def bucket_dir(self, name):
        return os.path.join(self.root, name)

    def _bucket(self, name):
        path = self.bucket_dir(name)
        if not bucket_name_ok(name) or not os.path.isdir(path):
            raise StorageError(404, "The specified bucket does not exist.")
        if name not in self.buckets:  # a directory made by hand: defaults
            self.buckets[name] = self._bucket_resource(name, {}, os.stat(path).st_mtime)
        return self.buckets[name]

    def _bucket_resource(self, name, body, created):
        stamp = rfc3339(created)
        out = {"kind": "storage#bucket", "id": name, "name": name,
               "selfLink": "%s/storage/v1/b/%s" % (self._base(), name),
               "projectNumber": "123456789012", "metageneration": "1",
               "location": (body.get("location") or "US").upper(),
               "locationType": body.get("locationType") or "multi-region",
               "storageClass": body.get("storageClass") or "STANDARD",
               "timeCreated": stamp, "updated": stamp, "etag": "CAE="}
        if "location" in body:
            out["locationType"] = "region" if "-" in body["location"] else "multi-region"
        if body.get("labels"):
            out["labels"] = dict(body["labels"])
        return out

    def _base(self):
        return "https://www.googleapis.com"

    def bucket_make(self, name, body=None):
        if not bucket_name_ok(name):
            raise StorageError(400, "Invalid bucket name: '%s'" % name)
        if os.path.isdir(self.bucket_dir(name)):
            raise StorageError(409, "Your previous request to create the named bucket "
                               "succeeded and you already own it.", "conflict")
        os.makedirs(self.bucket_dir(name))
        self.buckets[name] = self._bucket_resource(name, body or {}, time.time())
        self.sim.touch()
        return self.buckets[name]

    def buckets_get(self, req):
        _refuse_unserved(req)
        return 200, _fields(self._bucket(req.match.group("b")), req)

    def buckets_insert(self, req):
        _refuse_unserved(req)
        project = req.param("project")
        if project not in (self.sim.project, "123456789012"):
            raise StorageError(400, "Unknown project id: %s" % project)
        body = req.body or {}
        if not body.get("name"):
            raise StorageError(400, "Required: the bucket's name.", "required")
        return 200, self.bucket_make(body["name"], body)

    # Objects.

    def _object(self, bucket, name, path=None, st=None):
        path = path or object_path(self.bucket_dir(bucket), name)
        st = st or os.stat(path)
        generation = str(st.st_mtime_ns)
        meta = self.meta.get("%s/%s" % (bucket, name), {})
        size = 0 if name.endswith("/") else st.st_size
        out = {"kind": "storage#object", "id": "%s/%s/%s" % (bucket, name, generation),
               "selfLink": "%s/storage/v1/b/%s/o/%s" % (self._base(), bucket, quote(name, "")),
               "mediaLink": "%s/download/storage/v1/b/%s/o/%s?generation=%s&alt=media"
               % (self._base(), bucket, quote(name, ""), generation),
               "name": name, "bucket": bucket, "generation": generation,
               "metageneration": "1", "storageClass": "STANDARD", "size": str(size),
               "contentType": meta.get("contentType") or "application/octet-stream",
               "timeCreated": rfc3339(st.st_mtime), "updated": rfc3339(st.st_mtime),
               "etag": base64.b64encode(generation.encode()).decode()}
        if not name.endswith("/"):
            with open(path, "rb") as f:
                out["md5Hash"] = base64.b64encode(hashlib.md5(f.read()).digest()).decode()
        else:
            out["md5Hash"] = base64.b64encode(hashlib.md5(b"").digest()).decode()
        if meta.get("metadata"):
            out["metadata"] = dict(meta["metadata"])
        return out

    def _exists(self, bucket, name):
        path = object_path(self.bucket_dir(bucket), name)
        return os.path.isdir(path) if name.endswith("/") else os.path.isfile(path)

    def _find(self, bucket, name, generation=None):
        """The file of an object (of that generation, when given)."""
        self._bucket(bucket)
        path = object_path(self.bucket_dir(bucket), name)
        if not self._exists(bucket, name) or \
                (generation and generation != str(os.stat(path).st_mtime_ns)):
            raise StorageError(404, "No such object: %s/%s" % (bucket, name))
        return path

    def objects_insert(self, req):
        bucket = req.match.group("b")
        self._bucket(bucket)
        _refuse_unserved(req)
        kind = req.param("uploadType")
        if not req.path.startswith("/upload/") or kind is None:
            raise StorageError(400, "Upload requests must include an uploadType URL parameter "
                               "and a URL path beginning with /upload/", "wrongUrlForUpload")
        if kind == "media":
            meta, data = {}, req.raw
            ctype = req.headers.get("Content-Type") or "application/octet-stream"
        elif kind == "multipart":
            meta, data, ctype = self._multipart(req)
        else:
            raise StorageError(400, "uploadType=%s is not served by the simulator (it serves "
                               "media and multipart)." % kind)
        name = meta.get("name") or req.param("name")
        if not name:
            raise StorageError(400, "Required parameter: name", "required")
        self._precondition(req, bucket, name)
        path = object_path(self.bucket_dir(bucket), name)
        self._write(path, name, data)
        key = "%s/%s" % (bucket, name)
        self.meta[key] = {"contentType": meta.get("contentType") or ctype}
        if meta.get("metadata"):
            self.meta[key]["metadata"] = dict(meta["metadata"])
        self.sim.touch()
        return 200, _fields(self._object(bucket, name), req)

    def _multipart(self, req):
        ctype = req.headers.get("Content-Type") or ""
        m = re.match(r"multipart/related\s*;.*boundary=(\"[^\"]+\"|'[^']+'|[^;\s]+)", ctype)
        if not m:
            raise StorageError(400, "A multipart upload needs Content-Type multipart/related "
                               "with a boundary; got %r." % ctype)
        parts = _multipart_parts(req.raw, m.group(1).strip("\"'").encode())
        if len(parts) != 2:
            log.warning("multipart upload not understood: Content-Type %r, body %r", ctype,
                        req.raw[:400])
            raise StorageError(400, "A multipart upload has two parts, the metadata and the "
                               "media; got %d." % len(parts))
        try:
            meta = json.loads(parts[0][1] or b"{}")
        except ValueError as exc:
            raise StorageError(400, "The metadata part is not JSON: %s" % exc)
        if not isinstance(meta, dict):
            raise StorageError(400, "The metadata part is not a JSON object.")
        method = self.sim.discovery.method("storage.objects.insert")
        violations, meta = check_body(method, meta)
        if violations:
            raise invalid_argument(violations)
        return meta, parts[1][1], parts[1][0].get("content-type") or "application/octet-stream"

    def _precondition(self, req, bucket, name):
        want = req.param("ifGenerationMatch")
        if want is None:
            return
        have = "0"
        if self._exists(bucket, name):
            have = str(os.stat(object_path(self.bucket_dir(bucket), name)).st_mtime_ns)
        if want != have:
            raise StorageError(412, "At least one of the pre-conditions you specified did not "
                               "hold.", "conditionNotMet")

    def _write(self, path, name, data):
        if name.endswith("/"):
            if os.path.isfile(path):
                raise StorageError(400, "The simulator keeps objects as files: %r is a "
                                   "directory and the object %r exists." % (name, name[:-1]))
            if data:
                raise StorageError(400, "The simulator keeps %r as a directory: it cannot "
                                   "hold %d bytes." % (name, len(data)))
            os.makedirs(path, exist_ok=True)
            os.utime(path)
            return
        if os.path.isdir(path):
            raise StorageError(400, "The simulator keeps objects as files: %r is also the "
                               "directory %r." % (name, name + "/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = os.path.join(os.path.dirname(path), ".gcpsim-upload-%d" % os.getpid())
        with open(tmp, "wb") as f:
            f.write(data or b"")
        os.replace(tmp, path)

    def objects_get(self, req):
        bucket, name = req.match.group("b"), unquote(req.match.group("o"))
        _refuse_unserved(req)
        path = self._find(bucket, name, req.param("generation"))
        if req.param("alt") == "media":
            if name.endswith("/"):
                return 200, Media(b"", self._object(bucket, name)["contentType"])
            with open(path, "rb") as f:
                return 200, Media(f.read(), self._object(bucket, name)["contentType"])
        return 200, _fields(self._object(bucket, name), req)

    def objects_delete(self, req):
        bucket, name = req.match.group("b"), unquote(req.match.group("o"))
        _refuse_unserved(req)
        path = self._find(bucket, name, req.param("generation"))
        self._precondition(req, bucket, name)
        if name.endswith("/"):
            # A directory still holding objects stays (and lists again):
            # gcsfuse's implicit directory.
            try:
                os.rmdir(path)
            except OSError:
                pass
        else:
            os.unlink(path)
        self.meta.pop("%s/%s" % (bucket, name), None)
        self.sim.touch()
        return 204, None

    def objects_list(self, req):
        bucket = req.match.group("b")
        self._bucket(bucket)
        _refuse_unserved(req)
        prefix = req.param("prefix") or ""
        delim = req.param("delimiter") or ""
        start, end = req.param("startOffset"), req.param("endOffset")
        size = int(req.param("maxResults") or 1000)
        if not 0 < size:
            raise StorageError(400, "Invalid value for maxResults: %s" % size)
        size = min(size, 1000)
        entries = []  # (name, is_prefix), in name order
        seen = set()
        for name in self._names(bucket):
            if not name.startswith(prefix) or (start and name < start) or \
                    (end and name >= end):
                continue
            cut = name.find(delim, len(prefix)) if delim else -1
            if cut >= 0:
                sub = name[:cut + len(delim)]
                if sub not in seen:
                    seen.add(sub)
                    entries.append((sub, True))
                continue
            entries.append((name, False))
        entries.sort()
        token = req.param("pageToken")
        if token:
            try:
                if not re.fullmatch(r"[A-Za-z0-9_-]+=*", token):
                    raise ValueError(token)
                after = base64.urlsafe_b64decode(token.encode()).decode()
            except ValueError:
                raise StorageError(400, "Invalid pageToken: pass the nextPageToken of the "
                                   "previous page.")
            entries = [e for e in entries if e[0] > after]
        page, rest = entries[:size], entries[size:]
        out = {"kind": "storage#objects"}
        items = [self._object(bucket, n) for n, is_prefix in page if not is_prefix]
        prefixes = [n for n, is_prefix in page if is_prefix]
        if items:
            out["items"] = items
        if prefixes:
            out["prefixes"] = prefixes
        if rest:
            out["nextPageToken"] = base64.urlsafe_b64encode(page[-1][0].encode()).decode()
        return 200, out

    def _names(self, bucket):
        root = self.bucket_dir(bucket)
        for top, dirs, files in os.walk(root):
            rel = os.path.relpath(top, root)
            base = "" if rel == "." else rel.replace(os.sep, "/") + "/"
            if base:
                yield base
            for f in files:
                if not f.startswith(".gcpsim-upload-"):
                    yield base + f

    # Persistence and start-up.

    def snapshot(self):
        return {"buckets": self.buckets, "meta": self.meta}

    def restore(self, state):
        self.buckets = dict(state.get("buckets") or {})
        self.meta = dict(state.get("meta") or {})


def _multipart_parts(raw, boundary):
    """[(headers dict, lower-case names; body bytes)] of a multipart body
    (CRLF or bare LF line ends, as Google's clients send either; the line
    end before a delimiter belongs to it, RFC 2046)."""
    out = []
    chunks = raw.split(b"--" + boundary)
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            break
        chunk = chunk[2:] if chunk.startswith(b"\r\n") else chunk[1:] if \
            chunk.startswith(b"\n") else chunk
        if chunk.endswith(b"\r\n"):
            chunk = chunk[:-2]
        elif chunk.endswith(b"\n"):
            chunk = chunk[:-1]
        sep = re.search(rb"\r?\n\r?\n", chunk)
        head, body = (chunk[:sep.start()], chunk[sep.end():]) if sep else (b"", chunk)
        if chunk.startswith((b"\r\n", b"\n")):  # no headers at all
            head, body = b"", chunk[2 if chunk.startswith(b"\r\n") else 1:]
        headers = {}
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("content-transfer-encoding", "binary").lower() == "base64":
            body = base64.b64decode(body)
        out.append((headers, body))
    return out


def _refuse_unserved(req):
    for name in UNSERVED:
        if name in req.query:
            raise StorageError(400, "The query parameter %s is not served by the simulator; "
                               "drop it." % name)


def _fields(obj, req):
    """A partial response for a top-level fields=a,b list (nested field
    selections are answered in full)."""
    fields = req.param("fields")
    if not fields or "(" in fields or "/" in fields:
        return obj
    keep = {f.strip() for f in fields.split(",")}
    return {k: v for k, v in obj.items() if k in keep}


def register(sim):
    storage = Storage(sim)
    sim.storage = storage
    o = B + r"/o/(?P<o>[^/]+)"
    routes = [
        ("GET", B, storage.buckets_get, "storage.buckets.get"),
        ("POST", r"/storage/v1/b", storage.buckets_insert, "storage.buckets.insert"),
        ("GET", B + r"/o", storage.objects_list, "storage.objects.list"),
        ("POST", B + r"/o", storage.objects_insert, "storage.objects.insert"),
        ("POST", r"/upload" + B + r"/o", storage.objects_insert, "storage.objects.insert"),
        ("GET", o, storage.objects_get, "storage.objects.get"),
        ("GET", r"/download" + o, storage.objects_get, "storage.objects.get"),
        ("DELETE", o, storage.objects_delete, "storage.objects.delete"),
    ]
    for method, regex, handler, method_id in routes:
        sim.route(method, regex, handler, method_id)
    sim.add_state("storage", storage.snapshot, storage.restore)
    for name in getattr(sim, "buckets_at_start", None) or ():
        if not os.path.isdir(storage.bucket_dir(name)):
            storage.bucket_make(name, {"location": sim.region})
    log.info("Cloud Storage JSON API v1 served (objects under %s)", storage.root)
    return storage

