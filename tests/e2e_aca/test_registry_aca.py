"""Private registries on Container Apps jobs: the shared tests of
tests/e2e/test_registry_auth.py, with the backend swapped to aca, where the
remembered credentials become the job's registries entry (username, and the
password as a job secret) for the replica's own pull
(docs/registries.md)."""
from test_registry_auth import (areg, dcfg, test_login_cli,  # noqa: F401
                                test_login_dockerpy, test_pull_without_credentials,
                                test_run_private)
