"""Regenerate the template's `uv.lock`: one uv lock for every answer set that changes dependencies.

Every rendered project ships a `uv.lock` that matches its own `pyproject.toml`, with no network
and no Copier task at copy time. This script renders `pyproject.toml.jinja` for each combination
of the answers below, locks each one with uv, and merges the locks into Jinja templates, one per
Python version (a copy compiles only its own): each `[[package]]` block appears under the
simplest condition on the answers that selects exactly the locks it belongs to.

Run it after changing the template's dependencies:

    uv run python scripts/lock.py            # rewrite template/*uv.lock*.jinja
    uv run python scripts/lock.py --upgrade  # also take the newest allowed versions
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Final

import jinja2

ROOT: Final = Path(__file__).resolve().parent.parent
TEMPLATE: Final = ROOT / "template"

#: Answers that change the rendered dependencies, with every value they can take.
DIMENSIONS: Final[dict[str, tuple[str | bool, ...]]] = {
    "python_version": ("3.11", "3.12", "3.13"),
    "database": ("postgresql", "sqlite"),
    "use_redis": (True, False),
    "background_jobs": (True, False),
    "use_metrics": (True, False),
    "use_tracing": (True, False),
    "use_sentry": (True, False),
}


def allowed(combo: Combo) -> bool:
    """Whether copier.yml accepts the answers: background jobs need PostgreSQL."""
    answers = dict(zip(DIMENSIONS, combo, strict=True))
    return not (answers["background_jobs"] and answers["database"] != "postgresql")


def target(python_version: str) -> Path:
    """Return the lock template that Copier renders as `uv.lock` for `python_version`."""
    return TEMPLATE / f"{{% if python_version == '{python_version}' %}}uv.lock{{% endif %}}.jinja"


#: Answers that don't change dependencies; the project's own name is put back as a variable.
FIXED_ANSWERS: Final[dict[str, str]] = {
    "project_slug": "taskapi",
    "package_name": "taskapi",
    "description": "A task management API built with FastAPI",
    "author_name": "TaskAPI Team",
    "author_email": "team@example.com",
    "license": "MIT",
}

BLOCK_SEPARATOR: Final = "\n\n[[package]]\n"
ROOT_SOURCE: Final = 'source = { editable = "." }'

Combo = tuple[str | bool, ...]
Literal = tuple[str, str | bool]


def render(source: str, answers: dict[str, str | bool]) -> str:
    """Render a template file's text for one answer set, the way Copier does."""
    env = jinja2.Environment(keep_trailing_newline=True, undefined=jinja2.StrictUndefined)  # noqa: S701 - TOML, not HTML
    return env.from_string(source).render(**answers)


def render_pyproject(answers: dict[str, str | bool]) -> str:
    """Render the template's pyproject.toml for one answer set."""
    return render((TEMPLATE / "pyproject.toml.jinja").read_text(), answers)


def interpreter_for(version: str) -> str:
    """Find an interpreter for `version`: pyenv's when present, otherwise let uv find one."""
    pyenv = shutil.which("pyenv")
    if pyenv:
        root = subprocess.run([pyenv, "root"], capture_output=True, text=True, check=True)
        matches = sorted(Path(root.stdout.strip(), "versions").glob(f"{version}.*/bin/python"))
        if matches:
            return str(matches[-1])
    return version


def lock(combo: Combo, workdir: Path, *, upgrade: bool) -> str:
    """Lock one answer set and return its uv.lock text."""
    answers = dict(FIXED_ANSWERS) | dict(zip(DIMENSIONS, combo, strict=True))
    project = workdir / "-".join(str(value) for value in combo)
    project.mkdir()
    (project / "pyproject.toml").write_text(render_pyproject(answers))
    (project / "README.md").write_text("")
    command = ["uv", "lock", "--python", interpreter_for(str(answers["python_version"]))]
    if upgrade:
        command.append("--upgrade")
    elif (current := target(str(answers["python_version"]))).exists():
        # Start from the current lock so that only what changed is re-resolved.
        (project / "uv.lock").write_text(render(current.read_text(), answers))
    subprocess.run(command, cwd=project, check=True, capture_output=True)
    return (project / "uv.lock").read_text()


def split_blocks(text: str) -> tuple[str, list[str]]:
    """Split a lock into its header and its `[[package]]` blocks (without separators)."""
    header, *blocks = text.rstrip("\n").split(BLOCK_SEPARATOR)
    return header, blocks


def with_project_name(block: str) -> str:
    """Put the project's name back as a template variable in the root package block."""
    if ROOT_SOURCE not in block:
        return block
    name = f'name = "{FIXED_ANSWERS["project_slug"]}"'
    return block.replace(name, 'name = "{{ project_slug }}"', 1)


def literals() -> list[Literal]:
    """Every `answer == value` literal over the dimensions."""
    return [(name, value) for name, values in DIMENSIONS.items() for value in values]


def combos_matching(term: tuple[Literal, ...], combos: list[Combo]) -> set[Combo]:
    """Return the answer sets where every literal of `term` holds."""
    names = list(DIMENSIONS)
    return {c for c in combos if all(c[names.index(name)] == value for name, value in term)}


def condition(members: set[Combo], combos: list[Combo]) -> str | None:
    """Return the simplest Jinja condition true on `members`: a greedy OR of ANDs."""
    if members == set(combos):
        return None
    candidates = [
        term
        for size in range(1, len(DIMENSIONS) + 1)
        for term in itertools.combinations(literals(), size)
        if len({name for name, _ in term}) == size and combos_matching(term, combos) <= members
    ]
    chosen: list[tuple[Literal, ...]] = []
    uncovered = set(members)
    while uncovered:
        best = max(candidates, key=lambda t: (len(combos_matching(t, combos) & uncovered), -len(t)))
        chosen.append(best)
        uncovered -= combos_matching(best, combos)
    return " or ".join(render_term(term, len(chosen) > 1) for term in chosen)


def render_term(term: tuple[Literal, ...], grouped: bool) -> str:  # noqa: FBT001 - private helper
    """Render a conjunction of literals as Jinja."""
    parts = []
    for name, value in term:
        if isinstance(value, bool):
            parts.append(name if value else f"not {name}")
        else:
            parts.append(f"{name} == '{value}'")
    text = " and ".join(parts)
    return f"({text})" if grouped and len(parts) > 1 else text


def merge(locks: dict[Combo, str]) -> str:
    """Merge the locks into one template, blocks in their order, each under its condition."""
    combos = list(locks)
    order: list[str] = []
    members: dict[str, set[Combo]] = {}
    for combo, text in locks.items():
        header, blocks = split_blocks(text)
        previous_index = -1
        for item in [f"HEADER\n{header}", *map(with_project_name, blocks)]:
            if item not in members:
                members[item] = set()
                order.insert(previous_index + 1, item)
            members[item].add(combo)
            previous_index = order.index(item)
    out = [
        "{#- Generated by scripts/lock.py from pyproject.toml.jinja: do not edit by hand. -#}\n",
    ]
    for item in order:
        is_header = item.startswith("HEADER\n")
        body = item.removeprefix("HEADER\n") + "\n" if is_header else f"\n[[package]]\n{item}\n"
        test = condition(members[item], combos)
        out.append(body if test is None else f"{{% if {test} %}}{body}{{% endif %}}")
    return "".join(out)


def main() -> int:
    """Lock every answer set and write the merged template."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upgrade", action="store_true", help="take the newest allowed versions")
    args = parser.parse_args()
    os.environ.setdefault("UV_PYTHON_DOWNLOADS", "never")
    combos: list[Combo] = [c for c in itertools.product(*DIMENSIONS.values()) if allowed(c)]
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(max_workers=4) as pool:
        texts = pool.map(lambda c: lock(c, Path(tmp), upgrade=args.upgrade), combos)
        locks = dict(zip(combos, texts, strict=True))
    for version in DIMENSIONS["python_version"]:
        mine = {combo: text for combo, text in locks.items() if combo[0] == version}
        target(str(version)).write_text(merge(mine))
        print(f"{target(str(version)).relative_to(ROOT)}: {len(mine)} answer sets merged")
    return 0


if __name__ == "__main__":
    sys.exit(main())
