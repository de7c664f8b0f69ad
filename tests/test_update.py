"""`copier update` moves a project to the next release without losing the team's work.

Each preset is copied from a throwaway `v0.1.0`, edited as a team would, committed and updated
to a `v0.2.0` that adds a setting, changes a header and a README line, adds a guide and renames
a page (with the migration that carries the team's edits along). See docs/updating.md.
"""

from __future__ import annotations

import json
import re
import secrets
import sqlite3
import tomllib
from contextlib import closing
from typing import TYPE_CHECKING

import httpx
import pytest
from copier.errors import UnsafeTemplateError

import copier
from tests.support.services import PostgresServer, postgres, wait_until
from tests.support.stack import Stack, running_stack
from tests.support.tools import clean_env, python_for, run
from tests.support.update import (
    DATABASE,
    DATABASE_BYTES,
    DELETED,
    FIRST,
    NEW_GUIDE,
    NEW_NAME,
    NEW_SETTING,
    NEW_SETTING_EXAMPLE,
    NEXT_RELEASE,
    OLD_NAME,
    OURS,
    PREVIOUS_RELEASE,
    SECOND,
    TEMPLATE_DOCS_LINE,
    TEMPLATE_REFERRER,
    THEIRS,
    USER_CONNECT_TIMEOUT,
    USER_DEPLOY_HEADING,
    USER_DESCRIPTION,
    USER_DOCS_LINE,
    USER_INCLUDE,
    USER_REFERRER,
    USER_ROUTES,
    Project,
    Updated,
    UpdatedProjects,
    conflict,
    copy_project,
    edit_as_user,
    git,
    make_release_repo,
    make_template_repo,
    render,
    snapshot,
    template_settings,
)
from tests.support.variants import ROOT, Variant, presets

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

PRESETS = presets()
BY_ID = {variant.id: variant for variant in PRESETS}
#: The one rendered file that differs between renders: its secrets are generated.
ENV = frozenset({".env"})
JINJA_TAG = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.DOTALL)
#: Copier's filters and globals whose value changes from one render to the next.
UNSTABLE = re.compile(r"\b(random|ans_random|shuffle|strftime|now|make_secret|to_uuid)\b")


def per_preset() -> list[object]:
    """One parameter per preset, each kept on one xdist worker."""
    return [pytest.param(v, id=v.id, marks=pytest.mark.xdist_group(v.id)) for v in PRESETS]


def one_preset(name: str) -> object:
    """Return the preset `name` as the only parameter, on its preset's xdist worker."""
    return pytest.param(BY_ID[name], id=name, marks=pytest.mark.xdist_group(name))


@pytest.fixture(scope="session")
def template_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return this template's working tree as `v0.1.0`, with a `v0.2.0` that renames a page."""
    return make_template_repo(tmp_path_factory.mktemp("template"))


@pytest.fixture(scope="session")
def updated_projects(
    template_repo: Path, tmp_path_factory: pytest.TempPathFactory
) -> UpdatedProjects:
    """Return the presets' updated projects, each made on first use."""
    return UpdatedProjects(template_repo, tmp_path_factory.mktemp("updated"))


@pytest.fixture(params=per_preset())
def updated(request: pytest.FixtureRequest, updated_projects: UpdatedProjects) -> Updated:
    """Return the preset's project, updated with `copier update --conflict inline` to v0.2.0."""
    variant: Variant = request.param
    return updated_projects.get(variant)


def test_update_brings_the_new_release(updated: Updated) -> None:
    """The new setting, the new guide and the renamed page arrive."""
    project = updated.project
    config = project.read(f"src/{project.package}/core/config.py")
    assert NEW_SETTING in config.splitlines()
    assert (project.path / NEW_GUIDE).is_file()
    assert (project.path / NEW_NAME).is_file()
    assert not (project.path / OLD_NAME).exists()


def test_update_keeps_the_teams_own_changes(updated: Updated) -> None:
    """A new router and its registration, a README line and a changed default all survive."""
    project = updated.project
    package = f"src/{project.package}"
    assert project.read(f"{package}/api/routes/projects.py") == USER_ROUTES
    # The release leaves router.py alone, so it is exactly as the team committed it.
    router = project.read(f"{package}/api/router.py")
    assert router == git("show", f"HEAD:{package}/api/router.py", cwd=project.path)
    assert router.splitlines()[-1] == USER_INCLUDE
    assert USER_DESCRIPTION in project.read("README.md").splitlines()
    assert f"    {USER_CONNECT_TIMEOUT}" in project.read(f"{package}/core/config.py").splitlines()


def test_a_deleted_file_stays_deleted(updated: Updated) -> None:
    """`.env.example` was deleted by the team; the release changed it, and it is not back."""
    assert not (updated.project.path / DELETED).exists()


def test_the_migration_carries_edits_of_a_renamed_page(updated: Updated) -> None:
    """The team's heading in docs/deployment.md is in docs/deploying.md, beside the template's."""
    page = updated.project.read(NEW_NAME)
    assert conflict(USER_DEPLOY_HEADING, "## Start it") in page


def test_overlapping_edits_become_inline_conflicts(updated: Updated) -> None:
    """A line both sides changed holds both versions between markers, never just one of them."""
    project = updated.project
    assert conflict(USER_DOCS_LINE, TEMPLATE_DOCS_LINE) in project.read("README.md")
    expected = {"README.md", NEW_NAME}
    if project.answers["use_nginx"]:
        assert conflict(USER_REFERRER, TEMPLATE_REFERRER) in project.read("nginx/nginx.conf")
        expected.add("nginx/nginx.conf")
    assert project.unmerged() == expected


def test_conflict_markers_fail_git_diff_check(updated: Updated) -> None:
    """`git diff HEAD --check` refuses the update until every conflict is resolved."""
    project = updated.project
    result = project.diff_check()
    flagged = set(re.findall(r"^(.+?):\d+: leftover conflict marker$", result.stdout, re.MULTILINE))
    assert result.returncode != 0
    assert flagged == project.unmerged()


def test_env_and_local_data_are_untouched(updated: Updated) -> None:
    """`.env` (its generated secrets) and the SQLite data stay byte for byte the same."""
    project = updated.project
    assert (project.path / ".env").read_bytes() == updated.env_before
    assert (project.path / DATABASE).read_bytes() == DATABASE_BYTES


def test_answers_file_names_the_new_release(updated: Updated) -> None:
    """The answers file records v0.2.0 and the same answers."""
    recorded = updated.project.recorded()
    assert recorded["_commit"] == SECOND
    assert {k: recorded[k] for k in updated.project.answers} == updated.project.answers


@pytest.mark.parametrize("variant", [one_preset("minimal")])
def test_an_update_through_a_migration_needs_trust(
    variant: Variant, template_repo: Path, tmp_path: Path
) -> None:
    """Without `--trust`, an update that would run a migration is refused and changes nothing."""
    project = copy_project(template_repo, tmp_path / "project", variant.answers)
    with pytest.raises(UnsafeTemplateError):
        project.update(SECOND, trust=False)
    assert git("status", "--porcelain", cwd=project.path) == ""
    assert project.recorded()["_commit"] == FIRST


@pytest.mark.parametrize("variant", [one_preset("minimal")])
def test_without_the_migration_a_renamed_page_loses_the_edits(
    variant: Variant, tmp_path: Path
) -> None:
    """Why releases that rename ship a migration: copier alone drops the team's edited page."""
    template = make_template_repo(tmp_path / "template", with_migration=False)
    project = copy_project(template, tmp_path / "project", variant.answers)
    edit_as_user(project)
    project.update(SECOND, trust=False)
    assert not (project.path / OLD_NAME).exists()
    assert USER_DEPLOY_HEADING not in project.read(NEW_NAME)
    assert USER_DEPLOY_HEADING in git("show", f"HEAD:{OLD_NAME}", cwd=project.path)


@pytest.mark.parametrize("variant", [one_preset("default")])
def test_rej_mode_leaves_the_teams_lines_in_rej_files(
    variant: Variant, template_repo: Path, tmp_path: Path
) -> None:
    """With `--conflict rej`, the file takes the template's line and the team's goes to a .rej."""
    project = copy_project(template_repo, tmp_path / "project", variant.answers)
    edit_as_user(project)
    project.update(SECOND, conflict="rej")
    rejected = {p.relative_to(project.path).as_posix() for p in project.path.rglob("*.rej")}
    assert rejected == {"README.md.rej", "nginx/nginx.conf.rej", f"{NEW_NAME}.rej"}
    assert TEMPLATE_REFERRER in project.read("nginx/nginx.conf").splitlines()
    assert f"+{USER_REFERRER}" in project.read("nginx/nginx.conf.rej").splitlines()
    assert project.unmerged() == set()
    ignored = git("status", "--short", "--ignored", "--", "*.rej", cwd=project.path)
    assert sorted(ignored.splitlines()) == sorted(f"!! {name}" for name in rejected)


@pytest.mark.parametrize("variant", per_preset())
def test_recopy_rerenders_and_keeps_answers_and_env(
    variant: Variant, template_repo: Path, tmp_path: Path
) -> None:
    """`copier recopy` renders v0.2.0 afresh: answers and `.env` kept, template files reset."""
    project = copy_project(template_repo, tmp_path / "project", variant.answers)
    edit_as_user(project)
    env_before = (project.path / ".env").read_bytes()
    project.recopy(SECOND)
    recorded = project.recorded()
    assert recorded["_commit"] == SECOND
    assert {k: recorded[k] for k in variant.answers} == variant.answers
    assert (project.path / ".env").read_bytes() == env_before
    # The team's edits to template files are replaced, without conflicts: `git diff` has them.
    readme = project.read("README.md").splitlines()
    assert USER_DESCRIPTION not in readme
    assert TEMPLATE_DOCS_LINE in readme
    assert USER_INCLUDE not in project.read(f"src/{project.package}/api/router.py")
    assert project.unmerged() == set()
    assert project.diff_check().returncode == 0
    assert f"-{USER_DESCRIPTION}" in git("diff", "--", "README.md", cwd=project.path).splitlines()
    # Files the template does not render stay; a deleted file comes back; no migration runs.
    assert project.read(f"src/{project.package}/api/routes/projects.py") == USER_ROUTES
    assert NEW_SETTING_EXAMPLE in project.read(DELETED).splitlines()
    assert (project.path / OLD_NAME).is_file()
    assert (project.path / NEW_NAME).is_file()


@pytest.mark.parametrize("variant", [one_preset("default")])
def test_check_update_reports_a_newer_release(
    variant: Variant, template_repo: Path, updated_projects: UpdatedProjects, tmp_path: Path
) -> None:
    """`copier check-update` names v0.2.0 (exit 2 with --quiet) until the project has it."""
    behind = copy_project(template_repo, tmp_path / "project", variant.answers)
    report = json.loads(behind.check_update("--output-format", "json").stdout)
    assert report == {
        "update_available": True,
        "current_version": "0.1.0",
        "latest_version": "0.2.0",
    }
    assert behind.check_update("--quiet").returncode == 2
    assert updated_projects.get(variant).project.check_update("--quiet").returncode == 0


@pytest.mark.parametrize("variant", per_preset())
def test_renders_are_reproducible(variant: Variant, template_repo: Path, tmp_path: Path) -> None:
    """Two renders of the same answers are identical but for `.env`: no dates, no random values."""
    first = snapshot(render(template_repo, tmp_path / "first", variant.answers), skip=ENV)
    second = snapshot(render(template_repo, tmp_path / "second", variant.answers), skip=ENV)
    assert sorted(first) == sorted(second)
    assert [name for name in first if first[name] != second[name]] == []


def test_only_env_renders_random_or_time_dependent_values() -> None:
    """No Jinja tag outside `.env.jinja` draws a random value or reads the clock."""
    sources = [p for p in (ROOT / "template").rglob("*") if p.is_file() and p.name != ".env.jinja"]
    offending = [
        f"{path.relative_to(ROOT)}: {tag}"
        for path in sources
        for text in (
            str(path.relative_to(ROOT)),
            path.read_text() if path.suffix == ".jinja" else "",
        )
        for tag in JINJA_TAG.findall(text)
        if UNSTABLE.search(tag)
    ]
    assert offending == []


@pytest.fixture(scope="module", params=[one_preset("minimal")])
def with_redis(
    request: pytest.FixtureRequest, template_repo: Path, tmp_path_factory: pytest.TempPathFactory
) -> Project:
    """Return the minimal preset, updated with `copier update --defaults --data use_redis=true`."""
    variant: Variant = request.param
    assert variant.answers["use_redis"] is False
    project = copy_project(
        template_repo, tmp_path_factory.mktemp("redis") / "project", variant.answers
    )
    project.update(copier.VcsRef.CURRENT, data={"use_redis": True}, trust=False)
    return project


def test_changing_an_answer_adds_its_files_and_locks_them(with_redis: Project) -> None:
    """use_redis=true adds the Redis feature, its tests and its locked dependency."""
    package = f"src/{with_redis.package}"
    for name in (f"{package}/features/redis.py", "tests/test_redis.py", "tests/redis_fixtures.py"):
        assert (with_redis.path / name).is_file(), name
    recorded = with_redis.recorded()
    assert (recorded["use_redis"], recorded["_commit"]) == (True, FIRST)
    assert 'name = "redis"' in with_redis.read("uv.lock").splitlines()
    python = python_for(with_redis.answers["python_version"])
    run(["uv", "lock", "--check", "--offline", "--python", python], cwd=with_redis.path)


@pytest.mark.slow
def test_after_changing_an_answer_the_project_passes_its_checks(
    with_redis: Project, tmp_path: Path
) -> None:
    """The updated project installs from its lock and passes its lint, types and tests."""
    cwd = with_redis.path
    python = python_for(with_redis.answers["python_version"])
    run(["uv", "sync", "--locked", "--python", python], cwd=cwd)
    run(["uv", "run", "--no-sync", "ruff", "check", "."], cwd=cwd)
    run(["uv", "run", "--no-sync", "ruff", "format", "--check", "."], cwd=cwd)
    env = clean_env(MYPY_CACHE_DIR=str(tmp_path / "mypy-cache"))
    run(["uv", "run", "--no-sync", "mypy", "--strict"], cwd=cwd, env=env)
    run(["uv", "run", "--no-sync", "pytest", "--cov", "-q", "-p", "no:cacheprovider"], cwd=cwd)


def test_message_after_update_names_the_follow_ups() -> None:
    """The message after an update says how to find conflicts and what to run next."""
    message = str(template_settings()["_message_after_update"])
    for step in ("git diff", "<<<<<<<", "*.rej", "uv sync --locked", "alembic upgrade head"):
        assert step in message, step


def test_message_after_copy_migrates_before_serving() -> None:
    """The next steps after a copy install, create the tables, then serve, in that order."""
    message = str(template_settings()["_message_after_copy"])
    steps = ["uv sync --locked", "uv run alembic upgrade head", "uv run fastapi dev"]
    positions = [message.find(step) for step in steps]
    assert -1 not in positions, message
    assert positions == sorted(positions)


def test_changelog_describes_the_version_in_pyproject() -> None:
    """The newest release in CHANGELOG.md is the version pyproject.toml declares."""
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    changelog = (ROOT / "CHANGELOG.md").read_text()
    releases = re.findall(r"^## \[(\d+\.\d+\.\d+)\]", changelog, re.MULTILINE)
    assert releases[:1] == [version]


def sqlite_rows(database: Path, *statements: str) -> list[tuple[object, ...]]:
    """Run `statements` on `database`, foreign keys on; return the last one's rows."""
    with closing(sqlite3.connect(database)) as db:
        db.execute("PRAGMA foreign_keys = ON")
        rows = [db.execute(statement).fetchall() for statement in statements]
        db.commit()
    return rows[-1]


def install(project: Project) -> None:
    """Install the project as its README says: `uv sync --locked`."""
    python = python_for(project.answers["python_version"])
    run(["uv", "sync", "--locked", "--python", python], cwd=project.path)


def installed_alembic(project: Project, database: Path | str, *arguments: str) -> str:
    """`uv sync --locked`, then `alembic ARGUMENTS` on `database` (a SQLite file or a URL).

    Return what Alembic printed.
    """
    install(project)
    url = database if isinstance(database, str) else f"sqlite:///{database}"
    env = clean_env(DATABASE_URL=url)
    result = run(
        [str(project.path / ".venv" / "bin" / "alembic"), *arguments], cwd=project.path, env=env
    )
    return result.stdout + result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("variant", [one_preset("minimal")])
def test_updating_a_populated_sqlite_project_keeps_its_data_and_never_reuses_an_id(
    variant: Variant, tmp_path: Path
) -> None:
    """A v0.3.1 database, whose newest user was deleted, survives the update; no id comes back.

    The project is copied from the real v0.3.1 release, migrated and filled, then updated to this
    working tree with `copier update` and migrated with `alembic upgrade head`.
    """
    template = make_release_repo(tmp_path / "template")
    project = copy_project(template, tmp_path / "project", variant.answers, ref=PREVIOUS_RELEASE)
    database = project.path / DATABASE
    database.parent.mkdir()
    installed_alembic(project, database, "upgrade", "head")
    sqlite_rows(
        database,
        "INSERT INTO users (email, username, hashed_password) VALUES "
        "('user1@example.com', 'user1', 'hash1'), ('user2@example.com', 'user2', 'hash2'), "
        "('user3@example.com', 'user3', 'hash3')",
        "INSERT INTO tasks (title, status, owner_id) VALUES "
        "('one', 'done', 1), ('two', 'todo', 2), ('three', 'todo', 3), ('four', 'in_progress', 2)",
        "DELETE FROM users WHERE username = 'user3'",
    )
    users_before = sqlite_rows(database, "SELECT * FROM users ORDER BY id")
    tasks_before = sqlite_rows(database, "SELECT * FROM tasks ORDER BY id")
    assert [row[0] for row in users_before] == [1, 2]

    project.update(NEXT_RELEASE)
    migrated = installed_alembic(project, database, "upgrade", "head")
    checked = installed_alembic(project, database, "check")

    assert project.recorded()["_commit"] == NEXT_RELEASE
    assert "Running upgrade 7c0a5e2d9f14" in migrated
    assert "No new upgrade operations detected" in checked
    users_after = sqlite_rows(database, "SELECT * FROM users ORDER BY id")
    # The columns of v0.3.1, then those added since: token_version, role and email_verified_at.
    assert [row[: len(users_before[0])] for row in users_after] == users_before
    added = [(0, "user", None), (0, "user", None)]
    assert [row[len(users_before[0]) :] for row in users_after] == added
    assert sqlite_rows(database, "SELECT * FROM tasks ORDER BY id") == tasks_before
    [(new_id,)] = sqlite_rows(
        database,
        "INSERT INTO users (email, username, hashed_password) "
        "VALUES ('new@example.com', 'new', 'hash4')",
        "SELECT id FROM users WHERE username = 'new'",
    )
    assert isinstance(new_id, int)
    assert new_id > 3


#: The last release with the grab-bag `core/`, and the one that moved its modules to their layers.
CORE_RELEASE = "v1.0.0"
LAYERED_RELEASE = "v2.0.0"
#: Where 2.0.0 moved them (copier.yml's migration), and a line the team added to each.
MOVED_MODULES = {"core/security.py": "services/security.py", "core/errors.py": "api/errors.py"}
TEAM_LINE = "# The team's own note, kept across the move.\n"


@pytest.mark.slow
@pytest.mark.parametrize("variant", [one_preset("default")])
def test_modules_moved_out_of_core_keep_the_teams_edits(variant: Variant, tmp_path: Path) -> None:
    """A team's edits to `core/security.py` and `core/errors.py` arrive in their new homes.

    The project is copied from the real 1.0.0 release and edited; the update to this working
    tree runs the migration, which moves the files with git before the release is merged in.
    """
    template = make_release_repo(
        tmp_path / "template", previous=CORE_RELEASE, next_release=LAYERED_RELEASE
    )
    project = copy_project(template, tmp_path / "project", variant.answers, ref=CORE_RELEASE)
    package = project.path / "src" / project.package
    for old in MOVED_MODULES:
        (package / old).write_text((package / old).read_text() + TEAM_LINE)
    git("commit", "--quiet", "--no-verify", "-am", "The team's notes", cwd=project.path)

    project.update(LAYERED_RELEASE)

    assert project.recorded()["_commit"] == LAYERED_RELEASE
    for old, new in MOVED_MODULES.items():
        assert not (package / old).exists()
        assert TEAM_LINE in (package / new).read_text()


#: The release before background jobs, and the migration that adds their tables.
JOBLESS_RELEASE = "v1.0.0"
JOBS_REVISION = "82b9646bdf3f"
OWNED_TASKS = "SELECT count(*) FROM users JOIN tasks ON tasks.owner_id = users.id;"


@pytest.fixture(scope="module")
def postgres_server() -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL server for the module's tests."""
    with postgres() as server:
        yield server


@pytest.mark.slow
@pytest.mark.parametrize("variant", [one_preset("default")])
def test_updating_a_populated_postgresql_project_adds_the_job_tables(
    variant: Variant, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    """A 1.0.0 project on a PostgreSQL database with data gets background jobs from the update.

    The new question takes its default (on, with PostgreSQL); `alembic upgrade head` then adds
    the webhooks table and PGQueuer's schema, keeps every row, and `alembic check` stays clean.
    """
    template = make_release_repo(
        tmp_path / "template", previous=JOBLESS_RELEASE, next_release="v1.1.0"
    )
    answers = {name: value for name, value in variant.answers.items() if name != "background_jobs"}
    project = copy_project(template, tmp_path / "project", answers, ref=JOBLESS_RELEASE)
    url = postgres_server.create_database("update_jobs")
    installed_alembic(project, url, "upgrade", "head")
    postgres_server.sql(
        "update_jobs",
        "INSERT INTO users (email, username, hashed_password) VALUES "
        "('ada@example.com', 'ada', 'hash1'), ('bob@example.com', 'bob', 'hash2'); "
        "INSERT INTO tasks (title, status, owner_id) VALUES ('one', 'done', 1), ('two', 'todo', 2)",
    )
    rows = postgres_server.sql("update_jobs", OWNED_TASKS)

    project.update("v1.1.0")
    migrated = installed_alembic(project, url, "upgrade", "head")
    checked = installed_alembic(project, url, "check")

    assert project.recorded()["background_jobs"] is True
    assert (project.path / "src" / "taskapi" / "job_worker.py").is_file()
    assert f"-> {JOBS_REVISION}" in migrated
    assert "No new upgrade operations detected" in checked
    tables = postgres_server.sql(
        "update_jobs",
        "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables"
        " WHERE schemaname = 'public'",
    )
    assert set(tables.split(",")) >= {"users", "tasks", "webhooks", "pgqueuer", "pgqueuer_log"}
    assert postgres_server.sql("update_jobs", OWNED_TASKS) == rows == "2"


#: The release before sessions: access tokens without `sid`, no refresh tokens.
SESSIONLESS_RELEASE = "v1.0.0"
#: What the working tree is tagged as on top of it.
SESSIONS_RELEASE = "v2.0.0"
ACCOUNT_PASSWORD = "Quiet-Lantern-61"  # noqa: S105 - a test account's password


@pytest.mark.slow
@pytest.mark.parametrize("variant", [one_preset("minimal")])
def test_updating_a_project_with_users_keeps_their_passwords_and_refuses_old_tokens(
    variant: Variant, tmp_path: Path
) -> None:
    """A user of a 1.0.0 service logs in with the same password after the update to sessions.

    The 1.0.0 project is served for real, a user registers and gets an access token; the project
    is updated to this working tree, migrated, and served again on the same database and key.
    The old token gets a clean 401, the stored password hash still verifies, and the new login
    hands out a refresh token. `alembic check` is clean afterwards.
    """
    template = make_release_repo(
        tmp_path / "template", previous=SESSIONLESS_RELEASE, next_release=SESSIONS_RELEASE
    )
    answers = {name: value for name, value in variant.answers.items() if name != "background_jobs"}
    project = copy_project(template, tmp_path / "project", answers, ref=SESSIONLESS_RELEASE)
    database = tmp_path / "users.db"
    settings = {
        "DATABASE_URL": f"sqlite+aiosqlite:///{database}",
        "SECRET_KEY": secrets.token_urlsafe(48),
    }
    credentials = {"username": "ada", "password": ACCOUNT_PASSWORD}
    install(project)
    with running_stack(project.path, variant.answers, settings=settings) as old:
        wait_for_health(old)
        account = {"email": "ada@example.com", **credentials}
        registered = httpx.post(f"{old.base_url}/api/v1/auth/register", json=account)
        old_login = httpx.post(f"{old.base_url}/api/v1/auth/login", json=credentials)
    assert registered.status_code == 201, registered.text
    assert old_login.status_code == 200, old_login.text
    old_token = {"Authorization": f"Bearer {old_login.json()['access_token']}"}

    project.update(SESSIONS_RELEASE)
    # 2.0.0 moved some modules (copier.yml's migration); their merge leaves inline conflicts,
    # which a team that never edited them resolves by taking the release's side.
    take_the_release_side(project)
    install(project)
    with running_stack(project.path, variant.answers, settings=settings) as new:
        wait_for_health(new)
        refused = httpx.get(f"{new.base_url}/api/v1/users/me", headers=old_token)
        login = httpx.post(f"{new.base_url}/api/v1/auth/login", json=credentials)
        me = httpx.get(
            f"{new.base_url}/api/v1/users/me",
            headers={"Authorization": f"Bearer {login.json()['access_token']}"},
        )

    checked = installed_alembic(project, database, "check")
    assert "No new upgrade operations detected" in checked
    assert refused.status_code == 401
    assert refused.json() == {"detail": "Could not validate credentials"}
    assert refused.headers["WWW-Authenticate"] == "Bearer"
    assert login.status_code == 200, login.text
    assert login.json()["refresh_token"]
    assert me.json()["username"] == "ada"


def take_the_release_side(project: Project) -> None:
    """Resolve every inline conflict of the update by keeping what the release brings."""
    blocks = re.compile(rf"^{OURS}\n.*?^=======\n(.*?)^{THEIRS}\n", re.MULTILINE | re.DOTALL)
    for path in (project.path / "src").rglob("*.py"):
        text = path.read_text()
        if OURS in text:
            path.write_text(blocks.sub(r"\1", text))


def wait_for_health(stack: Stack) -> None:
    """Wait until the service of `stack` answers its health check."""

    def healthy() -> bool:
        try:
            return httpx.get(f"{stack.base_url}/health").status_code == httpx.codes.OK
        except httpx.TransportError:
            return False

    wait_until(healthy, timeout=30, what="the service's health check", log=stack.log)
