"""The packages booted under systemd (make check-deb): a clean Debian 12
root with the packages installed, booted by systemd-nspawn (systemd as
its PID 1, the host's network, so loopback is this machine's), the ECS
backend configured against the AWS simulator of a local stack
(deploy/local.sh on SK_TEST_PORT_BASE+160..+166). The docker CLI on this
host talks to the booted frontend through its socket-activated
/run/sockerless/docker.sock."""
import os
import shutil
import subprocess
import time

import pytest

from deb_lib import ROOT, BUILD, run

PORT_BASE = int(os.environ.get("SK_TEST_PORT_BASE", "35100"))
ACCOUNT, REGION = "123456789012", "us-east-1"


@pytest.fixture
def stack(tmp_path):
    """deploy/local.sh's simulated clouds (and its own daemons, unused)."""
    env = dict(os.environ, SK_RUN=str(tmp_path / "local"), BUILD=BUILD,
               SK_REGISTRY_PORT=str(PORT_BASE + 160), SK_SIM_PORT=str(PORT_BASE + 161),
               SK_GCP_SIM_PORT=str(PORT_BASE + 162), SK_GCP_AR_PORT=str(PORT_BASE + 163),
               SK_CALLBACK_PORT=str(PORT_BASE + 164), SK_AZ_SIM_PORT=str(PORT_BASE + 165),
               SK_AZ_ACR_PORT=str(PORT_BASE + 166), SK_ECS_AGENT="0")
    env.pop("DOCKER_HOST", None)
    p = run([os.path.join(ROOT, "deploy/local.sh"), "up"], check=False, env=env, timeout=900)
    try:
        assert p.returncode == 0, p.stdout + p.stderr
        reg = run(f". {tmp_path}/local/bed/bed.env && echo $SK_REGISTRY").stdout.strip()
        yield {"registry": reg, "sim": f"http://127.0.0.1:{PORT_BASE + 161}"}
    finally:
        run([os.path.join(ROOT, "deploy/local.sh"), "down"], check=False, env=env, timeout=300)


class Booted:
    """systemd-nspawn -b of a root; sh() runs in it through nsenter."""

    def __init__(self, root, log):
        self.log = open(log, "w", encoding="utf-8")
        # --register=no --keep-unit: this host has no systemd or bus of its own
        self.proc = subprocess.Popen(
            ["systemd-nspawn", "-q", "-D", root.path, "-M", "sk-debtest", "--register=no",
             "--keep-unit", "-b"], stdin=subprocess.DEVNULL, stdout=self.log,
            stderr=subprocess.STDOUT)
        self.leader = None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and self.proc.poll() is None:
            self.leader = self._leader()
            if self.leader and self.sh("systemctl is-active multi-user.target",
                                       check=False).stdout.strip() == "active":
                return
            time.sleep(1)
        raise AssertionError(f"the root did not boot; see {log}")

    def _leader(self):
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
                    stat = f.read()
            except OSError:
                continue
            comm = stat[stat.index("(") + 1:stat.rindex(")")]
            ppid = int(stat[stat.rindex(")") + 2:].split()[1])
            if ppid == self.proc.pid and comm == "systemd":
                return int(pid)
        return None

    def sh(self, script, check=True, timeout=120):
        return run(["nsenter", "-t", str(self.leader), "-m", "-u", "-i", "-p", "--",
                    "/bin/sh", "-ec", script], check=check, timeout=timeout,
                   env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"})

    @property
    def docker_host(self):
        return f"unix:///proc/{self.leader}/root/run/sockerless/docker.sock"

    def docker(self, *args, check=True, timeout=300):
        return run(["docker", "-H", self.docker_host] + list(args), check=check, timeout=timeout,
                   env={k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")})

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()  # nspawn asks systemd to power off
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def configure(root, stack):
    """The ECS and Lambda backends against the AWS simulator, their keys in
    the units' EnvironmentFile."""
    common = f"""socket: /run/sockerless/backend.sock
registry_mirrors: [http://{stack['registry']}]
"""
    with open(root.path + "/etc/sockerless/backend-ecs.yaml", "w", encoding="utf-8") as f:
        f.write(common + f"""state_dir: /var/lib/sockerless/ecs
ecs:
  region: {REGION}
  cluster: sockerless
  subnets: [subnet-0local]
  security_groups: [sg-0local]
  execution_role_arn: arn:aws:iam::{ACCOUNT}:role/ecsTaskExecutionRole
  endpoint: {stack['sim']}
  agent: false
""")
    with open(root.path + "/etc/sockerless/backend-lambda.yaml", "w", encoding="utf-8") as f:
        f.write(common + f"""state_dir: /var/lib/sockerless/lambda
registry_endpoints: [{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com=http://{stack['registry']}]
lambda:
  region: {REGION}
  role_arn: arn:aws:iam::{ACCOUNT}:role/sockerless-lambda
  endpoint: {stack['sim']}
""")
    for b in ("ecs", "lambda"):
        with open(root.path + f"/etc/sockerless/backend-{b}.env", "w", encoding="utf-8") as f:
            f.write("AWS_ACCESS_KEY_ID=AKIDSOCKERLESSTEST\n"
                    "AWS_SECRET_ACCESS_KEY=sockerless-test-secret\n")
        os.chmod(root.path + f"/etc/sockerless/backend-{b}.env", 0o600)


def test_booted(debs, root, stack, tmp_path):
    if shutil.which("systemd-nspawn") is None:
        pytest.fail("systemd-nspawn is not installed (deploy/deps.sh: systemd-container)")
    root.install([debs[n] for n in ("sockerless-common", "sockerless-frontend",
                                    "sockerless-agent", "sockerless-backend-ecs")])
    root.install([debs["sockerless-backend-lambda"]])
    configure(root, stack)
    # nspawn mounts its own /proc and /dev
    for m in ("/dev", "/proc"):
        run(["umount", "-l", root.path + m])
        root.mounts.remove(root.path + m)
    booted = Booted(root, str(tmp_path / "boot.log"))
    try:
        st = booted.sh("systemctl is-active sockerless.socket sockerless-backend-ecs.service "
                       "sockerless-frontend.service sockerless-backend-lambda.service",
                       check=False).stdout.split()
        # the frontend waits for its first client (socket activation)
        assert st == ["active", "active", "inactive", "inactive"], st
        assert booted.sh("stat -c '%U:%G %a' /run/sockerless/docker.sock").stdout.strip() \
            == "root:sockerless 660"

        v = booted.docker("version", "--format", "{{.Server.APIVersion}}").stdout.strip()
        assert v == "1.44"
        assert booted.sh("systemctl is-active sockerless-frontend.service").stdout.strip() == "active"
        out = booted.docker("run", "--rm", "busybox", "echo", "hello-from-the-package").stdout
        assert out.strip() == "hello-from-the-package"

        # members of the sockerless group use the socket, others do not
        booted.sh("useradd -G sockerless alice && useradd bob")
        ping = ("python3 -c 'import socket; s = socket.socket(socket.AF_UNIX); "
                "s.connect(\"/run/sockerless/docker.sock\"); "
                "s.sendall(b\"GET /_ping HTTP/1.0\\r\\n\\r\\n\"); print(s.recv(100).split()[1].decode())'")
        assert booted.sh(f"runuser -u alice -- {ping}").stdout.strip() == "200"
        p = booted.sh(f"runuser -u bob -- {ping}", check=False)
        assert p.returncode != 0 and "Permission denied" in p.stderr

        # an upgrade (the same version again): the running daemons are
        # restarted with the new binaries and serve at once
        pids = booted.sh("systemctl show -P MainPID sockerless-backend-ecs.service "
                         "sockerless-frontend.service").stdout.split()
        root.copy_in([debs["sockerless-backend-ecs"], debs["sockerless-frontend"]], "/var/tmp/up")
        booted.sh("DEBIAN_FRONTEND=noninteractive dpkg -i /var/tmp/up/*.deb")
        after = booted.sh("systemctl show -P MainPID sockerless-backend-ecs.service "
                          "sockerless-frontend.service").stdout.split()
        assert "0" not in after and after[0] != pids[0] and after[1] != pids[1], (pids, after)
        booted.docker("ps")

        # the swap: disable one, enable another; the frontend process stays
        pid = booted.sh("systemctl show -P MainPID sockerless-frontend.service").stdout.strip()
        booted.sh("systemctl disable --now sockerless-backend-ecs.service 2>&1 && "
                  "systemctl enable --now sockerless-backend-lambda.service 2>&1")
        assert booted.sh("readlink /etc/systemd/system/sockerless-backend.service").stdout.strip() \
            .endswith("sockerless-backend-lambda.service")
        # started means serving (the unit's ExecStartPost waits for the socket)
        booted.docker("ps")
        assert booted.sh("systemctl show -P MainPID sockerless-frontend.service").stdout.strip() == pid
        out = booted.docker("run", "--rm", "busybox", "echo", "hello-from-lambda").stdout
        assert out.strip() == "hello-from-lambda"

        # remove stops the backend; the frontend then says so (503)
        booted.sh("DEBIAN_FRONTEND=noninteractive dpkg --remove sockerless-backend-lambda")
        assert booted.sh("systemctl is-active sockerless-backend-lambda.service",
                         check=False).stdout.strip() == "inactive"
        p = booted.docker("version", check=False)
        assert p.returncode != 0 and "cannot reach the sockerless backend" in p.stderr, p.stderr
    finally:
        booted.close()
