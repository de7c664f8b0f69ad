"""The image: its size, what it adds over its base, and a warm rebuild after a source change."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from tests.support.containers import TEST_LABEL, unique
from tests.support.docker import BUILD_ENV, base_tag, build_standins
from tests.support.tools import clean_env, run

#: The builder step that installs the locked dependencies (and nothing of the project).
DEPENDENCY_STEP: Final = "--no-install-project"


@dataclass(frozen=True)
class ImageFigures:
    """Sizes in MB and build times in seconds."""

    size_mb: float
    base_mb: float
    added_mb: float
    first_build_s: float
    warm_rebuild_s: float
    dependency_layer_reused: bool


def measure_image(docker: str, project: Path, python_version: str) -> ImageFigures:
    """Build the project's image, then rebuild it after touching one source file."""
    build_standins([python_version])
    with tempfile.TemporaryDirectory(prefix="taskapi-image-") as workdir:
        context = Path(workdir, "project")
        ignored = shutil.ignore_patterns(".venv", "*_cache", ".coverage", "data")
        shutil.copytree(project, context, ignore=ignored)
        tag, rebuilt = f"{unique('bench')}:bench", f"{unique('bench-rebuild')}:bench"
        try:
            cold_s, _ = _build(docker, context, tag)
            main = next(context.glob("src/*/main.py"))
            main.write_text(main.read_text() + "\n# A source-only change.\n")
            warm_s, output = _build(docker, context, rebuilt)
            size, base = _size(docker, tag), _size(docker, base_tag(python_version, "slim"))
            return ImageFigures(
                size_mb=size,
                base_mb=base,
                added_mb=round(size - base, 1),
                first_build_s=cold_s,
                warm_rebuild_s=warm_s,
                dependency_layer_reused=_dependency_step_cached(output),
            )
        finally:
            subprocess.run(
                [docker, "image", "rm", "--force", tag, rebuilt], capture_output=True, check=False
            )
            prune = [docker, "image", "prune", "--force", "--filter", f"label={TEST_LABEL}"]
            subprocess.run(prune, capture_output=True, check=False)


def _build(docker: str, context: Path, tag: str) -> tuple[float, str]:
    """Build `context` as `tag`; return the wall time and the build output."""
    command = [docker, "build", "--label", TEST_LABEL, "--tag", tag, "."]
    started = time.perf_counter()
    output = run(command, cwd=context, env=clean_env(**BUILD_ENV), timeout=1200).stdout
    return round(time.perf_counter() - started, 1), output


def _size(docker: str, image: str) -> float:
    """Return the image's size in MB."""
    inspect = [docker, "image", "inspect", "--format", "{{.Size}}", image]
    return round(int(run(inspect, cwd=None).stdout.strip()) / 1e6, 1)


def _dependency_step_cached(output: str) -> bool:
    """Whether the builder's dependency install came from the cache (legacy builder output)."""
    steps = [step for step in output.split("\nStep ") if DEPENDENCY_STEP in step.splitlines()[0]]
    return len(steps) == 1 and " ---> Using cache" in steps[0]
