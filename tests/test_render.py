"""Every preset and every pairwise answer set renders a complete, well-formed project."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

import pytest
import yaml

from tests.support.expectations import expected_files
from tests.support.source import settings_fields as read_settings_fields
from tests.support.tools import python_for, run
from tests.support.variants import (
    Variant,
    all_variants,
    allowed_pairs,
    option_values,
    pairs_in,
    questions,
)

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from tests.support.render import Renderer

VARIANTS = all_variants()


def test_the_tested_answer_sets_hold_every_allowed_pair_of_choices() -> None:
    """Any two choices a team can make together are rendered and checked together somewhere."""
    options = option_values()
    held = set().union(*(pairs_in(v.answers, list(options)) for v in VARIANTS))
    assert allowed_pairs(options) <= held, sorted(allowed_pairs(options) - held, key=repr)
    assert len({v.id for v in VARIANTS}) == len(VARIANTS)


#: Jinja left in the output; GitHub's `${{ ... }}` expressions are not Jinja.
UNRENDERED = re.compile(r"(?<!\$)\{\{|\{%")


def rendered_files(project: Path) -> list[Path]:
    """Every file of a rendered project, outside what its tools write when other tests run them.

    The project is shared by the session's tests: its checks leave caches, a virtual
    environment, coverage data and SQLite databases behind.
    """
    skip = {".venv", ".git", ".mypy_cache", ".ruff_cache", ".pytest_cache", "__pycache__"}
    return [
        path
        for path in sorted(project.rglob("*"))
        if path.is_file()
        and not skip.intersection(path.relative_to(project).parts)
        and not path.name.startswith(".coverage")
        and path.suffix != ".db"
    ]


@pytest.fixture(params=VARIANTS, ids=[v.id for v in VARIANTS])
def variant(request: pytest.FixtureRequest) -> Variant:
    """One answer set of the test table."""
    value: Variant = request.param
    return value


@pytest.fixture
def project(renderer: Renderer, variant: Variant) -> Path:
    """Return the project rendered from the variant's answers."""
    return renderer.project(variant.answers)


def test_renders_the_files_its_answers_ask_for(project: Path, variant: Variant) -> None:
    """Each answer adds its files and only its files."""
    expected = expected_files(variant.answers)
    actual = {path: (project / path).exists() for path in expected}
    assert expected == actual


#: The e-mail templates the service renders itself, at run time: their Jinja is meant to stay.
RUNTIME_TEMPLATES = re.compile(r"^src/[a-z_0-9]+/mail/templates/[a-z_]+\.(txt|html)$")


def test_leaves_no_jinja_unrendered(project: Path) -> None:
    """No `{{` or `{%` survives rendering, in any file or file name, but the run-time templates.

    Those hold only their own values (`{{ link }}`), never an answer of the template's.
    """
    leftovers = [
        relative
        for path in rendered_files(project)
        for relative in [str(path.relative_to(project))]
        if UNRENDERED.search(path.name)
        or (
            UNRENDERED.search(path.read_text(errors="replace"))
            and not RUNTIME_TEMPLATES.match(relative)
        )
    ]
    runtime = [
        path
        for path in rendered_files(project)
        if RUNTIME_TEMPLATES.match(str(path.relative_to(project)))
    ]
    answers = re.compile(r"\{\{\s*(project_name|project_slug|package_name|python_version)\b")
    assert leftovers == []
    assert len(runtime) == 6
    assert [str(path) for path in runtime if answers.search(path.read_text())] == []


#: The configuration files each CI provider's answer renders.
CI_FILES = {
    "github": {".github/workflows/ci.yml", ".github/dependabot.yml"},
    "gitlab": {".gitlab-ci.yml"},
    "none": set(),
}


def test_every_yaml_toml_and_json_file_parses(project: Path, variant: Variant) -> None:
    """Configuration files are valid YAML, TOML or JSON: the project's, its CI's and its lock."""
    parsed: set[str] = set()
    parsers: dict[str, Callable[[str], object]] = {
        ".yml": lambda text: list(yaml.safe_load_all(text)),
        ".yaml": lambda text: list(yaml.safe_load_all(text)),
        ".toml": tomllib.loads,
        ".lock": tomllib.loads,
        ".json": json.loads,
    }
    for path in rendered_files(project):
        if path.suffix in parsers:
            parsers[path.suffix](path.read_text())
            parsed.add(path.relative_to(project).as_posix())
    wanted = {
        path
        for path, rendered in expected_files(variant.answers).items()
        if rendered and PurePosixPath(path).suffix in {".yml", ".yaml", ".toml", ".lock"}
    }
    wanted |= CI_FILES[variant.answers.get("ci_provider", "github")]
    assert wanted - parsed == set()


def test_answers_file_holds_every_answer_and_no_secret(project: Path, variant: Variant) -> None:
    """`copier update` can replay the answers file, and it never stores a secret."""
    recorded = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert set(questions()) <= set(recorded)
    assert {k: recorded[k] for k in variant.answers} == variant.answers
    secrets = [
        line.split("=", 1)[1]
        for line in (project / ".env").read_text().splitlines()
        if line.startswith(("SECRET_KEY=", "POSTGRES_PASSWORD="))
    ]
    assert secrets
    text = (project / ".copier-answers.yml").read_text()
    assert not [secret for secret in secrets if secret in text]
    assert not [key for key in recorded if "secret" in key.lower() or "password" in key.lower()]


def test_pyproject_pins_the_tooling_gates(project: Path, variant: Variant) -> None:
    """The project is typed strictly, tested strictly and gated on branch coverage."""
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    tool = pyproject["tool"]
    assert pyproject["project"]["name"] == recorded_answer(project, "project_slug")
    assert pyproject["project"]["requires-python"] == f">={variant.answers['python_version']}"
    assert tool["mypy"]["strict"] is True
    assert tool["pytest"]["ini_options"]["filterwarnings"] == ["error"]
    assert "--strict-markers" in tool["pytest"]["ini_options"]["addopts"]
    assert tool["coverage"]["run"]["branch"] is True
    assert tool["coverage"]["report"]["fail_under"] >= 90


def test_lock_file_matches_the_rendered_dependencies(project: Path, variant: Variant) -> None:
    """`uv.lock` is current for this answer set, so `uv sync --locked` installs exactly it."""
    python = python_for(variant.answers["python_version"])
    run(["uv", "lock", "--check", "--offline", "--python", python], cwd=project)


def recorded_answer(project: Path, name: str) -> object:
    """One answer as the answers file records it."""
    return yaml.safe_load((project / ".copier-answers.yml").read_text())[name]


def settings_fields(project: Path) -> set[str]:
    """Return the fields of the rendered service's settings classes, read from its source."""
    return read_settings_fields(project / "src")


#: Variables of `.env.example` that no settings class reads: compose's and OpenTelemetry's.
NOT_SETTINGS = re.compile(r"POSTGRES_[A-Z]+|OTEL_[A-Z_]+")


def test_env_example_lists_exactly_the_settings_this_render_reads(project: Path) -> None:
    """Every setting of the render is in `.env.example`, and nothing a feature it lacks reads.

    A render without Sentry has no SENTRY_DSN: not as a setting that silently does nothing, and
    not in its `.env.example`.
    """
    example = (project / ".env.example").read_text()
    documented = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", example, re.MULTILINE))

    assert {name for name in documented if not NOT_SETTINGS.fullmatch(name)} == settings_fields(
        project
    )


def test_readme_shows_both_development_servers(project: Path) -> None:
    """The generated README runs the service with `fastapi dev` and with `uvicorn --reload`."""
    package = recorded_answer(project, "package_name")
    readme = (project / "README.md").read_text()
    assert f"uv run fastapi dev src/{package}/main.py" in readme
    assert f"uv run uvicorn {package}.main:app --reload" in readme


def test_nginx_renders_come_with_lets_encrypt_steps(project: Path) -> None:
    """With nginx in front, the deployment guide walks through TLS with Let's Encrypt."""
    guide = (project / "docs" / "deployment.md").read_text()
    has_tls_steps = "## Enable HTTPS with Let's Encrypt" in guide and "certbot certonly" in guide
    assert has_tls_steps == recorded_answer(project, "use_nginx")
