"""The rendered `scripts/backup.sh`: real dumps of a running service's database, rotated, restored.

PostgreSQL (the default preset, pg_dump against a throwaway server) and SQLite (the minimal
preset): the dumps are taken while gunicorn serves, then restored into a fresh database and
compared with what the API wrote.
"""

from __future__ import annotations

import os
import re
import sqlite3
import stat
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.flow import ApiFlow, User
from tests.support.services import free_port
from tests.support.stack import Stack, running_stack
from tests.support.tools import clean_env
from tests.support.variants import Variant, presets

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.support.render import Renderer

pytestmark = pytest.mark.slow

PRESETS = [v for v in presets() if v.id in {"default", "minimal"}]
TITLES = [f"backed up {n}" for n in range(7)]


@pytest.fixture(
    scope="module",
    params=[
        pytest.param(v, id=v.id, marks=pytest.mark.xdist_group(f"{v.id}-backup")) for v in PRESETS
    ],
)
def preset(request: pytest.FixtureRequest) -> Variant:
    """Return a PostgreSQL preset and a SQLite one."""
    value: Variant = request.param
    return value


@pytest.fixture(scope="module")
def stack(renderer: Renderer, preset: Variant) -> Iterator[Stack]:
    """Yield the preset, serving, with one user who owns the tasks in TITLES."""
    project = renderer.installed(preset.answers)
    with running_stack(project, preset.answers) as running:
        flow = ApiFlow(running.app_url)
        flow.wait_ready()
        user: User = flow.register("backup")
        for title in TITLES:
            created = flow.request(
                "POST", "/api/v1/tasks", json={"title": title}, headers=user.headers
            )
            assert created.status_code == 201
        flow.close()
        yield running


def backup(stack: Stack, directory: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    """Run the project's `scripts/backup.sh` on the stack's database, dumps into `directory`.

    It runs under the umask of most shells and crontabs (022), which leaves new files readable
    by every user of the machine.
    """
    path = os.environ.get("PATH", "")
    if stack.database is not None:
        path = f"{stack.database.bindir}{os.pathsep}{path}"
    env = {"PATH": path, "DATABASE_URL": stack.env["DATABASE_URL"], "BACKUP_DIR": str(directory)}
    return subprocess.run(
        ["scripts/backup.sh"],
        cwd=stack.project,
        env=clean_env(**(env | settings)),
        capture_output=True,
        text=True,
        check=False,
        umask=0o022,
    )


def dumps(directory: Path) -> list[str]:
    """Return the dump files in `directory`, by name."""
    return sorted(path.name for path in directory.iterdir())


def restored_titles(stack: Stack, dump: Path) -> list[str]:
    """Return the task titles of `dump`, restored into a fresh database."""
    if stack.database is None:
        with sqlite3.connect(dump) as copy:
            rows = copy.execute("SELECT title FROM tasks ORDER BY title").fetchall()
        return [title for (title,) in rows]
    server = stack.database
    scratch = server.create_database(f"restored_{dump.stem.replace('-', '_')}")
    restore = [str(server.bindir / "pg_restore"), "--no-owner", "--exit-on-error"]
    subprocess.run([*restore, f"--dbname={scratch}", str(dump)], check=True, capture_output=True)
    shown = subprocess.run(
        [server.bindir / "psql", scratch, "-At", "-c", "SELECT title FROM tasks ORDER BY title"],
        check=True,
        capture_output=True,
        text=True,
    )
    return shown.stdout.split("\n")[:-1]


def test_backups_are_rotated_and_restore_what_the_api_wrote(stack: Stack, tmp_path: Path) -> None:
    """Three backups with BACKUP_KEEP=2 leave the newest two; the newest restores every task."""
    made = []
    for _ in range(3):
        result = backup(stack, tmp_path, BACKUP_KEEP="2")
        assert result.returncode == 0, result.stderr
        made += re.findall(r"^backed up to (.+)$", result.stdout, re.MULTILINE)

    assert len(set(made)) == 3
    assert dumps(tmp_path) == sorted(Path(name).name for name in made[1:])
    assert restored_titles(stack, Path(made[-1])) == sorted(TITLES)


def test_dumps_are_readable_by_their_owner_only(stack: Stack, tmp_path: Path) -> None:
    """A dump holds password hashes: it is mode 0600, and a BACKUP_DIR the script makes is 0700."""
    directory = tmp_path / "backups"

    result = backup(stack, directory)

    assert result.returncode == 0, result.stderr
    [dump] = directory.iterdir()
    assert dump.stat().st_size > 0
    assert stat.S_IMODE(dump.stat().st_mode) == 0o600
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700


def test_failed_backup_leaves_no_partial_dump_and_deletes_nothing(
    stack: Stack, tmp_path: Path
) -> None:
    """A backup that cannot reach its database fails loudly and keeps the dumps it had."""
    assert backup(stack, tmp_path, BACKUP_KEEP="1").returncode == 0
    kept = dumps(tmp_path)
    unreachable = (
        f"postgresql://nobody:secret@127.0.0.1:{free_port()}/none"
        if stack.database is not None
        else f"sqlite:///{tmp_path / 'missing.db'}"
    )

    result = backup(stack, tmp_path, BACKUP_KEEP="1", DATABASE_URL=unreachable)

    assert result.returncode != 0
    assert result.stderr.strip()
    assert dumps(tmp_path) == kept


def test_bad_keep_count_is_refused_with_the_fix(stack: Stack, tmp_path: Path) -> None:
    """BACKUP_KEEP must be a whole number of at least 1; the message says so."""
    result = backup(stack, tmp_path, BACKUP_KEEP="0")

    assert result.returncode == 2
    assert "BACKUP_KEEP must be a whole number of at least 1" in result.stderr
    assert not list(tmp_path.iterdir())
