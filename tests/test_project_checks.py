"""Every variant passes its own lint, format, type and test gates, as its README runs them."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

from tests.support.services import PostgresServer, RedisServer, postgres, redis
from tests.support.tools import clean_env, run
from tests.support.variants import Variant, all_variants, presets

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.support.render import Renderer

VARIANTS = all_variants()

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def mypy_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One mypy cache per test process, shared by the variants it checks."""
    return tmp_path_factory.mktemp("mypy-cache")


@pytest.fixture(
    params=[pytest.param(v, id=v.id, marks=pytest.mark.xdist_group(v.id)) for v in VARIANTS]
)
def installed(request: pytest.FixtureRequest, renderer: Renderer) -> Path:
    """Return a rendered variant, installed exactly as its README says: `uv sync --locked`."""
    variant: Variant = request.param
    return renderer.installed(variant.answers)


def test_passes_ruff_check(installed: Path) -> None:
    """The generated code is lint-clean under the broad rule set."""
    run(["uv", "run", "--no-sync", "ruff", "check", "."], cwd=installed)


def test_is_already_formatted(installed: Path) -> None:
    """A fresh render needs no reformatting."""
    run(["uv", "run", "--no-sync", "ruff", "format", "--check", "."], cwd=installed)


def test_passes_mypy_strict(installed: Path, mypy_cache: Path) -> None:
    """The generated code type-checks under mypy --strict."""
    env = clean_env(MYPY_CACHE_DIR=str(mypy_cache))
    run(["uv", "run", "--no-sync", "mypy", "--strict"], cwd=installed, env=env)


def test_passes_its_own_tests_with_coverage(installed: Path) -> None:
    """The generated test suite passes and meets its branch-coverage gate."""
    result = run(
        ["uv", "run", "--no-sync", "pytest", "--cov", "-q", "-p", "no:cacheprovider"],
        cwd=installed,
    )
    assert re.search(r"Required test coverage of 90(\.0)?% reached", result.stdout)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL server for the session; each test gets its own database."""
    with postgres() as server:
        yield server


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One throwaway Redis server for the session (each test process runs its own)."""
    with redis() as server:
        yield server


POSTGRES_PRESETS = [v for v in presets() if v.answers["database"] == "postgresql"]


@pytest.mark.parametrize(
    "variant",
    [pytest.param(v, id=v.id, marks=pytest.mark.xdist_group(v.id)) for v in POSTGRES_PRESETS],
)
def test_passes_its_own_tests_on_postgresql(
    renderer: Renderer,
    variant: Variant,
    postgres_server: PostgresServer,
    request: pytest.FixtureRequest,
) -> None:
    """On a real PostgreSQL (and a real Redis when it has one), as its CI runs it, it passes."""
    project = renderer.installed(variant.answers)
    env = {"TEST_DATABASE_URL": postgres_server.create_database(f"tests_{variant.id}")}
    if variant.answers["use_redis"]:
        env["TEST_REDIS_URL"] = request.getfixturevalue("redis_server").url
    result = run(
        ["uv", "run", "--no-sync", "pytest", "--cov", "-q", "-p", "no:cacheprovider"],
        cwd=project,
        env=clean_env(**env),
    )
    assert re.search(r"Required test coverage of 90(\.0)?% reached", result.stdout)
