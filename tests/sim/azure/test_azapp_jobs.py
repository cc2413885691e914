"""Microsoft.App on the simulator without containers running: the
pre-made environment, getAuthToken, storages, jobs (create as an LRO,
get, update, list with paging, listSecrets, delete) and the service's
refusals."""

import pytest

from azapp_testlib import BASE, ENV_ID, HttpError, appsim, container  # noqa: F401

ENV = BASE + "/managedEnvironments/sockerless-env"


def test_premade_environment(appsim):
    env = appsim.get(ENV)
    assert env["id"] == ENV_ID
    props = env["properties"]
    assert props["provisioningState"] == "Succeeded"
    assert props["appLogsConfiguration"]["destination"] == "log-analytics"
    assert props["appLogsConfiguration"]["logAnalyticsConfiguration"]["customerId"]
    assert props["eventStreamEndpoint"].startswith(appsim.endpoint + "/subscriptions/")
    assert props["defaultDomain"].endswith(".azurecontainerapps.io")
    listed = appsim.get(BASE + "/managedEnvironments")
    assert ENV_ID in [e["id"] for e in listed["value"]]


def test_environment_create_is_async(appsim):
    status, env, headers = appsim.arm("PUT", BASE + "/managedEnvironments/other-env", {
        "location": "westeurope", "properties": {"appLogsConfiguration": {
            "destination": "azure-monitor"}}})
    assert status == 201 and headers["Azure-AsyncOperation"]
    assert appsim.poll(headers)["status"] == "Succeeded"
    got = appsim.get(BASE + "/managedEnvironments/other-env")
    assert got["properties"]["provisioningState"] == "Succeeded"


def test_auth_token(appsim):
    _, token, _ = appsim.arm("POST", ENV + "/getAuthtoken")
    assert token["properties"]["token"] and token["properties"]["expires"]


def test_storage_lifecycle_and_key_never_echoed(appsim):
    body = {"properties": {"azureFile": {"accountName": "acct", "accountKey": "s3cret==",
                                         "shareName": "share1", "accessMode": "ReadWrite"}}}
    status, created, _ = appsim.arm("PUT", ENV + "/storages/st1", body)
    assert status in (200, 201)
    assert "accountKey" not in created["properties"]["azureFile"]
    got = appsim.get(ENV + "/storages/st1")
    assert got["properties"]["azureFile"]["shareName"] == "share1"
    assert "accountKey" not in got["properties"]["azureFile"]
    assert "s3cret" not in str(appsim.get(ENV + "/storages"))
    appsim.arm("DELETE", ENV + "/storages/st1")
    with pytest.raises(HttpError) as err:
        appsim.get(ENV + "/storages/st1")
    assert err.value.status == 404


def test_job_create_get_update_delete(appsim):
    status, job, headers = appsim.arm("PUT", BASE + "/jobs/crud-job", {
        "location": "westeurope", "tags": {"sockerless-id": "abc"}, "properties": {
            "environmentId": ENV_ID, "configuration": {
                "triggerType": "Manual", "replicaTimeout": 60,
                "secrets": [{"name": "pw", "value": "hunter2"}]},
            "template": {"containers": [container(env=[{"name": "PW", "secretRef": "pw"}])]}}})
    assert status == 201
    assert job["properties"]["provisioningState"] == "InProgress"
    assert appsim.poll(headers)["status"] == "Succeeded"
    got = appsim.get(BASE + "/jobs/crud-job")
    assert got["properties"]["provisioningState"] == "Succeeded"
    assert got["properties"]["eventStreamEndpoint"]
    assert got["properties"]["configuration"]["manualTriggerConfig"] == {
        "replicaCompletionCount": 1, "parallelism": 1}
    assert "hunter2" not in str(got)
    _, secrets, _ = appsim.arm("POST", BASE + "/jobs/crud-job/listSecrets")
    assert secrets["value"] == [{"name": "pw", "value": "hunter2"}]
    status, _, headers = appsim.arm("PATCH", BASE + "/jobs/crud-job", {
        "tags": {"x": "y"}, "properties": {"configuration": {
            "triggerType": "Manual", "replicaTimeout": 120}}})
    assert status == 202
    updated = appsim.poll(headers)
    assert updated["tags"] == {"x": "y"}
    assert updated["properties"]["configuration"]["replicaTimeout"] == 120
    status, _, headers = appsim.arm("DELETE", BASE + "/jobs/crud-job")
    assert status == 202
    appsim.poll(headers)
    with pytest.raises(HttpError) as err:
        appsim.get(BASE + "/jobs/crud-job")
    assert err.value.status == 404
    assert appsim.arm("DELETE", BASE + "/jobs/crud-job")[0] == 204


def test_list_pages_with_next_link(appsim):
    names = ["page-job-%d" % i for i in range(5)]
    for name in names:
        appsim.create_job(name, [container()])
    seen, url, pages = [], BASE + "/jobs", 0
    while url:
        _, body, _ = appsim.arm("GET", url)
        seen += [j["name"] for j in body["value"]]
        url = body.get("nextLink")
        pages += 1
    assert set(names) <= set(seen)
    assert pages >= 3        # the test simulator pages by 2
    sub = BASE.split("/resourceGroups/")[0] + "/providers/Microsoft.App/jobs"
    seen, url = [], sub
    while url:
        _, body, _ = appsim.arm("GET", url)
        seen += [j["name"] for j in body["value"]]
        url = body.get("nextLink")
    assert set(names) <= set(seen)


@pytest.mark.parametrize("change, code", [
    (lambda c: c["template"]["containers"][0]["resources"].update(cpu=0.5, memory="2Gi"),
     "ContainerAppInvalidResourceTotal"),
    (lambda c: c["template"]["containers"][0].pop("image"), "ContainerAppImageRequired"),
    (lambda c: c["template"].update(volumes=[{"name": "v", "storageType": "AzureFile",
                                              "storageName": "nosuch"}]),
     "ContainerAppInvalidVolume"),
    (lambda c: c["template"]["containers"][0].update(env=[{"name": "1BAD", "value": "x"}]),
     "ContainerAppInvalidEnvVarName"),
    (lambda c: c["template"]["containers"][0].update(env=[{"name": "A", "secretRef": "no"}]),
     "ContainerAppSecretRefNotFound"),
    (lambda c: c["configuration"].update(replicaTimeout=0),
     "ContainerAppJobInvalidReplicaTimeout"),
    (lambda c: c["template"]["containers"][0].update(
        volumeMounts=[{"volumeName": "missing", "mountPath": "/x"}]),
     "ContainerAppVolumeMountInvalid"),
])
def test_refusals(appsim, change, code):
    props = {"environmentId": ENV_ID,
             "configuration": {"triggerType": "Manual", "replicaTimeout": 60},
             "template": {"containers": [container()]}}
    change(props)
    with pytest.raises(HttpError) as err:
        appsim.arm("PUT", BASE + "/jobs/bad-job", {"location": "westeurope",
                                                  "properties": props})
    assert err.value.status == 400
    assert err.value.error["code"] == code, err.value.body
    assert err.value.error["message"]
    with pytest.raises(HttpError):
        appsim.get(BASE + "/jobs/bad-job")


def test_bad_job_name_and_unknown_environment(appsim):
    props = {"environmentId": ENV_ID, "configuration": {"triggerType": "Manual",
                                                        "replicaTimeout": 60},
             "template": {"containers": [container()]}}
    with pytest.raises(HttpError) as err:
        appsim.arm("PUT", BASE + "/jobs/Bad--Name", {"location": "westeurope",
                                                    "properties": props})
    assert err.value.status == 400
    props["environmentId"] = BASE + "/managedEnvironments/nosuch"
    with pytest.raises(HttpError) as err:
        appsim.arm("PUT", BASE + "/jobs/ok-name", {"location": "westeurope",
                                                  "properties": props})
    assert err.value.error["code"] == "ManagedEnvironmentNotFound"


def test_consumption_pairs_accepted(appsim):
    appsim.create_job("pair-job", [container("a", cpu=1.0, memory="1Gi"),
                                  container("b", cpu=0.25, memory="1.5Gi")])
    got = appsim.get(BASE + "/jobs/pair-job")
    assert [c["resources"]["cpu"] for c in got["properties"]["template"]["containers"]] == \
        [1.0, 0.25]


def test_storage_in_use_and_nfs(appsim):
    appsim.arm("PUT", ENV + "/storages/nfs1", {"properties": {"nfsAzureFile": {
        "server": "acct.file.core.windows.net", "shareName": "/acct/nfs1",
        "accessMode": "ReadWrite"}}})
    appsim.create_job("nfs-job", [container(volumeMounts=[{"volumeName": "n",
                                                            "mountPath": "/n"}])],
                      volumes=[{"name": "n", "storageType": "NfsAzureFile",
                                "storageName": "nfs1"}])
    with pytest.raises(HttpError) as err:
        appsim.arm("DELETE", ENV + "/storages/nfs1")
    assert err.value.status == 409
    with pytest.raises(HttpError) as err:
        appsim.arm("PUT", ENV + "/storages/both", {"properties": {}})
    assert err.value.status == 400
    with pytest.raises(HttpError) as err:
        appsim.create_job("wrongtype-job", [container()], volumes=[
            {"name": "n", "storageType": "AzureFile", "storageName": "nfs1"}])
    assert err.value.error["code"] == "ContainerAppInvalidVolume"


def test_unknown_workload_profile_refused(appsim):
    props = {"environmentId": ENV_ID, "workloadProfileName": "D4",
             "configuration": {"triggerType": "Manual", "replicaTimeout": 60},
             "template": {"containers": [container()]}}
    with pytest.raises(HttpError) as err:
        appsim.arm("PUT", BASE + "/jobs/wp-job", {"location": "westeurope", "properties": props})
    assert err.value.error["code"] == "WorkloadProfileNotFound"


@pytest.mark.parametrize("props", [
    {},
    {"environmentId": ENV_ID},
    {"environmentId": ENV_ID, "configuration": {"triggerType": "Manual", "replicaTimeout": 60}},
    {"environmentId": ENV_ID, "configuration": {"triggerType": "Manual", "replicaTimeout": 60},
     "template": {"containers": [{}]}},
    {"environmentId": ENV_ID, "configuration": {"triggerType": "Manual", "replicaTimeout": 60},
     "template": {"containers": [{"name": "a", "image": "busybox",
                                  "volumeMounts": [{}], "env": [{}]}]}},
    {"environmentId": ENV_ID, "configuration": {"triggerType": "Manual", "replicaTimeout": 60},
     "template": {"volumes": [{}], "containers": [{"name": "a", "image": "busybox"}]}},
    {"environmentId": ENV_ID, "configuration": {"triggerType": "Schedule", "replicaTimeout": 60,
                                                "scheduleTriggerConfig": {"cronExpression":
                                                                          "* * * * *"}},
     "template": {"containers": [{"name": "a", "image": "busybox"}]}},
    {"environmentId": ENV_ID, "configuration": {"triggerType": "Manual", "replicaTimeout": 60,
                                                "secrets": [{"name": "s"}]},
     "template": {"containers": [{"name": "a", "image": "busybox",
                                  "resources": {"cpu": 0.25, "memory": "lots"}}]}},
])
def test_odd_bodies_get_a_clear_400(appsim, props):
    with pytest.raises(HttpError) as err:
        appsim.arm("PUT", BASE + "/jobs/odd-job", {"location": "westeurope",
                                                   "properties": props})
    assert err.value.status == 400, err.value.body
    assert err.value.error["message"]


def test_odd_start_bodies_get_a_clear_400(appsim):
    appsim.create_job("oddstart-job", [container(), container("second", cpu=0.25,
                                                               memory="0.5Gi")])
    for body in ({"containers": [{"image": "busybox"}]},
                 {"containers": [{"name": "main", "resources": {"cpu": 0.3,
                                                                "memory": "0.5Gi"}}]},
                 {"initContainers": [{"name": "main"}]}):
        with pytest.raises(HttpError) as err:
            appsim.arm("POST", BASE + "/jobs/oddstart-job/start", body)
        assert err.value.status == 400, err.value.body
    assert appsim.get(BASE + "/jobs/oddstart-job/executions")["value"] == []
