"""The tests render the checkout as it is, uncommitted changes included."""

from __future__ import annotations

import subprocess
from typing import TYPE_CHECKING

from tests.support.variants import ROOT

if TYPE_CHECKING:
    from pathlib import Path

    from pytest_copie.plugin import Copie


def test_uncommitted_template_changes_render_without_failing(copie: Copie, tmp_path: Path) -> None:
    """A dirty working tree is rendered as it is (vcs_ref HEAD) and does not fail the copy."""
    clone = tmp_path / "template"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    readme = clone / "template" / "README.md.jinja"
    readme.write_text(readme.read_text() + "\nAn uncommitted line.\n")

    result = copie.copy(template_dir=clone, vcs_ref="HEAD")

    assert result.exception is None
    assert result.project_dir is not None
    assert "An uncommitted line." in (result.project_dir / "README.md").read_text()
