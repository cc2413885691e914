"""The policy checker's evaluation (tests/deploy/check_policies.py) and the
policy files of deploy/iam: each loads as its cloud's format."""

import io
import json
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "sim", "azure"))

import check_policies as cp  # noqa: E402
from azuresim_faults import arm_action  # noqa: E402


def aws(*statements):
    return cp.AwsPolicy({"Version": "2012-10-17", "Statement": list(statements)})


def test_aws_wildcards_and_resources():
    p = aws({"Effect": "Allow", "Action": ["ecs:Describe*", "logs:Get?ogEvents"],
             "Resource": "*"},
            {"Effect": "Allow", "Action": "secretsmanager:CreateSecret",
             "Resource": "arn:aws:secretsmanager:*:*:secret:sockerless/*"})
    assert p.allows("ecs:DescribeTasks", "*")
    assert p.allows("ECS:describetasks", "*")  # actions are case-insensitive
    assert p.allows("logs:GetLogEvents", "*")
    assert not p.allows("ecs:RunTask", "*")
    assert p.allows("secretsmanager:CreateSecret",
                    "arn:aws:secretsmanager:us-east-1:1:secret:sockerless/abc-XyZ123")
    assert not p.allows("secretsmanager:CreateSecret",
                        "arn:aws:secretsmanager:us-east-1:1:secret:other/abc")
    # resources are case-sensitive
    assert not p.allows("secretsmanager:CreateSecret",
                        "arn:aws:secretsmanager:us-east-1:1:secret:Sockerless/abc")


def test_aws_deny_wins_and_not_action():
    p = aws({"Effect": "Allow", "Action": "ecs:*", "Resource": "*"},
            {"Effect": "Deny", "Action": "ecs:DeleteCluster", "Resource": "*"},
            {"Effect": "Allow", "NotAction": "iam:*", "Resource": "arn:x:y"})
    assert p.allows("ecs:RunTask", "*")
    assert not p.allows("ecs:DeleteCluster", "*")
    assert p.allows("logs:GetLogEvents", "arn:x:y")
    assert not p.allows("iam:PassRole", "arn:x:y")


def test_aws_refuses_malformed():
    with pytest.raises(ValueError):
        cp.AwsPolicy({"Version": "2008-10-17", "Statement": []})
    with pytest.raises(ValueError):
        aws({"Effect": "Allow", "Action": "a:b"})


def test_gcp_exact_permissions():
    r = cp.GcpRole({"title": "t", "includedPermissions": ["run.jobs.run"]})
    assert r.allows("run.jobs.run", "projects/p")
    assert not r.allows("run.jobs.runWithOverrides", "projects/p")
    with pytest.raises(ValueError):
        cp.GcpRole({"title": "t", "includedPermissions": ["run.jobs.*"]})


def test_azure_actions_minus_not_actions():
    r = cp.AzureRole({"Name": "n", "IsCustom": True, "Actions": ["Microsoft.App/jobs/*"],
                      "NotActions": ["Microsoft.App/jobs/delete"],
                      "AssignableScopes": ["/subscriptions/s"]})
    assert r.allows("microsoft.app/Jobs/start/action", "/x")
    assert not r.allows("Microsoft.App/jobs/delete", "/x")
    assert not r.allows("Microsoft.Web/sites/read", "/x")


def test_arm_action_names():
    g = "/subscriptions/s/resourceGroups/g/providers/"
    assert arm_action("PUT", g + "Microsoft.App/jobs/j") == "Microsoft.App/jobs/write"
    assert arm_action("GET", g + "Microsoft.App/jobs") == "Microsoft.App/jobs/read"
    assert arm_action("DELETE", g + "Microsoft.App/jobs/j") == "Microsoft.App/jobs/delete"
    assert arm_action("POST", g + "Microsoft.App/jobs/j/start") == \
        "Microsoft.App/jobs/start/action"
    assert arm_action("POST", g + "Microsoft.App/jobs/j/executions/e/stop") == \
        "Microsoft.App/jobs/executions/stop/action"
    assert arm_action("POST", g + "Microsoft.Storage/storageAccounts/a/listKeys") == \
        "Microsoft.Storage/storageAccounts/listKeys/action"
    assert arm_action("GET", "/subscriptions/s/providers/Microsoft.App/locations/l/"
                      "containerappOperationStatuses/o") == \
        "Microsoft.App/locations/containerappOperationStatuses/read"
    assert arm_action("POST", "/v1/workspaces/w/query") == \
        "Microsoft.OperationalInsights/workspaces/query/read"
    assert arm_action("GET", "/subscriptions/s/resourceGroups/g") == \
        "Microsoft.Resources/subscriptions/resourceGroups/read"
    assert arm_action("GET", "/nothing").startswith("UNMAPPED:")


def test_check_counts_backend_calls_only(tmp_path):
    log = tmp_path / "aws.jsonl"
    me = "sockerless-backend-ecs/0.1.0"
    lines = [{"action": "ecs:RunTask", "resource": "*", "op": "ecs.RunTask", "ua": me},
             {"action": "lambda:CreateFunction", "resource": "*", "op": "lambda.CreateFunction",
              "ua": "sockerless-backend-lambda/0.1.0"},
             {"action": "ecs:CreateCluster", "resource": "*", "op": "ecs.CreateCluster",
              "ua": "Botocore/1.29"},
             {"action": "iam:PassRole", "resource": "arn:aws:iam::1:role/other",
              "op": "ecs.RegisterTaskDefinition", "ua": me}]
    log.write_text("".join(json.dumps(l) + "\n" for l in lines))
    policy = tmp_path / "p.json"
    policy.write_text(json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["ecs:RunTask", "ecs:StopTask"], "Resource": "*"},
        {"Effect": "Allow", "Action": "iam:PassRole",
         "Resource": "arn:aws:iam::*:role/ecsTaskExecutionRole"}]}))
    out = io.StringIO()
    assert cp.check("ecs", str(tmp_path), str(policy), out) == 1
    text = out.getvalue()
    assert "DENIED iam:PassRole on arn:aws:iam::1:role/other" in text
    assert "CreateCluster" not in text  # the provisioning's call (Botocore)
    assert "CreateFunction" not in text  # another backend's
    assert "unused ecs:StopTask" in text


@pytest.mark.parametrize("backend", sorted(cp.BACKENDS))
def test_policy_files_load(backend):
    policy = cp.load_policy(os.path.join(cp.IAM_DIR, cp.BACKENDS[backend][1]))
    assert policy.actions()
    with open(cp.EXPECT) as f:
        expected = json.load(f).get(backend, {}).get("unused", {})
    # every expected-unused entry names an action of the policy, with a reason
    for action, reason in expected.items():
        assert action in policy.actions(), action
        assert reason.strip()


@pytest.mark.parametrize("name", sorted(f for f in os.listdir(cp.IAM_DIR)
                                        if f.startswith("aws-") and f.endswith(".json")))
def test_aws_files_are_policy_documents(name):
    with open(os.path.join(cp.IAM_DIR, name)) as f:
        doc = json.load(f)
    assert doc["Version"] == "2012-10-17"
    for st in doc["Statement"]:
        assert st["Effect"] in ("Allow", "Deny")
