"""Docker fixtures, registered as a plugin in tests/conftest.py (`pytest_plugins`).

Under pytest-xdist each worker runs its own session: the stand-in builds take a machine-wide lock
and are cached by tag, so only the first worker builds.
"""

from __future__ import annotations

import pytest

from tests.support.docker import build_standins, docker_engine
from tests.support.variants import option_values


@pytest.fixture(scope="session")
def docker() -> str:
    """Return the docker CLI of a running engine (CI fails without one; elsewhere tests skip)."""
    return docker_engine()


@pytest.fixture(scope="session")
def standin_images() -> frozenset[str]:
    """Make the official images a render names ready locally: real ones or stand-ins."""
    return build_standins(option_values()["python_version"])
