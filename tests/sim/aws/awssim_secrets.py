"""Secrets Manager (JSON 1.1, secretsmanager): the secrets ECS task
definitions name in repositoryCredentials.credentialsParameter. CreateSecret
(SecretString, Tags), GetSecretValue, DescribeSecret, DeleteSecret (with
ForceDeleteWithoutRecovery, or a recovery window), ListSecrets (tag-key /
tag-value / name filters) and TagResource. Inputs are checked against
botocore's model by the dispatcher; the rules below are the service's."""

import secrets
import threading
import uuid

from awssim_shapes import service_model
from awssim_util import AwsError, now, paginate


class SecretsService:
    name = "secretsmanager"

    def __init__(self, region, account):
        self.model = service_model("secretsmanager")
        self.region = region
        self.account = account
        self._lock = threading.Lock()
        self._secrets = {}  # ARN -> record
        self.version = 0
        self.operations = {
            "CreateSecret": self.create_secret,
            "GetSecretValue": self.get_secret_value,
            "DescribeSecret": self.describe_secret,
            "DeleteSecret": self.delete_secret,
            "ListSecrets": self.list_secrets,
            "TagResource": self.tag_resource,
        }

    def snapshot(self):
        with self._lock:
            return list(self._secrets.values())

    def restore(self, records):
        with self._lock:
            self._secrets = {r["ARN"]: r for r in records}

    def _find(self, secret_id, deleted_ok=False):
        """By ARN or name (the live one); ResourceNotFoundException
        otherwise, as the service words it."""
        for r in self._secrets.values():
            if secret_id in (r["ARN"], r["Name"]):
                if r.get("DeletedDate") and not deleted_ok:
                    raise AwsError("InvalidRequestException",
                                   "You can't perform this operation on the secret because "
                                   "it was marked for deletion.")
                return r
        raise AwsError("ResourceNotFoundException",
                       "Secrets Manager can't find the specified secret.")

    def lookup(self, secret_id):
        """The SecretString of a live secret (for ECS's pull), or None."""
        with self._lock:
            try:
                r = self._find(secret_id)
            except AwsError:
                return None
            return r.get("SecretString")

    def create_secret(self, params, call):
        name = params["Name"]
        if not params.get("SecretString") and not params.get("SecretBinary"):
            raise AwsError("InvalidRequestException",
                           "You must provide either SecretString or SecretBinary.")
        with self._lock:
            for r in self._secrets.values():
                if r["Name"] == name:
                    if r.get("DeletedDate"):
                        raise AwsError("InvalidRequestException",
                                       "You can't create this secret because a secret with "
                                       "this name is already scheduled for deletion.")
                    raise AwsError("ResourceExistsException",
                                   "The operation failed because the secret %s already "
                                   "exists." % name)
            arn = "arn:aws:secretsmanager:%s:%s:secret:%s-%s" % (
                self.region, self.account, name, secrets.token_hex(3))
            vid = params.get("ClientRequestToken") or str(uuid.uuid4())
            r = {"ARN": arn, "Name": name, "VersionId": vid,
                 "SecretString": params.get("SecretString"),
                 "Description": params.get("Description"),
                 "Tags": list(params.get("Tags") or []),
                 "CreatedDate": now()}
            self._secrets[arn] = r
            self.version += 1
        return {"ARN": arn, "Name": name, "VersionId": vid}

    def get_secret_value(self, params, call):
        with self._lock:
            r = self._find(params["SecretId"])
            return {"ARN": r["ARN"], "Name": r["Name"], "VersionId": r["VersionId"],
                    "SecretString": r["SecretString"], "VersionStages": ["AWSCURRENT"],
                    "CreatedDate": r["CreatedDate"]}

    def _describe(self, r):
        out = {"ARN": r["ARN"], "Name": r["Name"], "Tags": r["Tags"],
               "CreatedDate": r["CreatedDate"]}
        if r.get("Description"):
            out["Description"] = r["Description"]
        if r.get("DeletedDate"):
            out["DeletedDate"] = r["DeletedDate"]
        return out

    def describe_secret(self, params, call):
        with self._lock:
            return self._describe(self._find(params["SecretId"], deleted_ok=True))

    def delete_secret(self, params, call):
        force = params.get("ForceDeleteWithoutRecovery")
        window = params.get("RecoveryWindowInDays")
        if force and window is not None:
            raise AwsError("InvalidParameterException",
                           "You can't use ForceDeleteWithoutRecovery in conjunction with "
                           "RecoveryWindowInDays.")
        if window is not None and not 7 <= window <= 30:
            raise AwsError("InvalidParameterException",
                           "The RecoveryWindowInDays value must be between 7 and 30 days "
                           "(inclusive).")
        with self._lock:
            r = self._find(params["SecretId"], deleted_ok=True)
            when = now() if force else now() + 86400 * (window or 30)
            if force:
                del self._secrets[r["ARN"]]
            else:
                r["DeletedDate"] = when
            self.version += 1
            return {"ARN": r["ARN"], "Name": r["Name"], "DeletionDate": when}

    def list_secrets(self, params, call):
        filters = params.get("Filters") or []
        with self._lock:
            out = []
            for r in sorted(self._secrets.values(), key=lambda x: x["CreatedDate"]):
                if r.get("DeletedDate") and not params.get("IncludePlannedDeletion"):
                    continue
                if all(_matches(r, f) for f in filters):
                    out.append(self._describe(r))
        page, token = paginate(out, {"nextToken": params.get("NextToken"),
                                     "MaxResults": params.get("MaxResults")},
                               "MaxResults", 100, "InvalidNextTokenException")
        res = {"SecretList": page}
        if token:
            res["NextToken"] = token
        return res

    def tag_resource(self, params, call):
        with self._lock:
            r = self._find(params["SecretId"])
            tags = {t["Key"]: t for t in r["Tags"]}
            for t in params["Tags"]:
                tags[t["Key"]] = t
            r["Tags"] = list(tags.values())
            self.version += 1
        return {}


def _matches(r, f):
    key, values = f.get("Key"), f.get("Values") or []
    if key == "name":
        return any(r["Name"].startswith(v) for v in values)
    if key == "tag-key":
        return any(t["Key"] in values for t in r["Tags"])
    if key == "tag-value":
        return any(t["Value"] in values for t in r["Tags"])
    if key == "all":
        return any(v in r["Name"] or any(v in (t["Key"], t["Value"]) for t in r["Tags"])
                   for v in values)
    raise AwsError("InvalidParameterException", "Invalid filter key: %s" % key)
