"""The Docker engine under the GCP simulator: the AWS simulator's Engine
(tests/sim/aws/awssim_engine.py, imported by path) with Google's image
names mapped to the local registry behind the simulated Artifact
Registry: `<region>-docker.pkg.dev/<project>/<repo>/<image>`, gcr.io
names and the simulator's own Artifact Registry host (127.0.0.1:<ar
port>) all resolve to `<registry>/<project>/<repo>/<image>`, the path
the Artifact Registry host (gcpsim_ar) stores pushes under."""

import os
import re
import sys

AWS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "aws")
if AWS_DIR not in sys.path:
    sys.path.append(AWS_DIR)

import awssim_engine  # noqa: E402
from awssim_engine import EngineError  # noqa: E402 (for the modules)

# The label the reused methods put on containers; its .owner value (the
# simulator's state directory) tells the two simulators' containers apart.
LABEL = awssim_engine.LABEL
__all__ = ["Engine", "EngineError", "LABEL"]
AR_HOST = re.compile(r"^[a-z0-9-]+-docker\.pkg\.dev$")
GCR_HOST = re.compile(r"^([a-z]+\.)?gcr\.io$")


class Engine(awssim_engine.Engine):
    def __init__(self, url, registry, owner="", ar_host=None):
        super().__init__(url, registry, owner)
        self.ar_host = ar_host

    def resolve(self, image):
        first, sep, rest = image.partition("/")
        if sep and (AR_HOST.match(first) or GCR_HOST.match(first) or first == self.ar_host):
            return "%s/%s" % (self.registry, rest)
        return super().resolve(image)
