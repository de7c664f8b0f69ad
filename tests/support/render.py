"""Render the template from this checkout, once per answer set and test session."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tests.support.tools import python_for, run
from tests.support.variants import defaults

if TYPE_CHECKING:
    from pathlib import Path

    from pytest_copie.plugin import Copie

    from tests.support.variants import Answers


@dataclass
class Renderer:
    """Renders answer sets with pytest-copie and keeps each project for the whole session."""

    copie: Copie
    projects: dict[str, Path] = field(default_factory=dict)

    def project(self, answers: Answers) -> Path:
        """Return the project rendered from `answers` (rendered on first use)."""
        key = repr(sorted(answers.items()))
        if key not in self.projects:
            result = self.copie.copy(extra_answers=answers, vcs_ref="HEAD")
            if result.exception is not None:
                raise result.exception
            assert result.project_dir is not None
            self.projects[key] = result.project_dir
        return self.projects[key]

    def installed(self, answers: Answers) -> Path:
        """Return the project rendered from `answers`, installed as its README says (`uv sync`)."""
        project = self.project(answers)
        if not (project / ".venv").exists():
            python = python_for({**defaults(), **answers}["python_version"])
            run(["uv", "sync", "--locked", "--python", python], cwd=project)
        return project
