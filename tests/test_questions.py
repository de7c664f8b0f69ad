"""The questions are typed, documented, derive sensible defaults and refuse bad answers."""

from __future__ import annotations

import compileall
import keyword
import random
import string
import subprocess
import sys
from tempfile import TemporaryDirectory
from typing import TYPE_CHECKING, Any

import pytest
import yaml

import copier
from tests.support.randomness import uniformity_p_value
from tests.support.variants import ROOT, questions

if TYPE_CHECKING:
    from pathlib import Path

    from pytest_copie.plugin import Copie


def test_every_question_has_help_and_a_type() -> None:
    """A user always sees what a question is for."""
    undocumented = [name for name, q in questions().items() if not q.get("help") or "type" not in q]
    assert undocumented == []


def test_names_derive_from_the_project_name(copie: Copie) -> None:
    """The slug and the package name follow the human-readable name."""
    result = copie.copy(extra_answers={"project_name": "My Cool API!"})
    assert result.exception is None
    assert result.project_dir is not None
    assert result.answers["project_slug"] == "my-cool-api"
    assert result.answers["package_name"] == "my_cool_api"
    assert (result.project_dir / "src" / "my_cool_api" / "main.py").is_file()


#: How many times the secrets of `.env` are drawn, and how many of them by a real copy.
RENDERS = 200
COPIES = 3
URL_SAFE = string.ascii_letters + string.digits + "-_"
ALPHANUMERIC = string.ascii_letters + string.digits
#: Characters in each generated secret.
SECRET_LENGTH = 64


@pytest.fixture(scope="module")
def generated_env_files(copie_session: Copie) -> list[dict[str, str]]:
    """`.env` of COPIES real copies, then `.env.jinja` rendered by Copier's Jinja environment."""
    files = []
    answers: dict[str, Any] = {}
    for _ in range(COPIES):
        result = copie_session.copy(extra_answers={"database": "postgresql"})
        assert result.project_dir is not None
        files.append(_variables((result.project_dir / ".env").read_text()))
        answers = result.answers
    with TemporaryDirectory() as scratch:
        # A dry run: its worker holds the Jinja environment Copier renders the template with.
        worker = copier.run_copy(
            str(ROOT), scratch, data=answers, vcs_ref="HEAD", pretend=True, quiet=True
        )
    template = worker.jinja_env.from_string((ROOT / "template" / ".env.jinja").read_text())
    files += [_variables(template.render(**answers)) for _ in range(RENDERS - COPIES)]
    return files


def _variables(env: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in env.splitlines() if "=" in line and line[0] != "#")


@pytest.mark.parametrize(
    ("variable", "alphabet"),
    [("SECRET_KEY", URL_SAFE), ("POSTGRES_PASSWORD", ALPHANUMERIC)],
    ids=["secret-key", "database-password"],
)
def test_every_generated_secret_is_a_uniform_random_draw(
    generated_env_files: list[dict[str, str]], variable: str, alphabet: str
) -> None:
    """Each secret in `.env` is drawn per character: unique, varied, uniform over its alphabet."""
    secrets_drawn = [env[variable] for env in generated_env_files]
    assert len(set(secrets_drawn)) == RENDERS, "two renders generated the same secret"
    assert {char for secret in secrets_drawn for char in secret} <= set(alphabet)
    assert {len(secret) for secret in secrets_drawn} == {SECRET_LENGTH}
    assert min(len(set(secret)) for secret in secrets_drawn) >= 30
    assert uniformity_p_value("".join(secrets_drawn), alphabet) >= 0.001


def test_the_uniformity_check_rejects_a_skewed_draw() -> None:
    """The chi-square check above can fail: a key that favours characters gets p < 0.001."""
    rng = random.Random(17)  # noqa: S311 - reproducible draws for a statistics test
    skewed = "".join(rng.choice(URL_SAFE + "AAAA") for _ in range(64 * RENDERS))
    uniform = "".join(rng.choice(URL_SAFE) for _ in range(64 * RENDERS))
    assert uniformity_p_value(skewed, URL_SAFE) < 0.001 <= uniformity_p_value(uniform, URL_SAFE)


def test_the_copy_tells_the_user_to_make_env_private(tmp_path: Path) -> None:
    """Copier cannot set a file's mode without --trust: its message says to `chmod 600 .env`."""
    command = [sys.executable, "-m", "copier", "copy", "--defaults", "--vcs-ref", "HEAD"]
    copied = subprocess.run(
        [*command, str(ROOT), str(tmp_path / "service")],
        capture_output=True,
        text=True,
        check=True,
        umask=0o022,
    )

    steps = ["cd ", "chmod 600 .env", "uv sync --locked"]
    positions = [copied.stderr.find(step) for step in steps]
    assert -1 not in positions, copied.stderr
    assert positions == sorted(positions)
    assert "readable by other users" in copied.stderr


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        pytest.param(
            {"project_slug": "my service"},
            "lower-case letters, digits and dashes",
            id="slug-with-spaces",
        ),
        pytest.param(
            {"project_slug": "9lives"}, "starting with a letter", id="slug-starting-with-a-digit"
        ),
        pytest.param(
            {"package_name": "class"}, '"class" is a Python keyword', id="package-keyword"
        ),
        pytest.param(
            {"package_name": "import"}, '"import" is a Python keyword', id="package-keyword-import"
        ),
        pytest.param(
            {"package_name": "json"},
            "would shadow the standard library module",
            id="package-stdlib",
        ),
        pytest.param(
            {"package_name": "fastapi"},
            "would shadow a module the service depends on",
            id="package-dependency",
        ),
        pytest.param(
            {"package_name": "task-api"}, "letters, digits and underscores", id="package-with-dash"
        ),
        pytest.param(
            {"author_email": "team.example.com"}, "Give an e-mail address", id="bad-email"
        ),
        pytest.param({"project_name": "   "}, "Give the service a name", id="blank-name"),
        pytest.param(
            {"database": "mysql"},
            "'mysql' is not in ['postgresql', 'sqlite']",
            id="unknown-database",
        ),
        pytest.param(
            {"python_version": "3.10"},
            "'3.10' is not in ['3.11', '3.12', '3.13']",
            id="unknown-python",
        ),
        pytest.param(
            {"ci_provider": "jenkins"}, "is not in ['github', 'gitlab', 'none']", id="unknown-ci"
        ),
        pytest.param(
            {"database": "sqlite", "background_jobs": True},
            'answer "postgresql" for the database, or turn background jobs off',
            id="jobs-on-sqlite",
        ),
    ],
)
def test_bad_answers_are_refused_with_the_fix(
    copie: Copie, answers: dict[str, Any], message: str
) -> None:
    """A bad answer stops the copy with a message that says how to fix it."""
    result = copie.copy(extra_answers=answers)
    assert result.exit_code != 0
    assert message in str(result.exception)


def test_the_refused_keywords_are_exactly_pythons() -> None:
    """The validator's keyword list is Python's `keyword.kwlist`: the hard keywords, no more."""
    reserved = yaml.safe_load((ROOT / "copier" / "reserved-names.yml").read_text())
    assert reserved["python_keywords"]["default"] == keyword.kwlist


@pytest.mark.parametrize("name", ["true", "false", "none", "match", "case", "type", "_"])
def test_names_that_only_look_like_keywords_are_accepted(copie: Copie, name: str) -> None:
    """Lower-case true/false/none and the soft keywords are identifiers: the package compiles."""
    result = copie.copy(extra_answers={"package_name": name})
    assert result.exception is None, result.exception
    assert result.project_dir is not None
    package = result.project_dir / "src" / name
    assert (package / "main.py").is_file()
    assert compileall.compile_dir(result.project_dir, quiet=2, legacy=False)


@pytest.mark.parametrize(("database", "jobs"), [("postgresql", True), ("sqlite", False)])
def test_background_jobs_default_follows_the_database(
    copie: Copie, database: str, *, jobs: bool
) -> None:
    """Without an answer, background jobs are on with PostgreSQL and off with SQLite."""
    result = copie.copy(extra_answers={"database": database})
    assert result.exit_code == 0, result.exception
    assert result.answers["background_jobs"] is jobs
    assert result.project_dir is not None
    assert (result.project_dir / "src" / "taskapi" / "job_worker.py").is_file() is jobs
