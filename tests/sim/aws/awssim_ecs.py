"""Amazon ECS on Fargate (JSON 1.1, AmazonEC2ContainerServiceV20141113):
clusters, task definitions and tasks. Each task runs as real containers on
the engine (awssim_tasks.TaskRunner) in its own network namespace on the
simulated VPC (awssim_net), with the private IPv4 address of its elastic
network interface; its security groups are enforced there."""

import copy
import json
import random
import re
import secrets
import threading
import uuid

from awssim_shapes import service_model
from awssim_taskdef import build, fargate_size_problem, parse_cpu, parse_memory
from awssim_tasks import MAX_STOP_TIMEOUT, PAUSE_IMAGE, TaskRunner
from awssim_util import AwsError, now, paginate

TASK_ID = re.compile(r"[0-9a-f]{32}")
CLIENT_TOKEN_LIFETIME = 3600
REAP_INTERVAL = 0.5
PENDING_STATES = ("PROVISIONING", "PENDING", "ACTIVATING")
MAX_OVERRIDES_LENGTH = 8192


def invalid(message):
    return AwsError("InvalidParameterException", message)


def cluster_not_found():
    return AwsError("ClusterNotFoundException", "Cluster not found.")


class AddressPool:
    """Addresses 10.x.1.1-10.x.255.254 of the VPC, one per visible task (10.x.0.*
    holds the gateway and the resolver); an address is reused only after its
    task has expired."""

    FIRST, LAST = (1 << 8) | 1, (255 << 8) | 254

    def __init__(self, prefix):
        self.prefix = prefix
        self._used = set()
        # A random start: an address is rarely handed out again soon.
        self._next = random.randint(self.FIRST, self.LAST)

    def take(self):
        for _ in range(self.LAST - self.FIRST + 1):
            candidate = self._next
            self._next = self.FIRST if candidate >= self.LAST else candidate + 1
            if candidate & 0xFF not in (0, 255) and candidate not in self._used:
                self._used.add(candidate)
                return "%s.%d.%d" % (self.prefix, candidate >> 8, candidate & 0xFF)
        raise AwsError("ServerException", "awssim ran out of task addresses", status=500)

    def mark(self, address):
        _, _, x, y = address.split(".")
        self._used.add((int(x) << 8) | int(y))

    def release(self, address):
        _, _, x, y = address.split(".")
        self._used.discard((int(x) << 8) | int(y))


class Task:
    """One ECS task. wire is what DescribeTasks returns (without tags);
    runner threads change it under the service lock through update()."""

    def __init__(self, lock, wire, definition, overrides, address, tags, groups=()):
        self._lock = lock
        self.wire = wire
        self.arn = wire["taskArn"]
        self.cluster_name, self.id = self.arn.split(":task/", 1)[1].split("/")
        self.definition = definition
        self.overrides = overrides
        self.address = address
        self.tags = tags
        self.groups = list(groups)   # the ENI's security groups
        self.attachment = wire["attachments"][0]
        self.volumes = []
        self.engine_containers = []
        self.stop_requested = threading.Event()
        self.stop_timeout_cap = MAX_STOP_TIMEOUT
        self.runner = None

    def update(self, **fields):
        with self._lock:
            self.wire.update(fields)
            self.wire["version"] += 1

    def touch(self):
        self.update()

    def describe(self, include_tags):
        with self._lock:
            out = copy.deepcopy(self.wire)
            if include_tags:
                out["tags"] = list(self.tags)
        return out

    def snapshot(self):
        return {"wire": self.wire, "definition": self.definition, "overrides": self.overrides,
                "address": self.address, "tags": self.tags, "groups": self.groups}


class EcsService:
    name = "ecs"

    def __init__(self, config, engine, logs, faults, vpc, ec2, efs):
        self.model = service_model("ecs")
        self.vpc = vpc
        self.ec2 = ec2
        self.efs = efs               # EFS volumes' directories (mount_source)
        self.config = config
        self.engine = engine
        self.secrets = None  # SecretsService: repositoryCredentials
        self.logs = logs
        self.faults = faults
        self.lock = threading.RLock()
        self._clusters = {}          # name -> cluster (wire form, tags included)
        self._families = {}          # family -> [task definition], index = revision - 1
        self._definition_tags = {}   # task definition ARN -> tags
        self._tasks = {}             # task id -> Task, in creation order
        self._client_tokens = {}     # RunTask clientToken -> (time, [task id])
        self.running_lag = 0.0       # seconds before RUNNING is reported (/_sim/ecs/running-lag)
        self._pause_lock = threading.Lock()
        self._pause_pulled = False
        self._addresses = AddressPool(vpc.gateway.rsplit(".", 2)[0])
        self._closing = threading.Event()
        self._reaper = threading.Thread(target=self._reap_loop, name="reaper", daemon=True)
        self._reaper.start()
        self.operations = {
            "CreateCluster": self.create_cluster,
            "DescribeClusters": self.describe_clusters,
            "ListClusters": self.list_clusters,
            "DeleteCluster": self.delete_cluster,
            "RegisterTaskDefinition": self.register_task_definition,
            "DescribeTaskDefinition": self.describe_task_definition,
            "DeregisterTaskDefinition": self.deregister_task_definition,
            "ListTaskDefinitions": self.list_task_definitions,
            "RunTask": self.run_task,
            "DescribeTasks": self.describe_tasks,
            "ListTasks": self.list_tasks,
            "StopTask": self.stop_task,
            "TagResource": self.tag_resource,
            "UntagResource": self.untag_resource,
            "ListTagsForResource": self.list_tags_for_resource,
        }

    def _arn(self, resource):
        return "arn:aws:ecs:%s:%s:%s" % (self.config.region, self.config.account, resource)

    # Clusters.

    def _cluster_name(self, ref):
        ref = ref or "default"
        return ref.split(":cluster/", 1)[1] if ref.startswith("arn:") and ":cluster/" in ref else ref

    def _cluster(self, ref):
        """The ACTIVE cluster named or ARN'd by ref (default: "default")."""
        cluster = self._clusters.get(self._cluster_name(ref))
        if cluster is None or cluster["status"] != "ACTIVE":
            raise cluster_not_found()
        return cluster

    def _describe_cluster(self, cluster, include):
        out = copy.deepcopy(cluster)
        mine = [t for t in self._tasks.values() if t.cluster_name == cluster["clusterName"]]
        out["runningTasksCount"] = sum(t.wire["lastStatus"] == "RUNNING" for t in mine)
        out["pendingTasksCount"] = sum(t.wire["lastStatus"] in PENDING_STATES for t in mine)
        if "TAGS" not in include:
            out["tags"] = []
        return out

    def create_cluster(self, params, call):
        name = params.get("clusterName", "default")
        with self.lock:
            cluster = self._clusters.get(name)
            if cluster is None or cluster["status"] != "ACTIVE":
                cluster = self._clusters[name] = {
                    "clusterArn": self._arn("cluster/" + name), "clusterName": name,
                    "status": "ACTIVE", "registeredContainerInstancesCount": 0,
                    "activeServicesCount": 0, "statistics": [],
                    "tags": params.get("tags", []),
                    "settings": params.get("settings",
                                           [{"name": "containerInsights", "value": "disabled"}]),
                    "capacityProviders": params.get("capacityProviders", []),
                    "defaultCapacityProviderStrategy":
                        params.get("defaultCapacityProviderStrategy", []),
                }
            return {"cluster": self._describe_cluster(cluster, ["TAGS"])}

    def describe_clusters(self, params, call):
        include = params.get("include", [])
        clusters, failures = [], []
        with self.lock:
            for ref in params.get("clusters") or ["default"]:
                cluster = self._clusters.get(self._cluster_name(ref))
                if cluster is None:
                    failures.append({"arn": self._arn("cluster/" + self._cluster_name(ref)),
                                     "reason": "MISSING"})
                else:
                    clusters.append(self._describe_cluster(cluster, include))
        return {"clusters": clusters, "failures": failures}

    def list_clusters(self, params, call):
        with self.lock:
            arns = [c["clusterArn"] for _, c in sorted(self._clusters.items())
                    if c["status"] == "ACTIVE"]
        page, token = paginate(arns, params, "maxResults", 100)
        return _with_token({"clusterArns": page}, token)

    def delete_cluster(self, params, call):
        with self.lock:
            cluster = self._cluster(params["cluster"])
            name = cluster["clusterName"]
            if any(t.cluster_name == name and t.wire["lastStatus"] != "STOPPED"
                   for t in self._tasks.values()):
                raise AwsError("ClusterContainsTasksException",
                               "The Cluster cannot be deleted while Tasks are active.")
            cluster["status"] = "INACTIVE"
            return {"cluster": self._describe_cluster(cluster, ["TAGS"])}

    # Task definitions.

    def _find_definition(self, ref):
        """The task definition for "family", "family:revision" or its ARN;
        a bare family means its latest ACTIVE revision. None if unknown."""
        if ref.startswith("arn:"):
            if ":task-definition/" not in ref:
                return None
            ref = ref.split(":task-definition/", 1)[1]
        family, _, revision = ref.partition(":")
        revisions = self._families.get(family, [])
        if revision:
            if not revision.isdigit() or not 1 <= int(revision) <= len(revisions):
                return None
            return revisions[int(revision) - 1]
        active = [d for d in revisions if d["status"] == "ACTIVE"]
        return active[-1] if active else None

    def register_task_definition(self, params, call):
        family = params["family"]
        tags = params.get("tags", [])
        with self.lock:
            revisions = self._families.get(family, [])
            revision = len(revisions) + 1
            arn = self._arn("task-definition/%s:%d" % (family, revision))
            definition = build(params, arn, revision, call.identity.arn)
            self._families[family] = revisions + [definition]
            if tags:
                self._definition_tags[arn] = list(tags)
            return {"taskDefinition": copy.deepcopy(definition), "tags": list(tags)}

    def describe_task_definition(self, params, call):
        with self.lock:
            definition = self._find_definition(params["taskDefinition"])
            if definition is None:
                raise AwsError("ClientException", "Unable to describe task definition.")
            out = {"taskDefinition": copy.deepcopy(definition)}
            if "TAGS" in params.get("include", []):
                out["tags"] = list(self._definition_tags.get(definition["taskDefinitionArn"], []))
            return out

    def deregister_task_definition(self, params, call):
        ref = params["taskDefinition"]
        if ":" not in ref:
            raise AwsError("ClientException", "A task definition revision must be specified.")
        with self.lock:
            definition = self._find_definition(ref)
            if definition is None:
                raise AwsError("ClientException", "The specified task definition does not exist.")
            if definition["status"] == "ACTIVE":
                definition.update(status="INACTIVE", deregisteredAt=now())
            return {"taskDefinition": copy.deepcopy(definition)}

    def list_task_definitions(self, params, call):
        # familyPrefix is, despite its name, the full family name (see the
        # model's documentation of ListTaskDefinitions).
        family = params.get("familyPrefix")
        status = params.get("status", "ACTIVE")
        with self.lock:
            arns = [d["taskDefinitionArn"] for name, revisions in sorted(self._families.items())
                    if family in (None, name) for d in revisions if d["status"] == status]
        if params.get("sort") == "DESC":
            arns.reverse()
        page, token = paginate(arns, params, "maxResults", 100)
        return _with_token({"taskDefinitionArns": page}, token)

    # Tasks.

    def _find_task(self, cluster, ref):
        if not TASK_ID.fullmatch(ref):
            if ":task/" not in ref:
                return None
            parts = ref.split(":task/", 1)[1].split("/")
            if len(parts) == 2 and parts[0] != cluster["clusterName"]:
                return None
            ref = parts[-1]
        task = self._tasks.get(ref)
        return task if task and task.cluster_name == cluster["clusterName"] else None

    def run_task(self, params, call):
        with self.lock:
            cluster = self._cluster(params.get("cluster"))
            definition = self._find_definition(params["taskDefinition"])
        count = params.get("count", 1)
        if not 1 <= count <= 10:
            raise invalid("count must be between 1 and 10.")
        capacity_provider = self._capacity_provider(params, cluster)
        if definition is None:
            raise invalid("TaskDefinition not found.")
        if definition["status"] != "ACTIVE":
            raise invalid("TaskDefinition is inactive")
        if "FARGATE" not in definition["compatibilities"]:
            raise invalid("Task definition does not support launch_type FARGATE.")
        network = (params.get("networkConfiguration") or {}).get("awsvpcConfiguration")
        if network is None:
            raise invalid("Network Configuration must be provided when networkMode 'awsvpc' "
                          "is specified.")
        if not network["subnets"]:
            raise invalid("subnets can not be empty.")
        overrides = params.get("overrides", {})
        size = self._check_overrides(overrides, definition)
        with self.ec2.lock, self.lock:
            groups = self.ec2.check_task_network(network["subnets"],
                                                 network.get("securityGroups") or [])
            replay = self._replay(params.get("clientToken"))
            if replay is not None:
                return replay
            fault = self.faults.take("ecs", "RunTask", kind="failure")
            if fault is not None:
                failure = {"reason": fault.run_task_failure}
                if fault.detail:
                    failure["detail"] = fault.detail
                return {"tasks": [], "failures": [failure]}
            tasks = [self._new_task(definition, cluster, params, size, capacity_provider,
                                    network["subnets"][0], groups) for _ in range(count)]
            for task in tasks:
                self.vpc.eni_add(task.id, groups)
            if params.get("clientToken"):
                self._client_tokens[params["clientToken"]] = (now(), [t.id for t in tasks])
            described = [t.describe(include_tags=True) for t in tasks]
        for task in tasks:
            task.runner = TaskRunner(task, self)
            task.runner.start()
        return {"tasks": described, "failures": []}

    def pull_pause_image(self):
        """The pause containers' image, pulled once per simulator run."""
        with self._pause_lock:
            if not self._pause_pulled:
                self.engine.pull(PAUSE_IMAGE)
                self._pause_pulled = True

    def _capacity_provider(self, params, cluster):
        """The Fargate capacity provider a RunTask uses (None when it names
        launchType FARGATE); anything that is not Fargate has no capacity
        in the simulator."""
        strategy = params.get("capacityProviderStrategy")
        if params.get("launchType") and strategy:
            raise invalid("Specifying both a launch type and capacity provider strategy is not "
                          "supported. Remove one and try again.")
        if params.get("launchType") == "FARGATE":
            return None
        strategy = strategy or (None if params.get("launchType")
                                else cluster["defaultCapacityProviderStrategy"])
        providers = [s["capacityProvider"] for s in strategy or []]
        if providers and all(p in ("FARGATE", "FARGATE_SPOT") for p in providers):
            return providers[0]
        raise invalid("No Container Instances were found in your cluster.")

    def _check_overrides(self, overrides, definition):
        """Validate RunTask overrides; returns the task's (cpu, memory)."""
        if len(json.dumps(overrides, separators=(",", ":"))) > MAX_OVERRIDES_LENGTH:
            raise invalid("Container Overrides length must be at most %d" % MAX_OVERRIDES_LENGTH)
        names = {c["name"] for c in definition["containerDefinitions"]}
        for override in overrides.get("containerOverrides", []):
            if override.get("name") not in names:
                raise invalid("Override for container named %s is not a container in the "
                              "TaskDefinition." % override.get("name"))
        cpu = parse_cpu(overrides.get("cpu", definition["cpu"]))
        memory = parse_memory(overrides.get("memory", definition["memory"]))
        if cpu is None or memory is None:
            raise invalid("Invalid cpu or memory override.")
        problem = fargate_size_problem(cpu, memory)
        if problem:
            raise invalid(problem)
        return str(cpu), str(memory)

    def _replay(self, token):
        """The answer to an earlier RunTask with the same clientToken."""
        entry = self._client_tokens.get(token) if token else None
        if entry is None or entry[0] + CLIENT_TOKEN_LIFETIME < now():
            return None
        tasks = [self._tasks[i].describe(include_tags=True) for i in entry[1] if i in self._tasks]
        return {"tasks": tasks, "failures": []}

    def _new_task(self, definition, cluster, params, size, capacity_provider, subnet, groups):
        task_id = uuid.uuid4().hex
        arn = self._arn("task/%s/%s" % (cluster["clusterName"], task_id))
        address = self._addresses.take()
        attachment_id = str(uuid.uuid4())
        overrides = params.get("overrides", {})
        by_name = {o["name"]: o for o in overrides.get("containerOverrides", [])}
        wire = {
            "attachments": [{
                "id": attachment_id, "type": "ElasticNetworkInterface", "status": "PRECREATED",
                "details": [
                    {"name": "subnetId", "value": subnet},
                    {"name": "networkInterfaceId", "value": "eni-" + secrets.token_hex(9)[:17]},
                    {"name": "macAddress", "value": "0a:" + ":".join(
                        secrets.token_hex(1) for _ in range(5))},
                    {"name": "privateDnsName",
                     "value": "ip-%s.ec2.internal" % address.replace(".", "-")},
                    {"name": "privateIPv4Address", "value": address},
                ]}],
            "attributes": [{"name": "ecs.cpu-architecture", "value": "x86_64"}],
            "availabilityZone": self.config.region + "a",
            "clusterArn": cluster["clusterArn"],
            "containers": [self._new_container(d, arn, cluster, attachment_id, address)
                           for d in definition["containerDefinitions"]],
            "cpu": size[0],
            "memory": size[1],
            "createdAt": now(),
            "desiredStatus": "RUNNING",
            "enableExecuteCommand": params.get("enableExecuteCommand", False),
            "group": params.get("group", "family:" + definition["family"]),
            "healthStatus": "UNKNOWN",
            "lastStatus": "PROVISIONING",
            "launchType": "FARGATE",
            "overrides": dict(overrides, inferenceAcceleratorOverrides=[], containerOverrides=[
                dict(by_name.get(d["name"], {}), name=d["name"])
                for d in definition["containerDefinitions"]]),
            "platformVersion": "1.4.0",
            "platformFamily": "Linux",
            "taskArn": arn,
            "taskDefinitionArn": definition["taskDefinitionArn"],
            "version": 1,
            "ephemeralStorage": {"sizeInGiB": 20},
        }
        if capacity_provider:
            wire["capacityProviderName"] = capacity_provider
        if params.get("startedBy"):
            wire["startedBy"] = params["startedBy"]
        task = Task(self.lock, wire, definition, overrides, address,
                    self._initial_tags(params, definition, cluster), groups)
        self._tasks[task_id] = task
        return task

    def _new_container(self, definition, task_arn, cluster, attachment_id, address):
        task_id = task_arn.rsplit("/", 1)[1]
        container = {
            "containerArn": self._arn("container/%s/%s/%s" % (
                cluster["clusterName"], task_id, uuid.uuid4())),
            "taskArn": task_arn,
            "name": definition["name"],
            "image": definition["image"],
            "lastStatus": "PENDING",
            "networkBindings": [],
            "networkInterfaces": [{"attachmentId": attachment_id,
                                   "privateIpv4Address": address}],
            "healthStatus": "UNKNOWN",
            "cpu": str(definition.get("cpu", 0)),
        }
        for key in ("memory", "memoryReservation"):
            if key in definition:
                container[key] = str(definition[key])
        return container

    def _initial_tags(self, params, definition, cluster):
        tags = list(params.get("tags", []))
        propagate = params.get("propagateTags")
        if propagate == "TASK_DEFINITION":
            tags += self._definition_tags.get(definition["taskDefinitionArn"], [])
        if params.get("enableECSManagedTags"):
            tags.append({"key": "aws:ecs:clusterName", "value": cluster["clusterName"]})
        return tags

    def describe_tasks(self, params, call):
        refs = params["tasks"]
        if not refs:
            raise invalid("Tasks cannot be empty.")
        if len(refs) > 100:
            raise invalid("Tasks cannot have more than 100 elements.")
        include_tags = "TAGS" in params.get("include", [])
        tasks, failures = [], []
        with self.lock:
            cluster = self._cluster(params.get("cluster"))
            for ref in refs:
                task = self._find_task(cluster, ref)
                if task is None:
                    failures.append({"arn": ref, "reason": "MISSING"})
                else:
                    tasks.append(task.describe(include_tags))
        return {"tasks": tasks, "failures": failures}

    def list_tasks(self, params, call):
        if params.get("serviceName"):
            raise AwsError("ServiceNotFoundException", "Service not found.")
        if not 1 <= params.get("maxResults", 100) <= 100:
            raise invalid("maxResults must be between 1 and 100.")
        desired = params.get("desiredStatus", "RUNNING")
        family = params.get("family")
        started_by = params.get("startedBy")
        launch_type = params.get("launchType")
        with self.lock:
            cluster = self._cluster(params.get("cluster"))
            arns = [t.arn for t in self._tasks.values()
                    if t.cluster_name == cluster["clusterName"]
                    and t.wire["desiredStatus"] == desired
                    and family in (None, t.definition["family"])
                    and started_by in (None, t.wire.get("startedBy"))
                    and launch_type in (None, t.wire["launchType"])
                    and not params.get("containerInstance")]
        page, token = paginate(arns, params, "maxResults", 100)
        return _with_token({"taskArns": page}, token)

    def stop_task(self, params, call):
        with self.lock:
            cluster = self._cluster(params.get("cluster"))
            task = self._find_task(cluster, params["task"])
            if task is None:
                raise invalid("The referenced task was not found.")
            if task.wire["desiredStatus"] != "STOPPED":
                self._request_stop(task, params.get("reason", "Task stopped by user"))
            return {"task": task.describe(include_tags=False)}

    def _request_stop(self, task, reason):
        # StopTask deletes the task's tags (see the model's StopTask doc).
        task.tags = []
        task.update(desiredStatus="STOPPED", stopCode="UserInitiated", stoppedReason=reason,
                    stoppingAt=now())
        task.stop_requested.set()

    # Tags.

    def _tags_of(self, arn, missing):
        """The stored tag list (mutable) of a cluster, task or task
        definition ARN; missing builds the error for an unknown one."""
        prefix = self._arn("")
        kind, _, rest = arn[len(prefix):].partition("/") if arn.startswith(prefix) else ("", "", "")
        if kind == "cluster":
            cluster = self._clusters.get(rest)
            if cluster is None or cluster["status"] != "ACTIVE":
                raise cluster_not_found()
            return cluster["tags"]
        if kind == "task":
            cluster_name, _, task_id = rest.partition("/")
            task = self._tasks.get(task_id)
            if task is not None and task.cluster_name == cluster_name:
                return task.tags
        if kind == "task-definition" and self._find_definition(arn) is not None:
            return self._definition_tags.setdefault(arn, [])
        raise missing

    def tag_resource(self, params, call):
        with self.lock:
            tags = self._tags_of(params["resourceArn"], AwsError(
                "ResourceNotFoundException", "The specified resource could not be found."))
            added = {t["key"]: t for t in params["tags"]}
            tags[:] = [t for t in tags if t["key"] not in added] + list(added.values())
        return {}

    def untag_resource(self, params, call):
        with self.lock:
            tags = self._tags_of(params["resourceArn"], AwsError(
                "ResourceNotFoundException", "The specified resource could not be found."))
            tags[:] = [t for t in tags if t["key"] not in params["tagKeys"]]
        return {}

    def list_tags_for_resource(self, params, call):
        with self.lock:
            tags = self._tags_of(params["resourceArn"],
                                 invalid("The specified resource could not be found."))
            return {"tags": list(tags)}

    # Expiry, shutdown and persistence.

    def _reap_loop(self):
        while not self._closing.wait(REAP_INTERVAL):
            self.reap()

    def reap(self):
        """Forget tasks stopped longer than --stopped-task-ttl ago and remove
        what they left on the engine."""
        expired = []
        deadline = now() - self.config.stopped_task_ttl
        with self.lock:
            for task_id, task in list(self._tasks.items()):
                if task.wire["lastStatus"] == "STOPPED" and task.wire["stoppedAt"] <= deadline:
                    expired.append(self._tasks.pop(task_id))
                    self._addresses.release(task.address)
            old = now() - CLIENT_TOKEN_LIFETIME
            self._client_tokens = {k: v for k, v in self._client_tokens.items() if v[0] > old}
        for task in expired:
            self._remove_from_engine(task)

    def _remove_from_engine(self, task):
        for container_id in task.engine_containers:
            self.engine.remove(container_id)
        for volume in task.volumes:
            self.engine.remove_volume(volume)

    def close(self, stop_timeout):
        """Stop every task (SIGKILL after at most stop_timeout seconds) and
        remove everything the simulator created on the engine."""
        self._closing.set()
        with self.lock:
            tasks = list(self._tasks.values())
            for task in tasks:
                task.stop_timeout_cap = stop_timeout
                if task.wire["desiredStatus"] != "STOPPED":
                    self._request_stop(task, "Simulator shut down")
        for task in tasks:
            if task.runner is not None:
                task.runner.join()
        for task in tasks:
            self._remove_from_engine(task)

    def snapshot(self):
        with self.lock:
            # A deep copy: runner threads keep changing the live objects.
            return copy.deepcopy({
                "clusters": self._clusters, "families": self._families,
                "definitionTags": self._definition_tags,
                "clientTokens": self._client_tokens,
                "tasks": [t.snapshot() for t in self._tasks.values()]})

    def restore(self, state):
        """Load a snapshot. Tasks that were not STOPPED when it was taken
        lost their containers with the simulator (a crash): they come back
        STOPPED."""
        with self.lock:
            self._clusters = state.get("clusters", {})
            self._families = state.get("families", {})
            self._definition_tags = state.get("definitionTags", {})
            self._client_tokens = {k: tuple(v) for k, v in state.get("clientTokens", {}).items()}
            for item in state.get("tasks", []):
                task = Task(self.lock, item["wire"], item["definition"], item["overrides"],
                            item["address"], item["tags"], item.get("groups", ()))
                if task.wire["lastStatus"] != "STOPPED":
                    stamp = now()
                    task.wire.setdefault("stopCode", "EssentialContainerExited"
                                         if "startedAt" in task.wire else "TaskFailedToStart")
                    task.wire.setdefault("stoppedReason",
                                         "awssim restarted while the task was running")
                    task.wire.setdefault("stoppingAt", stamp)
                    task.wire.update(desiredStatus="STOPPED", lastStatus="STOPPED",
                                     executionStoppedAt=stamp, stoppedAt=stamp)
                    task.attachment["status"] = "DELETED"
                    for c in task.wire["containers"]:
                        c["lastStatus"] = "STOPPED"
                self._tasks[task.id] = task
                self._addresses.mark(task.address)


def _with_token(out, token):
    if token:
        out["nextToken"] = token
    return out
