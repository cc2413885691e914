"""Private registries on Lambda: the shared tests of
tests/e2e/test_registry_auth.py, with the backend swapped to lambda, where
the remembered credentials are the source of the derived image's copy into
the cloud's registry (docs/registries.md)."""
from test_registry_auth import (areg, dcfg, test_login_cli,  # noqa: F401
                                test_login_dockerpy, test_pull_without_credentials,
                                test_run_private)
