"""Every variant passes its own lint, format, type and test gates, as its README runs them."""

from __future__ import annotations

import re
import shutil
import subprocess
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


# Mistakes in the rendered task service that mypy --strict must refuse: each replaces a piece of
# `services/tasks.py` (found exactly once) and is reported by the start of the message given.
SERVICE_MISTAKES = [
    # An update that assigns a field the model does not have.
    ("task.title = changes.title", "task.titel = changes.title", '"Task" has no attribute "titel"'),
    # A creation that reads a field the schema does not have.
    ('"title": data.title,', '"title": data.titel,', '"TaskCreate" has no attribute "titel"'),
    # A sort key left without its column.
    (
        "        case SortKey.UPDATED_AT:\n            return _TASKS.updated_at\n",
        "",
        "Missing return statement",
    ),
]


MINIMAL = [v for v in presets() if v.id == "minimal"]


@pytest.mark.parametrize(
    "variant", [pytest.param(v, id=v.id, marks=pytest.mark.xdist_group(v.id)) for v in MINIMAL]
)
def test_mypy_refuses_wrong_field_names_in_the_services(
    renderer: Renderer, variant: Variant, mypy_cache: Path, tmp_path: Path
) -> None:
    """A field the model or schema lacks, or a sort key without a column, fails mypy --strict."""
    project = renderer.installed(variant.answers)
    shutil.copytree(project / "src", tmp_path / "src")
    shutil.copy(project / "pyproject.toml", tmp_path)
    [service] = (tmp_path / "src").glob("*/services/tasks.py")
    text = service.read_text()
    for old, new, _ in SERVICE_MISTAKES:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    service.write_text(text)

    result = subprocess.run(
        [str(project / ".venv" / "bin" / "mypy"), "--strict", str(service.relative_to(tmp_path))],
        cwd=tmp_path,
        env=clean_env(MYPY_CACHE_DIR=str(mypy_cache)),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )

    pattern = r"^src/\S+/services/tasks\.py:\d+: error: (.*)$"
    errors = re.findall(pattern, result.stdout, re.MULTILINE)
    assert len(errors) == len(SERVICE_MISTAKES), result.stdout + result.stderr
    for _, _, message in SERVICE_MISTAKES:
        assert [error for error in errors if error.startswith(message)], (message, errors)


def test_passes_its_own_tests_with_coverage(installed: Path) -> None:
    """The generated test suite passes and meets its branch-coverage gate, on SQLite.

    The tests that need PostgreSQL as the job broker are left to the PostgreSQL run below.
    """
    # Only a project with background jobs has (and declares) the `postgresql` marker.
    has_jobs = any(installed.glob("src/*/job_worker.py"))
    result = run(
        [
            *("uv", "run", "--no-sync", "pytest", "--cov", "-q", "-p", "no:cacheprovider"),
            *(("-m", "not postgresql") if has_jobs else ()),
        ],
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
