"""Fixtures shared by the template's tests."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.support import report
from tests.support.kubernetes import KustomizationCache
from tests.support.render import Renderer

if TYPE_CHECKING:
    from pytest_copie.plugin import Copie

pytest_plugins = ["tests.docker_fixtures"]


def pytest_configure(config: pytest.Config) -> None:
    """Name the file where every test process records its figures."""
    del config
    report.start()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the measured figures (image sizes, build and start times)."""
    lines = report.summary()
    if lines:
        terminalreporter.section("measured figures")
        for line in lines:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def renderer(copie_session: Copie) -> Renderer:
    """Return the renderer that renders each answer set once per session."""
    return Renderer(copie_session)


@pytest.fixture(scope="session")
def kustomization_cache(tmp_path_factory: pytest.TempPathFactory) -> KustomizationCache:
    """Return the cache that builds each rendered project's kustomizations once per session."""
    return KustomizationCache(tmp_path_factory.mktemp("kustomizations"))
