"""This repo's own code (tests, scripts, bench) holds itself to the gates it asks of a render."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.support.tools import run
from tests.support.variants import ROOT

BIN = Path(sys.executable).parent


def test_repo_code_passes_ruff_check() -> None:
    """ruff's broad rule set finds nothing in the template's own code."""
    run([str(BIN / "ruff"), "check", "."], cwd=ROOT)


def test_repo_code_is_formatted() -> None:
    """The template's own code needs no reformatting."""
    run([str(BIN / "ruff"), "format", "--check", "."], cwd=ROOT)


def test_repo_code_passes_mypy_strict(tmp_path: Path) -> None:
    """The template's own code type-checks under mypy --strict."""
    run([str(BIN / "mypy"), "--cache-dir", str(tmp_path)], cwd=ROOT)
