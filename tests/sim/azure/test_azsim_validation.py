"""Requests checked against the vendored specs before a handler runs: a
good jobs PUT (CLOUD-WIRE.md 3.5's body, on the 2025-07-01 schema) and
each kind of mistake (unknown property, wrong type, bad enum, a missing
required property, api-version missing or unknown, a path parameter
against its pattern), readOnly properties dropped and x-ms-secret ones
never echoed."""

from conftest import API, LOCATION, SUBSCRIPTION


def good_job(sim):
    env_id = "/subscriptions/%s/resourceGroups/sockerless/providers/Microsoft.App/" \
        "managedEnvironments/sockerless-env" % SUBSCRIPTION
    return {"location": LOCATION,
            "tags": {"sockerless-id": "0123456789ab"},
            "properties": {
                "environmentId": env_id,
                "configuration": {
                    "triggerType": "Manual", "replicaTimeout": 3600, "replicaRetryLimit": 0,
                    "manualTriggerConfig": {"replicaCompletionCount": 1, "parallelism": 1},
                    "registries": [{"server": "x.azurecr.io", "identity": "system"}],
                    "secrets": [{"name": "agent-key", "value": "s3cret"}]},
                "template": {
                    "initContainers": [{"name": "agent", "image": "x.azurecr.io/agent:1",
                                        "command": ["/agent"], "args": ["install"],
                                        "volumeMounts": [{"volumeName": "sk",
                                                          "mountPath": "/sk"}]}],
                    "containers": [{"name": "main", "image": "x.azurecr.io/busybox:latest",
                                    "command": ["/sk/agent"], "args": ["echo", "hi"],
                                    "env": [{"name": "K", "value": "V"},
                                            {"name": "KEY", "secretRef": "agent-key"}],
                                    "resources": {"cpu": 0.5, "memory": "1Gi"}}],
                    "volumes": [{"name": "sk", "storageType": "EmptyDir"}]}}}


def put(sim, body, name="validjob", **kw):
    return sim.call("PUT", sim.arm_path("jobs/" + name), body, **kw)


def error(resp):
    return resp.json()["error"]


def test_good_jobs_put_is_accepted_and_secrets_are_not_echoed(azsim_base):
    resp = put(azsim_base, good_job(azsim_base))
    assert resp.status in (200, 201), resp.body
    assert resp.headers["Azure-AsyncOperation"].startswith(azsim_base.url)
    job = resp.json()
    assert job["properties"]["configuration"]["secrets"] == [{"name": "agent-key"}]
    got = azsim_base.call("GET", azsim_base.arm_path("jobs/validjob"))
    assert got.status == 200
    assert "value" not in got.json()["properties"]["configuration"]["secrets"][0]
    assert got.json()["properties"]["template"]["containers"][0]["resources"]["cpu"] == 0.5


def test_unknown_property_names_its_json_path(azsim_base):
    body = good_job(azsim_base)
    body["properties"]["template"]["containers"][0]["entrypoint"] = ["/bin/sh"]
    resp = put(azsim_base, body)
    assert resp.status == 400
    err = error(resp)
    assert err["code"] == "InvalidRequestContent"
    assert err["target"] == "properties.template.containers[0].entrypoint"
    assert "properties.template.containers[0].entrypoint" in err["message"]
    assert err["details"][0]["target"] == err["target"]


def test_wrong_types(azsim_base):
    body = good_job(azsim_base)
    body["properties"]["configuration"]["replicaTimeout"] = "3600"
    body["properties"]["template"]["containers"][0]["resources"]["cpu"] = True
    body["properties"]["template"]["containers"][0]["args"] = "echo hi"
    resp = put(azsim_base, body)
    assert resp.status == 400
    targets = {d["target"] for d in error(resp)["details"]}
    assert targets == {"properties.configuration.replicaTimeout",
                       "properties.template.containers[0].resources.cpu",
                       "properties.template.containers[0].args"}


def test_integer_format_range(azsim_base):
    body = good_job(azsim_base)
    body["properties"]["configuration"]["replicaTimeout"] = 2 ** 31
    resp = put(azsim_base, body)
    assert resp.status == 400
    assert error(resp)["target"] == "properties.configuration.replicaTimeout"


def test_bad_enum_even_when_model_as_string(azsim_base):
    body = good_job(azsim_base)
    body["properties"]["configuration"]["triggerType"] = "manual"
    resp = put(azsim_base, body)
    assert resp.status == 400
    err = error(resp)
    assert err["target"] == "properties.configuration.triggerType"
    assert "Manual" in err["message"]


def test_missing_required_property(azsim_base):
    body = good_job(azsim_base)
    del body["properties"]["configuration"]["replicaTimeout"]
    del body["location"]
    resp = put(azsim_base, body)
    assert resp.status == 400
    targets = {d["target"] for d in error(resp)["details"]}
    assert targets == {"location", "properties.configuration.replicaTimeout"}


def test_missing_body(azsim_base):
    resp = azsim_base.call("PUT", azsim_base.arm_path("jobs/nobody"))
    assert resp.status == 400
    assert error(resp)["code"] == "InvalidRequestContent"


def test_read_only_properties_are_accepted_and_dropped(azsim_base):
    body = good_job(azsim_base)
    body["properties"]["provisioningState"] = "Failed"
    body["properties"]["eventStreamEndpoint"] = "https://example.invalid/"
    body["id"] = "/bogus"
    resp = put(azsim_base, body, name="readonlyjob")
    assert resp.status in (200, 201), resp.body
    job = resp.json()
    assert job["properties"]["provisioningState"] == "Succeeded"  # the handler's, not ours
    assert "eventStreamEndpoint" not in job["properties"]
    assert job["id"].endswith("/jobs/readonlyjob")


def test_api_version_missing(azsim_base):
    resp = azsim_base.call("GET", azsim_base.arm_path("jobs/validjob"), api_version=None)
    assert resp.status == 400
    assert error(resp)["code"] == "MissingApiVersionParameter"


def test_api_version_unknown(azsim_base):
    resp = azsim_base.call("GET", azsim_base.arm_path("jobs/validjob"),
                           api_version="2024-03-01")
    assert resp.status == 400
    err = error(resp)
    assert err["code"] == "NoRegisteredProviderFound"
    assert API in err["message"] and "Microsoft.App/jobs" in err["message"]


def test_api_version_malformed(azsim_base):
    resp = azsim_base.call("GET", azsim_base.arm_path("jobs/validjob"), api_version="latest")
    assert resp.status == 400
    assert error(resp)["code"] == "InvalidApiVersionParameter"


def test_path_parameter_pattern(azsim_base):
    resp = azsim_base.call("GET", azsim_base.arm_path("jobs/bad%20name!"))
    assert resp.status == 400
    err = error(resp)
    assert err["code"] == "InvalidParameter" and err["target"] == "jobName"


def test_invalid_json(azsim_base):
    resp = azsim_base.call("PUT", azsim_base.arm_path("jobs/j"), b"{not json",
                           headers={"Content-Type": "application/json"})
    assert resp.status == 400
    assert error(resp)["code"] == "InvalidRequestContent"


def test_data_plane_body_and_required_query(azsim_base):
    token = azsim_base.token("https://api.loganalytics.io/.default")
    path = "/v1/workspaces/%s/query" % "00000000-0000-0000-0000-000000000001"
    ok = azsim_base.call("POST", path, {"query": "T | take 1", "timespan": "PT1H"}, token=token,
                         api_version=None)
    assert ok.status == 200, ok.body
    bad = azsim_base.call("POST", path, {"query": 5}, token=token, api_version=None)
    assert bad.status == 400
    assert error(bad)["target"] == "query"
    missing = azsim_base.call("POST", path, {"timespan": "PT1H"}, token=token, api_version=None)
    assert missing.status == 400 and error(missing)["target"] == "query"
