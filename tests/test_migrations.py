"""The default preset's migrations build exactly the models' schema, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

from tests.support.services import PostgresServer, postgres
from tests.support.tools import clean_env, run
from tests.support.variants import presets

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.support.render import Renderer

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("default")]

DEFAULT = next(v for v in presets() if v.id == "default")


@pytest.fixture(scope="module")
def project(renderer: Renderer) -> Path:
    """Return the default preset, installed."""
    return renderer.installed(DEFAULT.answers)


@pytest.fixture(scope="module")
def server() -> Iterator[PostgresServer]:
    """Yield a throwaway PostgreSQL server."""
    with postgres() as pg:
        yield pg


def alembic(project: Path, database_url: str, *args: str) -> str:
    """Run Alembic in the project against `database_url`; return what it printed."""
    env = clean_env(DATABASE_URL=database_url)
    result = run([str(project / ".venv" / "bin" / "alembic"), *args], cwd=project, env=env)
    return result.stdout + result.stderr


def test_migrations_match_the_models_on_sqlite(project: Path, tmp_path: Path) -> None:
    """`alembic upgrade head` then `alembic check` finds nothing to add on SQLite."""
    url = f"sqlite:///{tmp_path / 'migrated.db'}"
    alembic(project, url, "upgrade", "head")
    assert "No new upgrade operations detected" in alembic(project, url, "check")


def test_migrations_match_the_models_on_postgresql(project: Path, server: PostgresServer) -> None:
    """`alembic upgrade head` then `alembic check` finds nothing to add on PostgreSQL."""
    url = server.create_database("migrations")
    alembic(project, url, "upgrade", "head")
    assert "No new upgrade operations detected" in alembic(project, url, "check")


def test_migrations_downgrade_to_an_empty_database(project: Path, server: PostgresServer) -> None:
    """`downgrade base` after `upgrade head` reverts every migration: no table but Alembic's."""
    url = server.create_database("roundtrip")
    alembic(project, url, "upgrade", "head")
    head = re.search(r"^(\w+) \(head\)$", alembic(project, url, "heads"), re.MULTILINE)
    assert head is not None
    assert public_tables(server, url) > {"alembic_version"}
    assert f"{head[1]} (head)" in alembic(project, url, "current")

    alembic(project, url, "downgrade", "base")

    assert head[1] not in alembic(project, url, "current")
    assert public_tables(server, url) == {"alembic_version"}


def public_tables(server: PostgresServer, url: str) -> set[str]:
    """Return the tables of the database at `url`, in its public schema."""
    query = "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
    result = run([str(server.bindir / "psql"), "-Atc", query, url], None)
    return set(result.stdout.split())
