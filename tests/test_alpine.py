"""Alpine images need no compiler: every locked runtime dependency has a musllinux or pure wheel.

Alpine base images cannot be pulled here, so the proof is the resolution itself: the exact pins of
`uv.lock` must all install from wheels for x86_64 musl and the chosen Python version. The template's
own GitHub workflow builds the real Alpine image.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.support.tools import run
from tests.support.variants import option_values, presets

if TYPE_CHECKING:
    from pathlib import Path

    from tests.support.render import Renderer

ALPINE = next(v for v in presets() if v.answers["docker_base"] == "alpine")
PYTHON_VERSIONS = option_values()["python_version"]


def wheels_only_resolution(requirements: Path, python_version: str) -> list[str]:
    """`uv pip compile` of pinned requirements for musl, refusing anything but wheels."""
    command = ["uv", "pip", "compile", str(requirements), "--no-deps", "--only-binary", ":all:"]
    command += ["--python-platform", "x86_64-unknown-linux-musl"]
    command += ["--python-version", python_version, "--no-header", "--no-annotate", "--quiet"]
    return run(command, cwd=requirements.parent).stdout.split()


@pytest.mark.parametrize("python_version", PYTHON_VERSIONS)
def test_locked_runtime_dependencies_have_musllinux_wheels(
    renderer: Renderer, python_version: str, tmp_path: Path
) -> None:
    """For each Python version, the Alpine render's locked runtime pins all resolve to wheels."""
    project = renderer.project({**ALPINE.answers, "python_version": python_version})
    requirements = tmp_path / "requirements.txt"
    export = ["uv", "export", "--frozen", "--no-dev", "--no-hashes", "--no-emit-project"]
    run([*export, "--output-file", str(requirements)], cwd=project)
    pinned = [line for line in requirements.read_text().splitlines() if "==" in line]
    assert len(pinned) > 20
    resolved = wheels_only_resolution(requirements, python_version)
    assert any(line.startswith("asyncpg==") for line in resolved)
    assert any(line.startswith("pydantic-core==") for line in resolved)


def test_the_check_refuses_a_dependency_without_a_wheel(tmp_path: Path) -> None:
    """A pin that only exists as a source distribution fails the wheels-only resolution."""
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("docopt==0.6.2\n")  # published as an sdist only
    with pytest.raises(AssertionError, match="docopt"):
        wheels_only_resolution(requirements, "3.12")
