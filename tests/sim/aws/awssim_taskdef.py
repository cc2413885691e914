"""ECS task definitions: the checks RegisterTaskDefinition makes beyond the
model (container names, dependencies, volumes, Fargate's rules and sizes)
and the normalised form DescribeTaskDefinition returns."""

import re

from awssim_util import AwsError, now

# Fargate's task sizes: cpu units -> the memory values (MiB) allowed with it.
FARGATE_SIZES = {
    256: [512, 1024, 2048],
    512: list(range(1024, 4097, 1024)),
    1024: list(range(2048, 8193, 1024)),
    2048: list(range(4096, 16385, 1024)),
    4096: list(range(8192, 30721, 1024)),
    8192: list(range(16384, 61441, 4096)),
    16384: list(range(32768, 122881, 8192)),
}
FAMILY = re.compile(r"[A-Za-z0-9_-]{1,255}")
CONTAINER_NAME = re.compile(r"[A-Za-z0-9_-]{1,255}")
ECR_IMAGE = re.compile(r"^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/")
UNSIMULATED_VOLUMES = ("fsxWindowsFileServerVolumeConfiguration",)
VOLUME_KINDS = ("host", "dockerVolumeConfiguration", "efsVolumeConfiguration",
                "fsxWindowsFileServerVolumeConfiguration")


def client_error(message):
    return AwsError("ClientException", message)


def parse_cpu(text):
    """CPU units from "256" or "0.25 vCPU"; None when malformed."""
    return _parse_size(text, r"(?i)\s*([0-9.]+)\s*vcpu\s*")


def parse_memory(text):
    """MiB from "512" or "0.5 GB"; None when malformed."""
    return _parse_size(text, r"(?i)\s*([0-9.]+)\s*gb\s*")


def _parse_size(text, scaled_form):
    if text.isdigit():
        return int(text)
    match = re.fullmatch(scaled_form, text)
    if match is None:
        return None
    try:
        return int(float(match.group(1)) * 1024)
    except ValueError:
        return None


def fargate_size_problem(cpu, memory):
    if memory not in FARGATE_SIZES.get(cpu, ()):
        return ("No Fargate configuration exists for given values: %s CPU, %s memory. See the "
                "Amazon ECS documentation for the valid values." % (cpu, memory))
    return None


def build(params, arn, revision, registered_by):
    """The stored task definition for a RegisterTaskDefinition request, or
    ClientException for a definition AWS would refuse."""
    family = params["family"]
    if not FAMILY.fullmatch(family):
        raise client_error("Family contains invalid characters. Up to 255 letters (uppercase "
                           "and lowercase), numbers, hyphens, and underscores are allowed.")
    definition = {key: value for key, value in params.items() if key != "tags"}
    definition.update(
        taskDefinitionArn=arn, family=family, revision=revision, status="ACTIVE",
        containerDefinitions=[_container(c) for c in params["containerDefinitions"]],
        volumes=params.get("volumes", []),
        placementConstraints=params.get("placementConstraints", []),
        registeredAt=now(), registeredBy=registered_by)
    for key in ("cpu", "memory"):
        if key in params:
            size = (parse_cpu if key == "cpu" else parse_memory)(params[key])
            if size is None:
                raise client_error("Invalid '%s' setting for task." % key)
            definition[key] = str(size)
    _check_containers(definition)
    _check_volumes(definition)
    fargate = fargate_problems(definition)
    if "FARGATE" in params.get("requiresCompatibilities", []) and fargate:
        raise client_error(fargate[0])
    definition["compatibilities"] = ["EC2"] + ([] if fargate else ["FARGATE"])
    definition["requiresAttributes"] = _required_attributes(definition)
    return definition


def _container(params):
    container = {"cpu": 0, "portMappings": [], "essential": True, "environment": [],
                 "mountPoints": [], "volumesFrom": []}
    container.update(params)
    return container


def _check_containers(definition):
    containers = definition["containerDefinitions"]
    if not containers:
        raise client_error("Container list cannot be empty.")
    names = set()
    for c in containers:
        if not c.get("name"):
            raise client_error("Container.name should not be null or empty.")
        if not CONTAINER_NAME.fullmatch(c["name"]):
            raise client_error("Container.name contains invalid characters.")
        if not c.get("image"):
            raise client_error("Container.image should not be null or empty.")
        if c["name"] in names:
            raise client_error("Container names must be unique in a task definition: %s"
                               % c["name"])
        names.add(c["name"])
    if not any(c["essential"] for c in containers):
        raise client_error("Task definition must have at least one essential container.")
    by_name = {c["name"]: c for c in containers}
    for c in containers:
        for dependency in c.get("dependsOn", []):
            _check_dependency(c, dependency, by_name)


def _check_dependency(container, dependency, by_name):
    target = by_name.get(dependency["containerName"])
    condition = dependency["condition"]
    if target is None or target is container:
        raise client_error("Container %s depends on container %s, which is not defined in the "
                           "task definition." % (container["name"], dependency["containerName"]))
    if condition in ("COMPLETE", "SUCCESS") and target["essential"]:
        raise client_error("Dependency condition %s cannot be set on an essential container: %s"
                           % (condition, target["name"]))
    if condition == "HEALTHY" and "healthCheck" not in target:
        raise client_error("Dependency condition HEALTHY requires a healthCheck on container %s"
                           % target["name"])


def _check_volumes(definition):
    names = set()
    for volume in definition["volumes"]:
        if not volume.get("name"):
            raise client_error("Volume.name should not be null or empty.")
        if volume["name"] in names:
            raise client_error("Volume names must be unique: %s" % volume["name"])
        unsimulated = [k for k in UNSIMULATED_VOLUMES if k in volume]
        if unsimulated:
            raise client_error("awssim does not simulate %s (volume %s)"
                               % (unsimulated[0], volume["name"]))
        kinds = [k for k in VOLUME_KINDS if volume.get(k) is not None]
        if len(kinds) > 1:
            raise client_error("Volume %s can only specify one of host, "
                               "dockerVolumeConfiguration, efsVolumeConfiguration or "
                               "fsxWindowsFileServerVolumeConfiguration." % volume["name"])
        if "efsVolumeConfiguration" in volume:
            _check_efs(volume["efsVolumeConfiguration"])
        names.add(volume["name"])
    for c in definition["containerDefinitions"]:
        for mount in c["mountPoints"]:
            if mount.get("sourceVolume") not in names:
                raise client_error("Unknown volume '%s'." % mount.get("sourceVolume"))
            if not mount.get("containerPath"):
                raise client_error("Container.mountPoints.containerPath should not be null "
                                   "or empty.")


def _check_efs(config):
    """ECS's rules for efsVolumeConfiguration (the model says which
    combinations are allowed; the file system and access point are only
    looked at when a task mounts them)."""
    if not config.get("fileSystemId"):
        raise client_error("EFSVolumeConfiguration.fileSystemId should not be null or empty.")
    encrypted = config.get("transitEncryption", "DISABLED") == "ENABLED"
    authorization = config.get("authorizationConfig") or {}
    if authorization.get("accessPointId"):
        if not encrypted:
            raise client_error("Transit encryption must be enabled when using an EFS access "
                               "point: set transitEncryption to ENABLED.")
        if config.get("rootDirectory") not in (None, "", "/"):
            raise client_error("When using an EFS access point, the root directory must be "
                               "either omitted or set to /: the access point's root "
                               "directory is used.")
    if authorization.get("iam") == "ENABLED" and not encrypted:
        raise client_error("Transit encryption must be enabled when EFS IAM authorization "
                           "is enabled.")
    port = config.get("transitEncryptionPort")
    if port is not None and not 0 < port < 65536:
        raise client_error("transitEncryptionPort must be between 1 and 65535.")
    root = config.get("rootDirectory")
    if root not in (None, "") and (not root.startswith("/") or ".." in root.split("/")):
        raise client_error("EFSVolumeConfiguration.rootDirectory must be an absolute path "
                           "inside the file system (no '..').")


def fargate_problems(definition):
    """Why a task definition cannot run on Fargate, first reason first."""
    problems = []
    if definition.get("networkMode") != "awsvpc":
        problems.append("Fargate only supports network mode 'awsvpc'.")
    for key in ("cpu", "memory"):
        if key not in definition:
            problems.append("Fargate requires that '%s' be defined at the task level." % key)
    if "cpu" in definition and "memory" in definition:
        size = fargate_size_problem(int(definition["cpu"]), int(definition["memory"]))
        if size:
            problems.append(size)
    role = definition.get("executionRoleArn")
    for c in definition["containerDefinitions"]:
        options = _awslogs(c)
        if options is not None and not role:
            problems.append("Fargate requires task definition to have execution role ARN to "
                            "support log driver awslogs.")
        if options is not None and not options.get("awslogs-stream-prefix"):
            problems.append("Fargate requires log configuration option awslogs-stream-prefix "
                            "for log driver awslogs.")
        if c.get("repositoryCredentials") and not role:
            problems.append("Fargate requires task definition to have execution role ARN to "
                            "support private registry authentication.")
        if ECR_IMAGE.match(c["image"]) and not role:
            problems.append("Fargate requires task definition to have execution role ARN to "
                            "support ECR images.")
    for volume in definition["volumes"]:
        if (volume.get("host") or {}).get("sourcePath"):
            problems.append("Fargate does not support host volumes with a sourcePath.")
        if "dockerVolumeConfiguration" in volume:
            problems.append("Fargate does not support dockerVolumeConfiguration.")
    return problems


def _awslogs(container):
    config = container.get("logConfiguration") or {}
    return config.get("options", {}) if config.get("logDriver") == "awslogs" else None


def _required_attributes(definition):
    names = ["com.amazonaws.ecs.capability.docker-remote-api.1.18"]
    containers = definition["containerDefinitions"]
    if definition.get("networkMode") == "awsvpc":
        names.append("ecs.capability.task-eni")
    if any(_awslogs(c) is not None for c in containers):
        names += ["com.amazonaws.ecs.capability.logging-driver.awslogs",
                  "ecs.capability.execution-role-awslogs"]
    if any(c.get("dependsOn") for c in containers):
        names.append("ecs.capability.container-ordering")
    if any("healthCheck" in c for c in containers):
        names.append("ecs.capability.container-health-check")
    return [{"name": n} for n in names]
