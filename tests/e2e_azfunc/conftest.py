"""Fixtures of the Azure Functions (azfunc) end-to-end suite: the same helpers as tests/e2e
(e2e_lib, backend_suite), run against a stack whose backend is
sockerless-backend-azfunc. tests/run.sh swaps the backend of the running
stack to azfunc before this suite, without restarting the frontend."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))

import backend_suite  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))

globals().update(backend_suite.fixtures(HERE, "azfunc", "skaz"))
