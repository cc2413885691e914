"""ECR (JSON 1.1, AmazonEC2ContainerRegistry_V20150921): authorization tokens
and repository records. Images themselves live in the local registry given
with --registry; repositoryUri and proxyEndpoint carry the real ECR host
(<account>.dkr.ecr.<region>.amazonaws.com), which the simulator's engine
resolves to that registry."""

import base64
import secrets
import threading

from awssim_shapes import service_model
from awssim_util import AwsError, now, paginate

TOKEN_LIFETIME = 12 * 3600


class EcrService:
    name = "ecr"

    def __init__(self, region, account, registry):
        self.model = service_model("ecr")
        self.region = region
        self.account = account
        self.registry = registry
        # The registry host AWS names; the engine maps it to --registry.
        self.host = "%s.dkr.ecr.%s.amazonaws.com" % (account, region)
        self._lock = threading.Lock()
        self._repositories = {}
        self.operations = {
            "GetAuthorizationToken": self.get_authorization_token,
            "CreateRepository": self.create_repository,
            "DescribeRepositories": self.describe_repositories,
        }

    def snapshot(self):
        with self._lock:
            return list(self._repositories.values())

    def restore(self, repositories):
        with self._lock:
            self._repositories = {r["repositoryName"]: r for r in repositories}

    def get_authorization_token(self, params, call):
        token = base64.b64encode(b"AWS:" + secrets.token_urlsafe(48).encode()).decode()
        return {"authorizationData": [{
            "authorizationToken": token,
            "expiresAt": now() + TOKEN_LIFETIME,
            "proxyEndpoint": "https://" + self.host,
        }]}

    def create_repository(self, params, call):
        name = params["repositoryName"]
        with self._lock:
            if name in self._repositories:
                raise AwsError("RepositoryAlreadyExistsException",
                               "The repository with name '%s' already exists in the registry "
                               "with id '%s'" % (name, self.account))
            repository = self._repositories[name] = {
                "repositoryArn": "arn:aws:ecr:%s:%s:repository/%s" % (self.region, self.account, name),
                "registryId": self.account,
                "repositoryName": name,
                "repositoryUri": "%s/%s" % (self.host, name),
                "createdAt": now(),
                "imageTagMutability": params.get("imageTagMutability", "MUTABLE"),
                "imageScanningConfiguration": params.get("imageScanningConfiguration",
                                                         {"scanOnPush": False}),
                "encryptionConfiguration": params.get("encryptionConfiguration",
                                                      {"encryptionType": "AES256"}),
            }
        return {"repository": repository}

    def describe_repositories(self, params, call):
        with self._lock:
            names = params.get("repositoryNames")
            for name in names or []:
                if name not in self._repositories:
                    raise AwsError("RepositoryNotFoundException",
                                   "The repository with name '%s' does not exist in the registry "
                                   "with id '%s'" % (name, self.account))
            repositories = [r for n, r in sorted(self._repositories.items())
                            if names is None or n in names]
        page, token = paginate(repositories, params, "maxResults", 100)
        out = {"repositories": page}
        if token:
            out["nextToken"] = token
        return out
