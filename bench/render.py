"""Render time: the full preset against a one-file template, both through the same Copier."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from tests.support.variants import PRESETS_DIR, ROOT

COPIER: Final = Path(sys.executable).parent / "copier"


@dataclass(frozen=True)
class RenderTimes:
    """Median wall times of `copier copy`, in seconds."""

    full_s: float
    floor_s: float
    full_spread: float

    @property
    def ratio(self) -> float:
        """How many floors the full preset takes."""
        return round(self.full_s / self.floor_s, 2)


def measure_render(runs: int) -> RenderTimes:
    """`copier copy` the full preset and the one-file template `runs` times each, alternating.

    One untimed copy of each comes first, so that Python's bytecode caches exist, as they do for
    an installed Copier.
    """
    with tempfile.TemporaryDirectory(prefix="taskapi-render-") as workdir:
        floor_template = _one_file_template(Path(workdir, "floor"))
        _copy(ROOT, Path(workdir, "full-warm"), PRESETS_DIR / "full.yml")
        _copy(floor_template, Path(workdir, "floor-warm"), None)
        full: list[float] = []
        floor: list[float] = []
        for n in range(runs):
            full.append(_copy(ROOT, Path(workdir, f"full-{n}"), PRESETS_DIR / "full.yml"))
            floor.append(_copy(floor_template, Path(workdir, f"floor-{n}"), None))
    median = statistics.median(full)
    return RenderTimes(
        full_s=round(median, 3),
        floor_s=round(statistics.median(floor), 3),
        full_spread=round((max(full) - min(full)) / median, 3),
    )


def _copy(template: Path, destination: Path, data_file: Path | None) -> float:
    """The wall time of one `copier copy --defaults` of `template` at its HEAD."""
    command = [str(COPIER), "copy", "--quiet", "--defaults", "--vcs-ref", "HEAD"]
    if data_file:
        command += ["--data-file", str(data_file)]
    # Bytecode is cached (and read) as by any installed Copier, whatever this shell says.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    started = time.perf_counter()
    subprocess.run(
        [*command, str(template), str(destination)], check=True, capture_output=True, env=env
    )
    return time.perf_counter() - started


def _one_file_template(directory: Path) -> Path:
    """A git repository holding a template of one question and one rendered file."""
    directory.mkdir()
    (directory / "copier.yml").write_text(
        "_templates_suffix: .jinja\nname:\n  type: str\n  default: floor\n"
    )
    (directory / "README.md.jinja").write_text("# {{ name }}\n")
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com"]
    subprocess.run([*git, "init", "-q"], cwd=directory, check=True)
    subprocess.run([*git, "add", "."], cwd=directory, check=True)
    subprocess.run([*git, "commit", "-qm", "One file"], cwd=directory, check=True)
    return directory
