"""Fixtures shared by the template's tests."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.support.render import Renderer

if TYPE_CHECKING:
    from pytest_copie.plugin import Copie


@pytest.fixture(scope="session")
def renderer(copie_session: Copie) -> Renderer:
    """Renders each answer set once per session."""
    return Renderer(copie_session)
