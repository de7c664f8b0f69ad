"""The template's own code (tests, scripts, bench) holds itself to the gates it asks of a render."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.support.tools import run
from tests.support.variants import ROOT

BIN = Path(sys.executable).parent

#: A module without docstrings that asserts and compares with a bare number.
UNDOCUMENTED = "def double(x: int) -> int:\n    assert x < 1000\n    return x * 2\n"


def ruff_codes(path: str, source: str) -> set[str]:
    """Return the rule codes ruff reports for `source` as if it were the repo's file `path`."""
    command = [str(BIN / "ruff"), "check", "--no-cache", "--output-format", "json"]
    result = subprocess.run(
        [*command, "--stdin-filename", path, "-"],
        input=source,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    return {finding["code"] for finding in json.loads(result.stdout)}


def docstring_ignores(ruff_lint_section: str) -> set[str]:
    """Return the pydocstyle (`D`) rules a `[tool.ruff.lint]` section's ignore list names."""
    ignore = re.search(r"^ignore = \[(.*?)^\]", ruff_lint_section, re.MULTILINE | re.DOTALL)
    assert ignore is not None
    return set(re.findall(r'"(D\d*)"', ignore[1]))


def test_repo_code_passes_ruff_check() -> None:
    """Ruff's broad rule set, docstrings included, finds nothing in the template's own code."""
    run([str(BIN / "ruff"), "check", "."], cwd=ROOT)


@pytest.mark.parametrize("folder", ["tests", "tests/support", "scripts", "bench"])
def test_repo_code_must_document_every_module_and_function(folder: str) -> None:
    """An undocumented module or function anywhere in the repo's code is a ruff finding."""
    assert {"D100", "D103"} <= ruff_codes(f"{folder}/probe.py", UNDOCUMENTED)


def test_repo_code_follows_the_renders_docstring_convention() -> None:
    """The repo ignores exactly the docstring rules a render ignores, and no others."""
    template = (ROOT / "template" / "pyproject.toml.jinja").read_text()
    render_section = template.split("[tool.ruff.lint]", 1)[1].split("\n[", 1)[0]
    repo = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["ruff"]["lint"]
    repo_ignores = {code for code in repo["ignore"] if code.startswith("D")}
    assert repo_ignores == docstring_ignores(render_section) == {"D105", "D107", "D203", "D213"}


def test_only_tests_may_assert_and_compare_with_bare_numbers() -> None:
    """`assert` (S101) and magic numbers (PLR2004) pass in tests, and are findings elsewhere."""
    allowed_in_tests = {"S101", "PLR2004"}
    assert allowed_in_tests.isdisjoint(ruff_codes("tests/probe.py", UNDOCUMENTED))
    for folder in ("scripts", "bench"):
        assert allowed_in_tests <= ruff_codes(f"{folder}/probe.py", UNDOCUMENTED), folder


def test_repo_code_is_formatted() -> None:
    """The template's own code needs no reformatting."""
    run([str(BIN / "ruff"), "format", "--check", "."], cwd=ROOT)


def test_repo_code_passes_mypy_strict(tmp_path: Path) -> None:
    """The template's own code type-checks under mypy --strict."""
    run([str(BIN / "mypy"), "--cache-dir", str(tmp_path)], cwd=ROOT)
