"""The Docker engine under the Azure simulator: the AWS simulator's Engine
(tests/sim/aws/awssim_engine.py, imported by path, as the GCP simulator's
gcpsim_engine does) with Azure Container Registry names mapped to the
local registry behind the simulated registry host:
`<name>.azurecr.io/<repo>` and the simulator's own ACR host
(127.0.0.1:<acr port>/<repo>) both resolve to `<registry>/<repo>`, the
path the ACR host (azuresim_acr) stores pushes under."""

import os
import re
import sys

AWS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "aws")
if AWS_DIR not in sys.path:
    sys.path.append(AWS_DIR)

import awssim_engine  # noqa: E402
from awssim_engine import EngineError  # noqa: E402 (for the modules)

# The label the reused methods put on containers; its .owner value (the
# simulator's state directory) tells the simulators' containers apart.
LABEL = awssim_engine.LABEL
__all__ = ["Engine", "EngineError", "LABEL"]
ACR_HOST = re.compile(r"^[a-z0-9][a-z0-9-]*\.azurecr\.(io|cn|us)$", re.IGNORECASE)


class Engine(awssim_engine.Engine):
    def __init__(self, url, registry, owner="", acr_host=None):
        super().__init__(url, registry, owner)
        self.acr_host = acr_host

    def resolve(self, image):
        first, sep, rest = image.partition("/")
        if sep and (ACR_HOST.match(first) or first == self.acr_host):
            return "%s/%s" % (self.registry, rest)
        return super().resolve(image)
