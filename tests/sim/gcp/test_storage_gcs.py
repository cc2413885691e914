"""Cloud Storage JSON API v1 on the simulator (gcpsim_storage): buckets,
media and multipart uploads, objects as files under the state directory
(a file written there is an object at once), list with prefix, delimiter
and pages, get (metadata, alt=media, fields), delete, preconditions, and
the refusals in Cloud Storage's own error envelope."""

import json
import os
import uuid
from urllib.parse import quote

from conftest import PROJECT


def _bucket(sim, name=None):
    name = name or "vols-" + uuid.uuid4().hex[:8]
    resp = sim.call("POST", "/storage/v1/b?project=%s" % PROJECT,
                    {"name": name, "location": "us-central1"})
    assert resp.status == 200, resp.body
    return name


def _put(sim, bucket, name, data=b"", ctype="application/octet-stream", query=""):
    return sim.call("POST", "/upload/storage/v1/b/%s/o?uploadType=media&name=%s%s"
                    % (bucket, quote(name, ""), query), data,
                    headers={"Content-Type": ctype})


def _error(resp, status, reason=None):
    assert resp.status == status, resp.body
    err = resp.json()["error"]
    assert err["code"] == status and "status" not in err or reason is None
    if reason:
        assert err["errors"][0]["reason"] == reason, err
    return err


def test_buckets(sim):
    name = _bucket(sim)
    got = sim.call("GET", "/storage/v1/b/%s" % name).json()
    assert got["name"] == name and got["location"] == "US-CENTRAL1"
    assert got["kind"] == "storage#bucket"
    assert sim.call("GET", "/storage/v1/b/%s?fields=name%%2Clocation" % name).json() == {
        "name": name, "location": "US-CENTRAL1"}
    err = _error(sim.call("GET", "/storage/v1/b/nope-%s" % uuid.uuid4().hex[:6]), 404,
                 "notFound")
    assert err["message"] == "The specified bucket does not exist."
    _error(sim.call("POST", "/storage/v1/b?project=%s" % PROJECT, {"name": name}), 409,
           "conflict")
    for bad in ("Upper", "ab", "goog-x", "a/b", "10.0.0.1"):
        _error(sim.call("POST", "/storage/v1/b?project=%s" % PROJECT, {"name": bad}), 400,
               "invalid")
    # The discovery document checks the body: an unknown field.
    resp = sim.call("POST", "/storage/v1/b?project=%s" % PROJECT, {"name": "x-y-z", "nope": 1})
    assert resp.status == 400 and "Unknown name \"nope\"" in resp.json()["error"]["message"]
    assert sim.call("GET", "/storage/v1/b/%s" % name, token="bogus").status == 401


def test_media_upload_is_a_file(sim):
    bucket = _bucket(sim)
    resp = _put(sim, bucket, "v/dir/a.txt", b"hello\n", "text/plain")
    assert resp.status == 200, resp.body
    obj = resp.json()
    assert obj["name"] == "v/dir/a.txt" and obj["size"] == "6"
    assert obj["contentType"] == "text/plain" and obj["bucket"] == bucket
    path = os.path.join(sim.state_dir, "gcs", bucket, "v", "dir", "a.txt")
    with open(path, "rb") as f:
        assert f.read() == b"hello\n"
    enc = quote("v/dir/a.txt", "")
    got = sim.call("GET", "/storage/v1/b/%s/o/%s" % (bucket, enc)).json()
    assert got["generation"] == obj["generation"] and got["md5Hash"]
    media = sim.call("GET", "/storage/v1/b/%s/o/%s?alt=media" % (bucket, enc))
    assert media.body == b"hello\n" and media.headers["Content-Type"] == "text/plain"
    # The directory placeholder of a volume: a zero-byte "v/".
    resp = _put(sim, bucket, "v/")
    assert resp.status == 200 and resp.json()["size"] == "0"
    assert os.path.isdir(os.path.join(sim.state_dir, "gcs", bucket, "v"))
    # What a workload writes through a mount is an object at once.
    with open(os.path.join(sim.state_dir, "gcs", bucket, "v", "w.log"), "w") as f:
        f.write("from a workload")
    names = [o["name"] for o in sim.call(
        "GET", "/storage/v1/b/%s/o?prefix=v%%2F" % bucket).json()["items"]]
    assert names == ["v/", "v/dir/", "v/dir/a.txt", "v/w.log"]


def test_multipart_upload(sim):
    bucket = _bucket(sim)
    meta = {"name": "m/obj.json", "contentType": "application/json",
            "metadata": {"owner": "sockerless"}}
    body = (b"--B\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n" +
            json.dumps(meta).encode() + b"\r\n--B\r\nContent-Type: application/json\r\n\r\n"
            b"{\"a\": 1}\r\n--B--\r\n")
    resp = sim.call("POST", "/upload/storage/v1/b/%s/o?uploadType=multipart" % bucket, body,
                    headers={"Content-Type": "multipart/related; boundary=B"})
    assert resp.status == 200, resp.body
    obj = resp.json()
    assert obj["name"] == "m/obj.json" and obj["metadata"] == {"owner": "sockerless"}
    assert obj["size"] == str(len(b"{\"a\": 1}"))
    # The metadata part is checked against the Object schema.
    bad = body.replace(b"\"metadata\"", b"\"metadatum\"")
    resp = sim.call("POST", "/upload/storage/v1/b/%s/o?uploadType=multipart" % bucket, bad,
                    headers={"Content-Type": "multipart/related; boundary=B"})
    assert resp.status == 400
    assert "Unknown name \"metadatum\"" in resp.json()["error"]["message"]


def test_upload_refusals(sim):
    bucket = _bucket(sim)
    err = _error(sim.call("POST", "/storage/v1/b/%s/o?name=x" % bucket, {}), 400,
                 "wrongUrlForUpload")
    assert "/upload/" in err["message"]
    err = _error(sim.call("POST", "/upload/storage/v1/b/%s/o?uploadType=resumable&name=x"
                          % bucket, b""), 400)
    assert "resumable" in err["message"]
    _error(sim.call("POST", "/upload/storage/v1/b/%s/o?uploadType=media" % bucket, b"x"),
           400, "required")
    for name in ("a//b", "../x", "a/./b"):
        _error(_put(sim, bucket, name, b"x"), 400)
    _error(_put(sim, "nope-%s" % uuid.uuid4().hex[:6], "a", b"x"), 404, "notFound")
    # Options the simulator does not implement are refused, not ignored.
    _error(sim.call("GET", "/storage/v1/b/%s/o?versions=true" % bucket), 400)
    # ifGenerationMatch=0: only when the object does not exist.
    assert _put(sim, bucket, "once", b"1", query="&ifGenerationMatch=0").status == 200
    _error(_put(sim, bucket, "once", b"2", query="&ifGenerationMatch=0"), 412,
           "conditionNotMet")


def test_list_delimiter_and_pages(sim):
    bucket = _bucket(sim)
    for name in ("p/a", "p/b", "p/c/d", "p/c/e", "p/f", "q/z"):
        assert _put(sim, bucket, name, b"x").status == 200
    top = sim.call("GET", "/storage/v1/b/%s/o?prefix=p%%2F&delimiter=%%2F" % bucket).json()
    # "p/" is an object (the directory), "p/c/" a prefix.
    assert [o["name"] for o in top["items"]] == ["p/", "p/a", "p/b", "p/f"]
    assert top["prefixes"] == ["p/c/"]
    seen, token, pages = [], None, 0
    while True:
        query = "prefix=p%%2F&maxResults=2%s" % ("&pageToken=" + token if token else "")
        page = sim.call("GET", "/storage/v1/b/%s/o?%s" % (bucket, query)).json()
        seen += [o["name"] for o in page.get("items", [])]
        pages += 1
        token = page.get("nextPageToken")
        if not token:
            break
    assert seen == ["p/", "p/a", "p/b", "p/c/", "p/c/d", "p/c/e", "p/f"] and pages == 4
    empty = sim.call("GET", "/storage/v1/b/%s/o?prefix=none%%2F" % bucket).json()
    assert empty == {"kind": "storage#objects"}
    _error(sim.call("GET", "/storage/v1/b/%s/o?pageToken=%%25%%25" % bucket), 400)


def test_delete(sim):
    bucket = _bucket(sim)
    _put(sim, bucket, "d/")
    _put(sim, bucket, "d/a", b"x")
    enc = quote("d/a", "")
    resp = sim.call("DELETE", "/storage/v1/b/%s/o/%s" % (bucket, enc))
    assert resp.status == 204 and resp.body == b""
    _error(sim.call("DELETE", "/storage/v1/b/%s/o/%s" % (bucket, enc)), 404, "notFound")
    assert sim.call("DELETE", "/storage/v1/b/%s/o/d%%2F" % bucket).status == 204
    assert "items" not in sim.call("GET", "/storage/v1/b/%s/o" % bucket).json()
    calls = sim.get("/_sim/calls").json()
    assert calls["storage.objects.delete"] >= 3


def test_bucket_at_start(fresh_sim):
    s = fresh_sim("--bucket", "start-vols")
    got = s.call("GET", "/storage/v1/b/start-vols").json()
    assert got["location"] == "US-CENTRAL1"
    assert _put(s, "start-vols", "k", b"kept").status == 200
    s.stop()
    s.start()
    assert s.call("GET", "/storage/v1/b/start-vols/o/k?alt=media").body == b"kept"


def test_google_client_wire(sim):
    """What gcloud sends (found by test_storage_gcloud): a multipart body
    with bare LF line ends and a single-quoted boundary, booleans spelled
    "True", and the media download path with a generation."""
    bucket = _bucket(sim)
    body = (b"--==b==\nContent-Type: application/json\nMIME-Version: 1.0\n\n"
            b'{"bucket": "%s", "name": "g/f.txt", "contentType": "text/plain"}\n'
            b"--==b==\nContent-Type: text/plain\nContent-Transfer-Encoding: binary\n\n"
            b"hi\n\n--==b==--\n" % bucket.encode())
    resp = sim.call("POST", "/upload/storage/v1/b/%s/o?alt=json&uploadType=multipart" % bucket,
                    body, headers={"Content-Type": "multipart/related; boundary='==b=='"})
    assert resp.status == 200, resp.body
    obj = resp.json()
    assert obj["size"] == "3" and obj["contentType"] == "text/plain"
    listing = sim.call("GET", "/storage/v1/b/%s/o?prefix=g%%2F&includeFoldersAsPrefixes=True"
                       % bucket)
    assert listing.status == 200, listing.body
    media = sim.call("GET", "/download/storage/v1/b/%s/o/g%%2Ff.txt?generation=%s&alt=media"
                     % (bucket, obj["generation"]))
    assert media.status == 200 and media.body == b"hi\n"
    stale = sim.call("GET", "/download/storage/v1/b/%s/o/g%%2Ff.txt?generation=1&alt=media"
                     % bucket)
    assert stale.status == 404
    assert obj["timeCreated"].endswith("Z") and len(obj["timeCreated"]) == 24  # ms
