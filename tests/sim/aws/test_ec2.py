"""EC2's security groups and subnets on the simulator's endpoint (query
protocol 'ec2', SigV4 service ec2), through botocore's own ec2 client, with
every answer checked against the model (--check-responses)."""

import urllib.request

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import pytest
from botocore.exceptions import ClientError

from conftest import (ACCESS_KEY, DEFAULT_GROUP, REGION, SECRET_KEY, SUBNET, VPC,
                      task_definition, wait_status)


@pytest.fixture(scope="module")
def ec2(sim):
    return sim.client("ec2")


def code_of(call, *args, **kwargs):
    with pytest.raises(ClientError) as info:
        call(*args, **kwargs)
    return info.value.response["Error"]["Code"], info.value.response["Error"]["Message"]


def new_group(ec2, name, **kw):
    return ec2.create_security_group(GroupName=name, Description="test " + name, VpcId=VPC,
                                     **kw)["GroupId"]


def test_default_vpc(ec2):
    subnets = ec2.describe_subnets(SubnetIds=[SUBNET])["Subnets"]
    assert [s["VpcId"] for s in subnets] == [VPC]
    assert subnets[0]["CidrBlock"].startswith("10.") and subnets[0]["CidrBlock"].endswith("/16")
    group = ec2.describe_security_groups(GroupIds=[DEFAULT_GROUP])["SecurityGroups"][0]
    assert group["GroupName"] == "default" and group["VpcId"] == VPC
    assert code_of(ec2.describe_subnets, SubnetIds=["subnet-0nothere"])[0] == \
        "InvalidSubnetID.NotFound"
    assert code_of(ec2.delete_security_group, GroupId=DEFAULT_GROUP)[0] == "CannotDelete"


def test_group_life(ec2):
    gid = new_group(ec2, "life", TagSpecifications=[{
        "ResourceType": "security-group", "Tags": [{"Key": "sockerless-network", "Value": "n1"}]}])
    assert gid.startswith("sg-") and len(gid) == 20
    group = ec2.describe_security_groups(GroupIds=[gid])["SecurityGroups"][0]
    assert group["GroupName"] == "life" and group["Description"] == "test life"
    # AWS's defaults: no ingress, all egress
    assert group["IpPermissions"] == []
    assert [(p["IpProtocol"], p["IpRanges"]) for p in group["IpPermissionsEgress"]] == \
        [("-1", [{"CidrIp": "0.0.0.0/0"}])]
    assert group["Tags"] == [{"Key": "sockerless-network", "Value": "n1"}]
    found = ec2.describe_security_groups(Filters=[
        {"Name": "tag:sockerless-network", "Values": ["n1"]}])["SecurityGroups"]
    assert [g["GroupId"] for g in found] == [gid]

    self_rule = {"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": gid}]}
    out = ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[self_rule])
    assert out["Return"] is True
    assert out["SecurityGroupRules"][0]["ReferencedGroupInfo"]["GroupId"] == gid
    assert code_of(ec2.authorize_security_group_ingress, GroupId=gid,
                   IpPermissions=[self_rule])[0] == "InvalidPermission.Duplicate"
    tcp = {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 81,
           "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}
    ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[tcp])
    group = ec2.describe_security_groups(GroupIds=[gid])["SecurityGroups"][0]
    assert len(group["IpPermissions"]) == 2
    ec2.revoke_security_group_ingress(GroupId=gid, IpPermissions=[tcp])
    assert code_of(ec2.revoke_security_group_ingress, GroupId=gid,
                   IpPermissions=[tcp])[0] == "InvalidPermission.NotFound"

    everything = {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    assert ec2.revoke_security_group_egress(GroupId=gid, IpPermissions=[everything])["Return"]
    group = ec2.describe_security_groups(GroupIds=[gid])["SecurityGroups"][0]
    assert group["IpPermissionsEgress"] == []
    ec2.authorize_security_group_egress(GroupId=gid, IpPermissions=[everything])

    ec2.delete_security_group(GroupId=gid)
    code, message = code_of(ec2.describe_security_groups, GroupIds=[gid])
    assert code == "InvalidGroup.NotFound" and gid in message
    assert code_of(ec2.delete_security_group, GroupId=gid)[0] == "InvalidGroup.NotFound"


def test_errors(ec2, sim):
    gid = new_group(ec2, "dup")
    code, message = code_of(new_group, ec2, "dup")
    assert code == "InvalidGroup.Duplicate" and "dup" in message
    assert code_of(new_group, ec2, "sg-bad")[0] == "InvalidParameterValue"
    assert code_of(ec2.authorize_security_group_ingress, GroupId="sg-0123456789abcdef0",
                   IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
                   )[0] == "InvalidGroup.NotFound"
    assert code_of(ec2.authorize_security_group_ingress, GroupId=gid, IpPermissions=[
        {"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": "sg-0123456789abcdef0"}]}]
    )[0] == "InvalidGroup.NotFound"
    assert code_of(ec2.authorize_security_group_ingress, GroupId=gid, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 90, "ToPort": 80, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}]
    )[0] == "InvalidParameterValue"
    assert code_of(ec2.authorize_security_group_ingress, GroupId=gid, IpPermissions=[
        {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "not-a-cidr"}]}])[0] == \
        "InvalidParameterValue"
    # a group another group's rule names is in use
    other = new_group(ec2, "referrer")
    ec2.authorize_security_group_ingress(GroupId=other, IpPermissions=[
        {"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": gid}]}])
    assert code_of(ec2.delete_security_group, GroupId=gid)[0] == "DependencyViolation"
    ec2.delete_security_group(GroupId=other)
    ec2.delete_security_group(GroupId=gid)

    # what botocore would refuse before sending: the simulator's own answers
    raw = sim.client("ec2", parameter_validation=False)
    code, message = code_of(raw.create_security_group, GroupName="nodesc")
    assert code == "MissingParameter" and "GroupDescription" in message
    assert code_of(raw.revoke_security_group_egress, IpPermissions=[])[0] == "MissingParameter"


def test_raw_xml_shapes(sim):
    """EC2's envelope: namespace, requestId, error XML with RequestID."""
    def call(form):
        body = "&".join("%s=%s" % kv for kv in dict(form, Version="2016-11-15").items())
        request = botocore.awsrequest.AWSRequest(
            method="POST", url=sim.endpoint + "/", data=body,
            headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
        botocore.auth.SigV4Auth(botocore.credentials.Credentials(ACCESS_KEY, SECRET_KEY),
                                "ec2", REGION).add_auth(request)
        prepared = request.prepare()
        req = urllib.request.Request(prepared.url, data=body.encode(), method="POST",
                                     headers=dict(prepared.headers))
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
    status, text = call({"Action": "DescribeSubnets", "SubnetId.1": SUBNET})
    assert status == 200
    assert '<DescribeSubnetsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">' in text
    assert "<requestId>" in text and "<subnetSet><item>" in text
    status, text = call({"Action": "DeleteSecurityGroup", "GroupId": "sg-0123456789abcdef0"})
    assert status == 400
    assert text.split("\n", 1)[1].startswith(
        "<Response><Errors><Error><Code>InvalidGroup.NotFound</Code>")
    assert "<RequestID>" in text


def test_faults_apply(sim, ec2):
    sim.post("/_sim/faults", {"service": "ec2", "operation": "CreateSecurityGroup",
                              "error": "RequestLimitExceeded", "status": 503})
    code, _ = code_of(new_group, ec2, "faulted")
    assert code == "RequestLimitExceeded"
    assert sim.get("/_sim/calls").get("ec2.CreateSecurityGroup", 0) >= 1
    assert not any(g["GroupName"] == "faulted"
                   for g in ec2.describe_security_groups()["SecurityGroups"])


def test_signature_checked(sim):
    bad = sim.client("ec2", secret="wrong-secret")
    assert code_of(bad.describe_subnets)[0] == "SignatureDoesNotMatch"
    unknown = sim.client("ec2", key="AKIDUNKNOWN0000000000")
    assert code_of(unknown.describe_subnets)[0] == "AuthFailure"


def test_run_task_checks_groups(sim, ec2, ecs, cluster):
    td = task_definition(ecs, "sgcheck", ["sleep", "30"], stopTimeout=1)
    missing = "sg-0123456789abcdef0"
    with pytest.raises(ClientError) as info:
        ecs.run_task(cluster=cluster, taskDefinition=td, launchType="FARGATE",
                     networkConfiguration={"awsvpcConfiguration": {
                         "subnets": [SUBNET], "securityGroups": [DEFAULT_GROUP, missing]}})
    assert info.value.response["Error"]["Code"] == "InvalidParameterException"
    assert info.value.response["Error"]["Message"] == (
        "Error retrieving security group information for [%s]: The security group '%s' "
        "does not exist" % (missing, missing))
    with pytest.raises(ClientError) as info:
        ecs.run_task(cluster=cluster, taskDefinition=td, launchType="FARGATE",
                     networkConfiguration={"awsvpcConfiguration": {
                         "subnets": ["subnet-0nothere"]}})
    assert info.value.response["Error"]["Code"] == "InvalidParameterException"

    # an ENI in use keeps its group until the task stops
    gid = new_group(ec2, "inuse")
    arn = ecs.run_task(cluster=cluster, taskDefinition=td, launchType="FARGATE",
                       networkConfiguration={"awsvpcConfiguration": {
                           "subnets": [SUBNET], "securityGroups": [gid]}})["tasks"][0]["taskArn"]
    assert code_of(ec2.delete_security_group, GroupId=gid)[0] == "DependencyViolation"
    wait_status(ecs, cluster, arn, "RUNNING")
    ecs.stop_task(cluster=cluster, task=arn)
    wait_status(ecs, cluster, arn, "STOPPED")
    ec2.delete_security_group(GroupId=gid)


def test_groups_persist(fresh_sim):
    s = fresh_sim().start()
    ec2 = s.client("ec2")
    gid = ec2.create_security_group(GroupName="kept", Description="d", VpcId=VPC)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080,
         "UserIdGroupPairs": [{"GroupId": gid}]}])
    s.stop()
    s.start()
    group = s.client("ec2").describe_security_groups(GroupIds=[gid])["SecurityGroups"][0]
    assert group["GroupName"] == "kept"
    assert group["IpPermissions"][0]["FromPort"] == 8080
    assert group["IpPermissions"][0]["UserIdGroupPairs"][0]["GroupId"] == gid
    s.stop()


def test_default_group_ingress_option(fresh_sim):
    s = fresh_sim("--default-group-ingress", "self").start()
    group = s.client("ec2").describe_security_groups(
        GroupIds=[DEFAULT_GROUP])["SecurityGroups"][0]
    assert [[p["GroupId"] for p in rule["UserIdGroupPairs"]] for rule in group["IpPermissions"]] \
        == [[DEFAULT_GROUP]]
    s.stop()
    s = fresh_sim("--default-group-ingress", "none").start()
    group = s.client("ec2").describe_security_groups(
        GroupIds=[DEFAULT_GROUP])["SecurityGroups"][0]
    assert group["IpPermissions"] == []
    s.stop()
