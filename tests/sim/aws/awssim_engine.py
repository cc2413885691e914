"""The Docker engine under the simulator (python3-docker): image references
mapped to the local registry, pulls, task volumes, containers (on the host
network unless told otherwise: ECS tasks join their pause container's), and
log followers.

Only loopback registries are reached: Docker Hub and ECR references are
served from the --registry given to the simulator, and anything else fails
to pull, so no workload image is ever fetched from outside the machine."""

import math
import os
import re
import threading
import time

import docker
import docker.errors
import requests

from awssim_util import parse_rfc3339

LABEL = "sockerless.awssim"
ECR_HOST = re.compile(r"^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")
HUB_HOSTS = {"docker.io", "index.docker.io", "registry-1.docker.io"}
LOOPBACK_HOST = re.compile(r"^(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?$")


class EngineError(Exception):
    """A pull or container start that failed; the message is the engine's
    explanation, ready to follow an ECS error prefix. container_id names a
    container that was created before the failure, for later removal."""

    def __init__(self, message, container_id=None):
        super().__init__(message)
        self.container_id = container_id


class Engine:
    def __init__(self, url, registry, owner=""):
        self.registry = registry
        self.owner = owner
        self.docker = docker.DockerClient(base_url=url, version="1.41", timeout=120,
                                          max_pool_size=64)

    def ping(self):
        self.docker.ping()

    def resolve(self, image):
        """The reference the engine pulls for an image named in a task
        definition."""
        first, sep, rest = image.partition("/")
        has_host = sep and ("." in first or ":" in first or first == "localhost")
        if not has_host:
            path = image if sep else "library/" + image
            return "%s/%s" % (self.registry, path)
        if first in HUB_HOSTS:
            return "%s/%s" % (self.registry, rest if "/" in rest else "library/" + rest)
        if ECR_HOST.match(first) or first == "public.ecr.aws":
            return "%s/%s" % (self.registry, rest)
        if LOOPBACK_HOST.match(first):
            return image
        raise EngineError("failed to resolve ref %s: the simulator pulls only from loopback "
                          "registries (%s)" % (image, self.registry))

    def pull(self, image, auth=None):
        """Pull through the engine (auth: {"username","password"} for a
        registry that wants them); returns the image digest."""
        ref = self.resolve(image)
        repository, tag = _split_reference(ref)
        try:
            pulled = self.docker.images.pull(repository, tag=tag, auth_config=auth)
        except docker.errors.APIError as exc:
            raise EngineError(exc.explanation or str(exc)) from exc
        digests = pulled.attrs.get("RepoDigests") or []
        return digests[0].split("@", 1)[1] if digests else pulled.id

    def create_volume(self, name, labels):
        labels = dict(labels, **{LABEL + ".owner": self.owner})
        self.docker.volumes.create(name=name, labels=labels)

    def remove_volume(self, name):
        try:
            self.docker.volumes.get(name).remove(force=True)
        except docker.errors.NotFound:
            pass

    def start(self, image, **options):
        """Create and start a container from an image pulled by pull();
        returns its id. network_mode defaults to host."""
        container = None
        options["labels"] = dict(options.get("labels") or {}, **{LABEL + ".owner": self.owner})
        options.setdefault("network_mode", "host")
        try:
            container = self.docker.containers.create(
                self.resolve(image), log_config={"type": "json-file", "config": {}}, **options)
            container.start()
        except docker.errors.APIError as exc:
            raise EngineError(exc.explanation or str(exc), container and container.id) from exc
        return container.id

    def pid(self, container_id):
        """The host pid of a running container's first process."""
        return self.docker.api.inspect_container(container_id)["State"]["Pid"]

    def state(self, container_id):
        """The engine's State of a container (Status, ExitCode, OOMKilled,
        Health)."""
        return self.docker.api.inspect_container(container_id)["State"]

    def stop(self, container_id, timeout):
        """docker stop: the image's stop signal (SIGTERM by default), then
        SIGKILL after timeout seconds."""
        try:
            self.docker.api.stop(container_id, timeout=max(0, int(math.ceil(timeout))))
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError:  # stopping failed: make sure it is gone
            try:
                self.docker.api.kill(container_id)
            except docker.errors.APIError:
                pass

    def remove(self, container_id):
        try:
            self.docker.api.remove_container(container_id, force=True, v=False)
        except docker.errors.NotFound:
            pass

    def image_config(self, image):
        """The Config of a pulled image (Entrypoint, Cmd, WorkingDir, Env)."""
        return self.docker.api.inspect_image(self.resolve(image))["Config"] or {}

    @staticmethod
    def stdout_fd(pid, container_id):
        """A non-blocking descriptor on the stdout of the container's
        process pid (what the engine logs), for marking a point in its log;
        None when pid is not that container's process on this machine.
        Close it at once: while it is open, the engine sees no end of the
        container's output."""
        try:
            with open("/proc/%d/cgroup" % pid) as f:
                if container_id not in f.read():
                    return None
            return os.open("/proc/%d/fd/1" % pid, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            return None

    def wait(self, container_id):
        """Block until the container exits; its exit status (None when the
        container is gone)."""
        try:
            return self.docker.api.wait(container_id, timeout=None)["StatusCode"]
        except (docker.errors.APIError, requests.exceptions.RequestException):
            return None

    def kill(self, container_id):
        """SIGKILL, ignoring a container that is gone or not running."""
        try:
            self.docker.api.kill(container_id)
        except docker.errors.APIError:
            pass

    def follow_logs(self, container_id, on_line):
        """A started thread calling on_line(epoch_seconds, text) for each
        line the container writes to stdout or stderr, in the order the
        engine recorded them; it ends when the container has exited and
        every line was delivered."""
        def follow():
            pending, last = b"", b""
            try:
                stream = self.docker.api.logs(container_id, stdout=True, stderr=True,
                                              stream=True, follow=True, timestamps=True)
                for chunk in stream:
                    # Non-TTY containers arrive one frame per line; TTY ones
                    # as raw chunks that may hold several lines or part of one.
                    pending += chunk
                    while b"\n" in pending:
                        line, pending = pending.split(b"\n", 1)
                        last = _last_stamp(line, last)
                        _deliver(line, on_line)
                pending += self._missed(container_id, _last_stamp(pending, last))
            except (docker.errors.APIError, requests.exceptions.RequestException):
                pass  # the container is gone: nothing more to deliver
            for line in pending.split(b"\n"):
                if line:
                    _deliver(line, on_line)
        thread = threading.Thread(target=follow, name="logs-" + container_id[:12], daemon=True)
        thread.start()
        return thread


    def _missed(self, container_id, last):
        """The entries written after the stamp last that a follow left out:
        dockerd 20.10 may end a follow at the container's exit before the
        copier stored its last entry (the final piece of a line without a
        newline, written as the process ends). awslogs ships it."""
        tail = self.docker.api.logs(container_id, stdout=True, stderr=True,
                                    timestamps=True, tail=100)
        for m in ENTRY_STAMP.finditer(tail):
            if m.group() > last:
                return tail[m.start():]
        return b""


# The engine's timestamp before each log entry (RFC3339NanoFixed). An entry
# that does not end a line (a partial line over 16 KiB, a TTY read) is
# followed by the next entry's timestamp in the middle of the line.
ENTRY_STAMP = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z ")


def _last_stamp(data, last):
    """The latest entry stamp in data (whole lines: a TTY's output comes a
    byte at a time), else last (the stamps are fixed width, so bytes order
    them)."""
    found = ENTRY_STAMP.findall(data)
    return max(found[-1], last) if found else last


def _deliver(raw, on_line):
    match = ENTRY_STAMP.match(raw)
    if match:
        when = parse_rfc3339(match.group()[:-1].decode())
        raw = raw[match.end():]
    else:
        when = time.time()
    # As awslogs: the line without its "\n" (a TTY's "\r" stays).
    text = ENTRY_STAMP.sub(b"", raw).decode("utf-8", "replace")
    on_line(when, text)


def _split_reference(ref):
    """(repository, tag or digest) of an image reference; tag defaults to
    latest."""
    if "@" in ref:
        return tuple(ref.split("@", 1))
    name, _, tag = ref.rpartition(":")
    if not name or "/" in tag:
        return ref, "latest"
    return name, tag
