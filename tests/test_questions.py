"""The questions are typed, documented, derive sensible defaults and refuse bad answers."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

import pytest

from tests.support.variants import questions

if TYPE_CHECKING:
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


def test_each_copy_generates_its_own_secrets(copie: Copie) -> None:
    """Two projects never share a SECRET_KEY, and the key is long."""
    keys = []
    for _ in range(2):
        result = copie.copy()
        assert result.project_dir is not None
        env = (result.project_dir / ".env").read_text().splitlines()
        keys.append(next(line for line in env if line.startswith("SECRET_KEY=")).split("=", 1)[1])
    assert keys[0] != keys[1]
    assert min(len(key) for key in keys) >= 64
    assert not secrets.compare_digest(keys[0], keys[1])


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
    ],
)
def test_bad_answers_are_refused_with_the_fix(
    copie: Copie, answers: dict[str, Any], message: str
) -> None:
    """A bad answer stops the copy with a message that says how to fix it."""
    result = copie.copy(extra_answers=answers)
    assert result.exit_code != 0
    assert message in str(result.exception)
