"""The simulated VPC with real traffic: each task in its own network
namespace on the VPC bridge, security groups enforced between tasks, the
host always reaching tasks, the VPC resolver, nothing left behind."""

import socket
import subprocess
import tempfile
import time
import urllib.error

import pytest

from conftest import DEFAULT_GROUP, SUBNET, VPC, Sim, task_definition, task_id, wait_status

PAGE = "mkdir -p /tmp/w && echo hi > /tmp/w/i && exec httpd -f -p 8080 -h /tmp/w"


@pytest.fixture(scope="module")
def ec2(sim):
    return sim.client("ec2")


@pytest.fixture(scope="module")
def vpc(sim):
    return sim.get("/_sim/vpc")


def group(ec2, name, self_port=None):
    """A new group; with self_port its members reach each other on that
    TCP port."""
    gid = ec2.create_security_group(GroupName=name, Description=name, VpcId=VPC)["GroupId"]
    if self_port:
        ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": self_port, "ToPort": self_port,
             "UserIdGroupPairs": [{"GroupId": gid}]}])
    return gid


def start(ecs, cluster, family, command, groups, env=None):
    td = task_definition(ecs, family, ["sh", "-c", command], stopTimeout=1)
    overrides = {"containerOverrides": [{"name": "main", "environment": [
        {"name": k, "value": v} for k, v in (env or {}).items()]}]}
    out = ecs.run_task(cluster=cluster, taskDefinition=td, launchType="FARGATE",
                       overrides=overrides, networkConfiguration={"awsvpcConfiguration": {
                           "subnets": [SUBNET], "securityGroups": groups}})
    assert out["failures"] == []
    task = out["tasks"][0]
    return task["taskArn"], task["containers"][0]["networkInterfaces"][0]["privateIpv4Address"]


def exit_code(ecs, cluster, command, groups, env=None, family="probe"):
    arn, _ = start(ecs, cluster, family, command, groups, env)
    final, _ = wait_status(ecs, cluster, arn, "STOPPED")
    return final["containers"][0].get("exitCode")


def fetch(ecs, cluster, groups, address):
    """Exit status of a task of groups fetching http://address:8080/i (no
    wget -T: Debian's busybox 1.35 wget segfaults with it)."""
    return exit_code(ecs, cluster, 'timeout 5 wget -qO- "http://$PEER:8080/i" | grep -qx hi',
                     groups, {"PEER": address})


def serving(address, port, deadline=20):
    end = time.time() + deadline
    while time.time() < end:
        try:
            socket.create_connection((address, port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.2)
    return False


def stop(ecs, cluster, arn):
    ecs.stop_task(cluster=cluster, task=arn)
    wait_status(ecs, cluster, arn, "STOPPED")


def links(vpc):
    out = subprocess.run(["ip", "-n", vpc["namespace"], "-o", "link"], capture_output=True,
                         text=True, check=True).stdout
    return {line.split(": ")[1].split("@")[0] for line in out.splitlines()}


def test_members_reach_each_other_others_do_not(ecs, cluster, ec2):
    web_group, outsider = group(ec2, "web", 8080), group(ec2, "outsider")
    arn, address = start(ecs, cluster, "web", PAGE, [web_group])
    try:
        wait_status(ecs, cluster, arn, "RUNNING")
        assert serving(address, 8080), "the host does not reach the task"
        assert fetch(ecs, cluster, [web_group], address) == 0
        assert fetch(ecs, cluster, [outsider], address) != 0
        # the default group admits the VPC, but the web group does not
        assert fetch(ecs, cluster, [DEFAULT_GROUP], address) != 0
        # member of both: admitted through web
        assert fetch(ecs, cluster, [outsider, web_group], address) == 0

        # no egress left in the client's group: new connections fail
        ec2.revoke_security_group_egress(GroupId=web_group, IpPermissions=[
            {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
        assert fetch(ecs, cluster, [web_group], address) != 0
        ec2.authorize_security_group_egress(GroupId=web_group, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080,
             "UserIdGroupPairs": [{"GroupId": web_group}]}])
        assert fetch(ecs, cluster, [web_group], address) == 0

        # a CIDR rule: the outsider admitted by address range
        ec2.authorize_security_group_ingress(GroupId=web_group, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 8000, "ToPort": 9000,
             "IpRanges": [{"CidrIp": address.rsplit(".", 2)[0] + ".0.0/16"}]}])
        assert fetch(ecs, cluster, [outsider], address) == 0
    finally:
        stop(ecs, cluster, arn)
    ec2.delete_security_group(GroupId=outsider)
    ec2.delete_security_group(GroupId=web_group)


def test_host_reaches_agent_port(ecs, cluster, ec2):
    """A task whose groups admit nothing still answers the host on 9111
    (the backend's agent link) and any port."""
    closed = group(ec2, "closed")
    arn, address = start(ecs, cluster, "agentport",
                         "mkdir -p /tmp/w && exec httpd -f -p 9111 -h /tmp/w", [closed])
    try:
        assert serving(address, 9111)
    finally:
        stop(ecs, cluster, arn)
    ec2.delete_security_group(GroupId=closed)


def test_task_names_and_resolver(ecs, cluster, vpc, sim):
    """The task's hostname is its ip-10-x-y-z.ec2.internal name; its
    /etc/resolv.conf names the VPC resolver, which answers live tasks'
    names and sim.internal test names and NXDOMAIN for the rest."""
    sim.post("/_sim/dns", {"name": "db.sim.internal", "address": "10.200.1.2"})
    with pytest.raises(urllib.error.HTTPError):
        sim.post("/_sim/dns", {"name": "db.example.com", "address": "10.200.1.2"})
    arn, address = start(ecs, cluster, "named", "sleep 60", [DEFAULT_GROUP])
    try:
        wait_status(ecs, cluster, arn, "RUNNING")
        script = ('ME=ip-$(echo $ECS_SIM_TASK_IP | tr . -).ec2.internal; '
                  'test "$(hostname)" = "$ME" || exit 11; '
                  'grep -qx "nameserver $NS" /etc/resolv.conf || exit 12; '
                  'nslookup "$PEER" | grep -q "$PEER_IP" || exit 13; '
                  'nslookup upstream.sim.internal | grep -q "Address.*$NS" || exit 14; '
                  'nslookup db.sim.internal | grep -q 10.200.1.2 || exit 17; '
                  'nslookup nothing.sim.internal && exit 15; '
                  'nslookup example.com && exit 16; exit 0')
        code = exit_code(ecs, cluster, script, [DEFAULT_GROUP], {
            "NS": vpc["resolver"], "PEER": "ip-%s.ec2.internal" % address.replace(".", "-"),
            "PEER_IP": address}, family="resolve")
    finally:
        stop(ecs, cluster, arn)
    assert code == 0


def test_nothing_left_behind(ecs, cluster, vpc, fresh_sim):
    before = links(vpc)
    arn, _ = start(ecs, cluster, "leave", "sleep 60", [DEFAULT_GROUP])
    wait_status(ecs, cluster, arn, "RUNNING")
    assert "t" + task_id(arn)[:10] in links(vpc)
    stop(ecs, cluster, arn)
    assert links(vpc) == before

    # a simulator of its own: its namespace goes with it
    s = fresh_sim().start()
    mine = s.get("/_sim/vpc")
    assert mine["cidr"] != vpc["cidr"]
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert mine["namespace"] in netns
    s.stop()
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert mine["namespace"] not in netns
    host = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert mine["hostInterface"] not in host


def test_dead_simulators_vpc_is_removed(fresh_sim, workdir):
    """A simulator killed hard leaves its VPC; the next simulator to start
    (whatever its state directory) removes it."""
    dead = fresh_sim().start()
    namespace = dead.get("/_sim/vpc")["namespace"]
    dead.proc.kill()
    dead.proc.wait()
    dead.proc = None
    dead.log.close()
    assert namespace in subprocess.run(["ip", "netns", "list"], capture_output=True,
                                       text=True).stdout
    other = Sim(dead.engine, dead.registry, tempfile.mkdtemp(dir=workdir)).start()
    try:
        assert namespace not in subprocess.run(["ip", "netns", "list"], capture_output=True,
                                               text=True).stdout
    finally:
        other.stop()
