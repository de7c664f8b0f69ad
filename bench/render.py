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
#: Written by Copier itself in every copy, so never part of a template.
ANSWERS_FILE: Final = ".copier-answers.yml"


@dataclass(frozen=True)
class RenderTimes:
    """Median wall times of `copier copy`, in seconds."""

    full_s: float
    floor_s: float
    full_spread: float
    #: The full preset's file tree with one-line files: what Copier costs per file, content aside.
    same_tree_s: float

    @property
    def ratio(self) -> float:
        """How many floors the full preset takes."""
        return round(self.full_s / self.floor_s, 2)

    @property
    def content_ratio(self) -> float:
        """How much the template's content adds to Copier's cost for the same files."""
        return round(self.full_s / self.same_tree_s, 2)


def measure_render(runs: int) -> RenderTimes:
    """`copier copy` the full preset and the one-file template `runs` times each, alternating.

    One untimed copy of each comes first, so that Python's bytecode caches exist, as they do for
    an installed Copier.
    """
    with tempfile.TemporaryDirectory(prefix="taskapi-render-") as workdir:
        floor_template = _one_file_template(Path(workdir, "floor"))
        _copy(ROOT, Path(workdir, "full-warm"), PRESETS_DIR / "full.yml")
        same_tree = _same_tree_template(Path(workdir, "same-tree"), Path(workdir, "full-warm"))
        _copy(floor_template, Path(workdir, "floor-warm"), None)
        full: list[float] = []
        floor: list[float] = []
        tree: list[float] = []
        for n in range(runs):
            full.append(_copy(ROOT, Path(workdir, f"full-{n}"), PRESETS_DIR / "full.yml"))
            floor.append(_copy(floor_template, Path(workdir, f"floor-{n}"), None))
            tree.append(_copy(same_tree, Path(workdir, f"same-tree-{n}"), None))
    median = statistics.median(full)
    return RenderTimes(
        full_s=round(median, 3),
        floor_s=round(statistics.median(floor), 3),
        full_spread=round((max(full) - min(full)) / median, 3),
        same_tree_s=round(statistics.median(tree), 3),
    )


def _copy(template: Path, destination: Path, data_file: Path | None) -> float:
    """Return the wall time of one `copier copy --defaults` of `template` at its HEAD."""
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
    """Return a git repository holding a template of one question and one rendered file."""
    directory.mkdir()
    (directory / "README.md.jinja").write_text("# {{ name }}\n")
    return _committed_template(directory)


def _same_tree_template(directory: Path, rendered: Path) -> Path:
    """Return a template of one question that renders `rendered`'s files, each as one line."""
    directory.mkdir()
    for path in rendered.rglob("*"):
        relative = path.relative_to(rendered)
        if path.is_file() and ".git" not in relative.parts and path.name != ANSWERS_FILE:
            target = directory / relative.parent / f"{relative.name}.jinja"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text("{{ name }}\n")
    return _committed_template(directory)


def _committed_template(directory: Path) -> Path:
    """Add the one question to the template in `directory` and commit it as a git repository."""
    (directory / "copier.yml").write_text(
        "_templates_suffix: .jinja\nname:\n  type: str\n  default: floor\n"
    )
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com"]
    subprocess.run([*git, "init", "-q"], cwd=directory, check=True)
    subprocess.run([*git, "add", "."], cwd=directory, check=True)
    subprocess.run([*git, "commit", "-qm", "Template"], cwd=directory, check=True)
    return directory
