"""Requests are checked against the vendored discovery documents: unknown
fields, wrong types, bad enums and durations are 400 INVALID_ARGUMENT in
Google's words with a BadRequest detail; good bodies of the calls the
service modules take pass the check."""

import hashlib
import os

from gcpsim_discovery import Discovery, check_body, check_query

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = "/work/shared/specs/gcp"
PARENT = "projects/sockerless-local/locations/us-central1"

# CLOUD-WIRE.md 2.4: the jobs.create body of a docker create.
JOB = {"template": {"taskCount": 1, "parallelism": 1, "template": {
    "containers": [{"image": "us-central1-docker.pkg.dev/p/r/alpine:3", "command": ["sh"],
                    "args": ["-c", "exit 3"], "env": [{"name": "A", "value": "1"}],
                    "resources": {"limits": {"cpu": "1", "memory": "512Mi"}},
                    "workingDir": "/w"}],
    "maxRetries": 0, "timeout": "3600s", "serviceAccount": "sa@p.iam.gserviceaccount.com"}},
    "labels": {"sockerless-id": "abc"}}

DISCOVERY = Discovery()


def body_check(method_id, body):
    return check_body(DISCOVERY.method(method_id), body)


def test_specs_are_byte_exact_copies():
    with open(os.path.join(HERE, "specs", "SOURCES.md")) as f:
        sources = f.read()
    for name in sorted(os.listdir(os.path.join(HERE, "specs"))):
        if not name.endswith(".json"):
            continue
        with open(os.path.join(HERE, "specs", name), "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        assert digest in sources, name
        if os.path.exists(os.path.join(SHARED, name)):
            with open(os.path.join(SHARED, name), "rb") as f:
                assert hashlib.sha256(f.read()).hexdigest() == digest, name


def test_good_bodies_pass():
    assert body_check("run.projects.locations.jobs.create", JOB)[0] == []
    run = {"overrides": {"containerOverrides": [{"args": ["x"], "env": [{"name": "A",
                                                                          "value": "b"}]}],
                         "taskCount": 1, "timeout": "1.5s"}}
    assert body_check("run.projects.locations.jobs.run", run)[0] == []
    assert body_check("run.projects.locations.operations.wait", {"timeout": "60s"})[0] == []
    listing = {"resourceNames": ["projects/p"], "filter": "x=1", "orderBy": "timestamp asc",
               "pageSize": 1000}
    assert body_check("logging.entries.list", listing)[0] == []
    fn = {"buildConfig": {"runtime": "go122", "entryPoint": "F", "source": {
        "storageSource": {"bucket": "b", "object": "o", "generation": "12"}}},
        "serviceConfig": {"timeoutSeconds": 3600, "availableMemory": "512M"}}
    assert body_check("cloudfunctions.projects.locations.functions.create", fn)[0] == []


def test_int64_as_string_or_number():
    fn = {"buildConfig": {"source": {"storageSource": {"generation": 12}}}}
    assert body_check("cloudfunctions.projects.locations.functions.create", fn)[0] == []
    fn["buildConfig"]["source"]["storageSource"]["generation"] = "12x"
    problems = body_check("cloudfunctions.projects.locations.functions.create", fn)[0]
    assert problems and "TYPE_INT64" in problems[0].description


def test_read_only_fields_are_dropped():
    job = dict(JOB, createTime="2026-01-01T00:00:00Z", uid="u", etag="e")
    problems, cleaned = body_check("run.projects.locations.jobs.create", job)
    assert problems == []
    assert "createTime" not in cleaned and "uid" not in cleaned
    assert cleaned["template"]["template"]["maxRetries"] == 0


def test_query_checks():
    method = DISCOVERY.method("run.projects.locations.jobs.create")
    assert check_query(method, {"jobId": ["j1"], "alt": ["json"]}) == []
    bad = check_query(method, {"jobid": ["j1"]})
    assert "Unknown name \"jobid\"" in bad[0].description
    bad = check_query(method, {"validateOnly": ["maybe"]})
    assert "TYPE_BOOL" in bad[0].description
    bad = check_query(method, {"jobId": ["a", "b"]})
    assert "not repeated" in bad[0].description


def test_unknown_field_over_the_wire(sim):
    job = {"template": {"template": {"containers": [{"image": "x"}], "x": 1}}}
    resp = sim.call("POST", "/v2/entries:list", {"resourceNames": ["projects/sockerless-local"],
                                                 "filterr": "x"})
    err = resp.json()["error"]
    assert resp.status == 400 and err["status"] == "INVALID_ARGUMENT"
    assert err["message"] == 'Invalid JSON payload received. Unknown name "filterr": ' \
        "Cannot find field."
    assert err["details"][0]["@type"] == "type.googleapis.com/google.rpc.BadRequest"
    problems = body_check("run.projects.locations.jobs.create", job)[0]
    assert problems[0].description == 'Invalid JSON payload received. Unknown name "x" at ' \
        "'job.template.template': Cannot find field."


def test_wrong_type_and_enum_and_duration():
    job = {"template": {"taskCount": "many", "template": {"timeout": "10m",
                                                          "executionEnvironment": "GEN9"}},
           "labels": {"a": 3}}
    problems = body_check("run.projects.locations.jobs.create", job)[0]
    text = "\n".join(p.description for p in problems)
    assert "Invalid value at 'job.template.task_count' (TYPE_INT32), \"many\"" in text
    assert "'job.template.template.timeout'" in text and "600s" in text
    assert "'job.template.template.execution_environment' (TYPE_ENUM), \"GEN9\"" in text
    assert "'job.labels[a]' (TYPE_STRING), 3" in text
    assert body_check("run.projects.locations.jobs.create", {"template": []})[0]


def test_bad_json_and_wrong_verb(sim):
    resp = sim.call("POST", "/v2/entries:list", b"{not json",
                    headers={"Content-Type": "application/json"})
    assert resp.status == 400 and resp.json()["error"]["status"] == "INVALID_ARGUMENT"
    resp = sim.call("GET", "/v2/entries:list")
    assert resp.status == 404 and resp.json()["error"]["status"] == "NOT_FOUND"
    resp = sim.call("GET", "/v2/nothing/here")
    assert resp.status == 404
