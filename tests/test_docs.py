"""The README documents every question and every preset the template has."""

from __future__ import annotations

from tests.support.variants import ROOT, presets, questions

README = (ROOT / "README.md").read_text()


def test_readme_lists_every_question_with_its_help() -> None:
    """A new question cannot go undocumented."""
    missing = [
        name
        for name, question in questions().items()
        if f"| `{name}` |" not in README or question["help"].split(" (")[0] not in README
    ]
    assert missing == []


def test_readme_lists_every_preset() -> None:
    """Each preset file has a row in the presets table."""
    missing = [p.id for p in presets() if f"| `{p.id}` |" not in README]
    assert missing == []


def test_ci_runs_the_readme_test_command() -> None:
    """CI runs exactly the test command the README gives."""
    command = "python3 scripts/dev.py test"
    assert f"```bash\n{command}\n```" in README
    assert command in (ROOT / ".ci" / "run").read_text().splitlines()
