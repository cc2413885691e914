"""The life of one ECS task on the engine, as Fargate runs it:
PROVISIONING -> PENDING (logger checks, image pulls, volumes: EFS mounts and
task storage) -> RUNNING -> DEACTIVATING -> STOPPING -> DEPROVISIONING -> STOPPED.

A TaskRunner thread per task starts the containers in dependsOn order,
watches them, copies awslogs output into CloudWatch Logs, and stops the
task when an essential container exits or StopTask asks it to."""

import base64
import json
import logging
import os
import threading
import time
import urllib.error
import urllib.request

import docker.types

import awssim_idmap as idmap
from awssim_efs import MountError
from awssim_engine import LABEL, EngineError
from awssim_util import epoch_ms, now

log = logging.getLogger("awssim")

POLL_SECONDS = 0.2
DEFAULT_STOP_TIMEOUT = 30
MAX_STOP_TIMEOUT = 120      # Fargate's cap on stopTimeout
LOG_FLUSH_WARN_SECONDS = 30  # STOPPED waits for the last log lines; warns past this
PAUSE_IMAGE = "busybox"     # holds a task's network namespace
PAUSE_COMMAND = ["sleep", "2147483647"]
HEALTH = {"starting": "UNKNOWN", "healthy": "HEALTHY", "unhealthy": "UNHEALTHY"}


class StartFailure(Exception):
    """The task cannot start: it stops with stopCode TaskFailedToStart and
    this reason, also given to the containers named."""

    def __init__(self, reason, containers=()):
        super().__init__(reason)
        self.reason = reason
        self.containers = containers


class ContainerRun:
    """One container definition of a task and what the engine did with it.
    wire is the task's containers[] entry, updated in place."""

    def __init__(self, definition, wire, override):
        self.definition = definition
        self.wire = wire
        self.override = override
        self.name = definition["name"]
        self.essential = definition.get("essential", True)
        self.container_id = None
        self.exit_code = None
        self.health = "UNKNOWN"
        self.follower = None
        self.stopped = threading.Event()

    @property
    def started(self):
        return self.container_id is not None

    @property
    def exited(self):
        return self.exit_code is not None


class TaskRunner(threading.Thread):
    def __init__(self, task, ecs):
        super().__init__(name="task-" + task.id[:8], daemon=True)
        self.task = task
        self.ecs = ecs
        overrides = {o["name"]: o for o in task.overrides.get("containerOverrides", [])}
        self.containers = [ContainerRun(d, w, overrides.get(d["name"], {}))
                           for d, w in zip(task.definition["containerDefinitions"],
                                           task.wire["containers"])]
        self.by_name = {c.name: c for c in self.containers}
        self.started_running = False
        self.running_due = None  # when RUNNING is reported (ecs.running_lag)
        self.pause_id = None
        self.efs_dirs = {}           # volume name -> host directory (EFS volumes)
        self.idmapped = []           # staging directories of idmapped mounts

    def run(self):
        try:
            self._prepare()
            stop_code, reason = self._supervise()
        except StartFailure as failure:
            stop_code, reason = "TaskFailedToStart", failure.reason
            with self.ecs.lock:
                for name in failure.containers:
                    self.by_name[name].wire["reason"] = failure.reason
        except Exception as exc:  # a simulator bug must still end the task
            log.exception("task %s failed", self.task.arn)
            stop_code, reason = "TaskFailedToStart", "InternalError: %s" % exc
        self._teardown(stop_code, reason)

    # Starting.

    def _prepare(self):
        task = self.task
        task.update(lastStatus="PENDING", connectivity="CONNECTED", connectivityAt=now())
        task.attachment["status"] = "ATTACHED"
        self._check_loggers()
        if task.stop_requested.is_set():
            return
        task.update(pullStartedAt=now())
        self._pull_images()
        task.update(pullStoppedAt=now())
        self._make_namespace()
        for volume in task.definition.get("volumes", []):
            if "efsVolumeConfiguration" in volume:
                self._mount_efs(volume)
                continue
            name = "awssim-%s-%s" % (task.id, volume["name"])
            self.ecs.engine.create_volume(name, {LABEL: "1", LABEL + ".task": task.arn})
            task.volumes.append(name)

    def _mount_efs(self, volume):
        """The directory of an EFS volume (the access point's root, made on
        first mount), bind-mounted into the containers that mount it."""
        try:
            source, posix = self.ecs.efs.mount_source(volume["efsVolumeConfiguration"])
            if posix is not None and (posix["Uid"], posix["Gid"]) != (0, 0):
                source = self._mount_as(volume["name"], source, posix)
            self.efs_dirs[volume["name"]] = source
        except MountError as exc:
            raise StartFailure(str(exc)) from exc
        except OSError as exc:  # the directory or the idmapped mount could not be made
            raise StartFailure("ResourceInitializationError: failed to invoke EFS utils "
                               "commands to set up EFS volumes: %s" % exc) from exc

    def _mount_as(self, name, source, posix):
        """An idmapped mount of source on which the container's root acts as
        the access point's PosixUser (awssim_idmap); unmounted at teardown."""
        target = os.path.join(self.ecs.efs.mounts_dir, "%s-%s" % (self.task.id, name))
        os.makedirs(target, exist_ok=True)
        self.idmapped.append(target)
        idmap.mount(source, target, posix["Uid"], posix["Gid"])
        return target

    def _mounts(self, definition):
        mounts = []
        for m in definition.get("mountPoints", []):
            source = self.efs_dirs.get(m["sourceVolume"])
            if source is not None:
                mounts.append(docker.types.Mount(m["containerPath"], source, type="bind",
                                                 read_only=bool(m.get("readOnly"))))
            else:
                mounts.append(docker.types.Mount(
                    m["containerPath"], "awssim-%s-%s" % (self.task.id, m["sourceVolume"]),
                    read_only=bool(m.get("readOnly"))))
        return mounts

    def _make_namespace(self):
        """awsvpc: the task's own network namespace (a pause container's,
        named as Fargate names task hosts, using the VPC resolver) with the
        ENI's address on the VPC bridge; the containers join it."""
        task, engine, vpc = self.task, self.ecs.engine, self.ecs.vpc
        try:
            self.ecs.pull_pause_image()
            self.pause_id = engine.start(
                PAUSE_IMAGE, name="awssim-%s-pause" % task.id, command=PAUSE_COMMAND,
                network_mode="none", hostname=vpc.host_name(task.address),
                dns=[vpc.resolver], dns_search=["ec2.internal"],
                labels={LABEL: "1", LABEL + ".task": task.arn, LABEL + ".pause": "1"})
        except EngineError as exc:
            if exc.container_id:
                task.engine_containers.append(exc.container_id)
            raise StartFailure("ResourceInitializationError: failed to set up the task's "
                               "network namespace: %s" % exc) from exc
        task.engine_containers.append(self.pause_id)
        try:
            vpc.plug(task.id, engine.pid(self.pause_id), task.address, task.groups)
        except (RuntimeError, OSError) as exc:
            raise StartFailure("ResourceInitializationError: failed to attach the ENI: %s"
                               % exc) from exc

    def _check_loggers(self):
        logs = self.ecs.logs
        for c in self.containers:
            options = _awslogs_options(c.definition)
            if options is None:
                continue
            group = options.get("awslogs-group", "")
            if options.get("awslogs-create-group") == "true":
                logs.ensure_group(group)
            elif not logs.group_exists(group):
                raise StartFailure(
                    "ResourceInitializationError: failed to validate logger args: create stream "
                    "has been retried 1 times: failed to create Cloudwatch log stream: "
                    "ResourceNotFoundException: The specified log group does not exist. : "
                    "exit status 1")

    def _registry_auth(self, c):
        """repositoryCredentials: the secret the execution role reads
        (Secrets Manager, JSON {"username","password"}), as the ECS agent
        fetches it before the pull."""
        creds = c.definition.get("repositoryCredentials")
        if not creds:
            return None
        arn = creds.get("credentialsParameter", "")
        text = self.ecs.secrets.lookup(arn) if self.ecs.secrets is not None else None
        if text is None:
            raise StartFailure(
                "ResourceInitializationError: unable to pull secrets or registry auth: "
                "execution resource retrieval failed: unable to retrieve secret from asm: "
                "service call has been retried 1 time(s): failed to fetch secret %s from "
                "secrets manager: ResourceNotFoundException: Secrets Manager can't find the "
                "specified secret." % arn, [c.name])
        try:
            doc = json.loads(text)
            auth = {"username": doc["username"], "password": doc["password"]}
        except (ValueError, TypeError, KeyError):
            raise StartFailure(
                "ResourceInitializationError: unable to pull secrets or registry auth: "
                "execution resource retrieval failed: unable to retrieve registry auth: "
                "the secret %s is not JSON with username and password" % arn, [c.name])
        self._check_registry_login(c, auth)
        return auth

    def _check_registry_login(self, c, auth):
        """The engine may hold the image already (a pull by digest then
        never asks the registry): the credentials are tried on the
        registry's /v2/ as the ECS agent's pull would, and a refusal fails
        the task as ECS does."""
        image = c.definition["image"]
        host = image.split("/", 1)[0]
        req = urllib.request.Request("http://%s/v2/" % host)
        token = base64.b64encode(("%s:%s" % (auth["username"], auth["password"])).encode())
        req.add_header("Authorization", "Basic " + token.decode())
        try:
            urllib.request.urlopen(req, timeout=10).close()
        except urllib.error.HTTPError as exc:
            basic = exc.headers.get("WWW-Authenticate", "").lower().startswith("basic")
            if exc.code in (401, 403) and basic:
                raise StartFailure(
                    "CannotPullContainerError: pull image manifest has been retried 1 time(s): "
                    "failed to resolve ref %s: pulling from host %s failed with status code "
                    "[manifests]: %d %s" % (image, host, exc.code,
                                            "Unauthorized" if exc.code == 401 else "Forbidden"),
                    [c.name]) from exc
        except OSError:
            pass  # the pull itself says what is wrong with the registry

    def _pull_images(self):
        digests = {}
        for c in self.containers:
            image = c.definition["image"]
            if image not in digests:
                try:
                    digests[image] = self.ecs.engine.pull(image, self._registry_auth(c))
                except EngineError as exc:
                    raise StartFailure(
                        "CannotPullContainerError: pull image manifest failed: %s" % exc,
                        [o.name for o in self.containers if o.definition["image"] == image]
                    ) from exc
            with self.ecs.lock:
                c.wire["imageDigest"] = digests[image]

    def _supervise(self):
        """Start containers as their dependencies allow and watch them until
        an essential one exits or the task is asked to stop; returns the
        stop code and reason."""
        task = self.task
        while not task.stop_requested.is_set():
            for c in self.containers:
                if not c.started and self._dependencies_met(c):
                    self._start(c)
            if (self.running_due is None
                    and all(c.started for c in self.containers if c.essential)):
                self.running_due = time.time() + self.ecs.running_lag
            if (not self.started_running and self.running_due is not None
                    and time.time() >= self.running_due):
                self.started_running = True
                task.update(lastStatus="RUNNING", startedAt=now())
            self._refresh()
            exited = [c for c in self.containers if c.essential and c.exited]
            if exited:
                return "EssentialContainerExited", "Essential container in task exited"
            task.stop_requested.wait(POLL_SECONDS)
        return "UserInitiated", task.wire.get("stoppedReason", "Task stopped by user")

    def _dependencies_met(self, c):
        """Whether c may start now; StartFailure when it never can."""
        for dependency in c.definition.get("dependsOn", []):
            other = self.by_name[dependency["containerName"]]
            condition = dependency["condition"]
            if condition == "START":
                met, failed = other.started, False
            elif condition == "COMPLETE":
                met, failed = other.exited, False
            elif condition == "SUCCESS":
                met, failed = other.exit_code == 0, other.exited and other.exit_code != 0
            else:  # HEALTHY
                met = other.health == "HEALTHY"
                failed = not met and (other.exited or other.health == "UNHEALTHY")
            if failed:
                raise StartFailure(
                    "DependencyConditionNotSatisfied: container %s requires %s to reach %s, "
                    "which it did not (exit code %s, health %s)"
                    % (c.name, other.name, condition, other.exit_code, other.health), [c.name])
            if not met:
                return False
        return True

    def _start(self, c):
        definition = c.definition
        options = {
            "name": "awssim-%s-%s" % (self.task.id, c.name),
            "labels": dict(definition.get("dockerLabels", {}),
                           **{LABEL: "1", LABEL + ".task": self.task.arn}),
            "environment": self._environment(c),
            "entrypoint": definition.get("entryPoint") or None,
            "command": c.override.get("command") or definition.get("command") or None,
            "working_dir": definition.get("workingDirectory"),
            "user": definition.get("user"),
            "mounts": self._mounts(definition),
            "mem_limit": "%dm" % (c.override.get("memory") or definition.get("memory")
                                  or int(self.task.wire["memory"])),
            "init": bool(definition.get("linuxParameters", {}).get("initProcessEnabled")),
            "read_only": bool(definition.get("readonlyRootFilesystem")),
            "stdin_open": bool(definition.get("interactive")),
            "tty": bool(definition.get("pseudoTerminal")),
            "network_mode": "container:" + self.pause_id,
        }
        if "healthCheck" in definition:
            options["healthcheck"] = _healthcheck(definition["healthCheck"])
        try:
            c.container_id = self.ecs.engine.start(definition["image"], **options)
        except EngineError as exc:
            if exc.container_id:
                self.task.engine_containers.append(exc.container_id)
            raise StartFailure("CannotStartContainerError: %s" % exc, [c.name]) from exc
        self.task.engine_containers.append(c.container_id)
        with self.ecs.lock:
            c.wire.update(lastStatus="RUNNING", runtimeId=c.container_id)
        self._follow_logs(c)
        self.task.touch()

    def _environment(self, c):
        env = {e["name"]: e["value"] for e in c.definition.get("environment", [])}
        env.update({e["name"]: e["value"] for e in c.override.get("environment", [])})
        region = self.ecs.config.region
        env.setdefault("AWS_REGION", region)
        env.setdefault("AWS_DEFAULT_REGION", region)
        env.setdefault("AWS_EXECUTION_ENV", "AWS_ECS_FARGATE")
        if self.task.definition.get("taskRoleArn"):
            env.setdefault("AWS_CONTAINER_CREDENTIALS_FULL_URI",
                           self.ecs.config.task_endpoint + "/_sim/container-credentials")
            if self.ecs.config.container_auth_token:
                env.setdefault("AWS_CONTAINER_AUTHORIZATION_TOKEN",
                               self.ecs.config.container_auth_token)
        env["ECS_SIM_TASK_IP"] = self.task.address  # also the address of eth0
        return ["%s=%s" % item for item in env.items()]

    def _follow_logs(self, c):
        options = _awslogs_options(c.definition)
        if options is None:
            return
        group = options["awslogs-group"]
        prefix = options.get("awslogs-stream-prefix")
        stream = "%s/%s/%s" % (prefix, c.name, self.task.id) if prefix else self.task.id
        logs = self.ecs.logs
        logs.ensure_stream(group, stream)

        def on_line(stamp, text):
            if text:  # awslogs sends no empty events
                logs.append(group, stream, epoch_ms(stamp), text)
        c.follower = self.ecs.engine.follow_logs(c.container_id, on_line)

    # Watching.

    def _refresh(self):
        changed = False
        for c in self.containers:
            if c.started and not c.exited:
                changed |= self._observe(c, self.ecs.engine.state(c.container_id))
        if changed:
            self.task.update(healthStatus=self._task_health())

    def _observe(self, c, state):
        """Copy the engine's view of a container into the task; returns
        whether anything changed."""
        health = HEALTH.get((state.get("Health") or {}).get("Status"), "UNKNOWN")
        exited = state["Status"] in ("exited", "dead")
        if health == c.health and not exited:
            return False
        with self.ecs.lock:
            c.health = health
            if "healthCheck" in c.definition:
                c.wire["healthStatus"] = health
            if exited:
                c.exit_code = state["ExitCode"]
                c.wire.update(lastStatus="STOPPED", exitCode=c.exit_code)
                if state.get("OOMKilled"):
                    c.wire["reason"] = "OutOfMemoryError: Container killed due to memory usage"
        return True

    def _task_health(self):
        checked = [c.health for c in self.containers
                   if c.essential and "healthCheck" in c.definition]
        if "UNHEALTHY" in checked:
            return "UNHEALTHY"
        if checked and all(h == "HEALTHY" for h in checked):
            return "HEALTHY"
        return "UNKNOWN"

    # Stopping.

    def _teardown(self, stop_code, reason):
        task = self.task
        with self.ecs.lock:
            task.wire.setdefault("stopCode", stop_code)
            task.wire.setdefault("stoppedReason", reason)
            task.wire.setdefault("stoppingAt", now())
        task.update(desiredStatus="STOPPED", lastStatus="DEACTIVATING")
        task.update(lastStatus="STOPPING")
        self._stop_containers()
        # As the awslogs driver, which flushes at the task's end: every
        # line is in CloudWatch before the task is STOPPED, however long
        # the output (the follower ends once its stopped container's log
        # is read to the end).
        for c in self.containers:
            while c.follower is not None and c.follower.is_alive():
                c.follower.join(LOG_FLUSH_WARN_SECONDS)
                if c.follower.is_alive():
                    log.warning("task %s: %s's output still being delivered to CloudWatch",
                                task.id, c.name)
        self._drop_namespace()
        for target in self.idmapped:
            idmap.unmount(target)
        task.update(executionStoppedAt=now(), lastStatus="DEPROVISIONING")
        with self.ecs.lock:
            task.attachment["status"] = "DELETED"
            for c in self.containers:
                c.wire["lastStatus"] = "STOPPED"
        task.update(lastStatus="STOPPED", stoppedAt=now())

    def _drop_namespace(self):
        """The ENI goes: its rules, then the namespace with its veth."""
        self.ecs.vpc.unplug(self.task.id)
        if self.pause_id is not None:
            self.ecs.engine.kill(self.pause_id)
            self.ecs.engine.wait(self.pause_id)
        self.ecs.vpc.eni_remove(self.task.id)

    def _stop_containers(self):
        """docker stop every running container, each after the containers
        that depend on it (startup order reversed), in parallel otherwise."""
        dependents = {c.name: [o for o in self.containers
                               if any(d["containerName"] == c.name
                                      for d in o.definition.get("dependsOn", []))]
                      for c in self.containers}

        def stop(c):
            try:
                for other in dependents[c.name]:
                    other.stopped.wait()
                if c.started and not c.exited:
                    timeout = c.definition.get("stopTimeout", DEFAULT_STOP_TIMEOUT)
                    timeout = min(timeout, MAX_STOP_TIMEOUT, self.task.stop_timeout_cap)
                    self.ecs.engine.stop(c.container_id, timeout)
                    self._observe(c, self.ecs.engine.state(c.container_id))
            except Exception:  # the container is gone or the engine failed
                log.exception("stopping container %s of %s", c.name, self.task.arn)
            finally:
                c.stopped.set()
        threads = [threading.Thread(target=stop, args=(c,), daemon=True) for c in self.containers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()


def _awslogs_options(definition):
    config = definition.get("logConfiguration") or {}
    if config.get("logDriver") != "awslogs":
        return None
    return config.get("options", {})


def _healthcheck(check):
    second = 1_000_000_000
    return {"test": check["command"],
            "interval": check.get("interval", 30) * second,
            "timeout": check.get("timeout", 5) * second,
            "retries": check.get("retries", 3),
            "start_period": check.get("startPeriod", 0) * second}
