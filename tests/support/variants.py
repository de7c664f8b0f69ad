"""The answer sets the template is tested with: the presets and a pairwise set over every choice."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import yaml

if TYPE_CHECKING:
    from collections.abc import Callable

ROOT: Final = Path(__file__).resolve().parents[2]
PRESETS_DIR: Final = ROOT / "presets"

Answers = dict[str, Any]


@dataclass(frozen=True)
class Variant:
    """A named answer set."""

    id: str
    answers: Answers


class _CopierLoader(yaml.SafeLoader):
    """Reads copier.yml, leaving its `!include` documents unresolved."""


_CopierLoader.add_constructor("!include", lambda _loader, _node: {})


def questions() -> dict[str, dict[str, Any]]:
    """Return the template's questions, in order, as written in copier.yml."""
    documents = yaml.load_all((ROOT / "copier.yml").read_text(), Loader=_CopierLoader)
    merged: dict[str, dict[str, Any]] = {}
    for document in documents:
        merged |= {k: v for k, v in (document or {}).items() if not k.startswith("_")}
    return {k: v for k, v in merged.items() if v.get("when") is not False}


def option_values() -> dict[str, list[Any]]:
    """Every question that takes one of a fixed set of values, with those values."""
    options: dict[str, list[Any]] = {}
    for name, question in questions().items():
        if question.get("type") == "bool":
            options[name] = [True, False]
        elif isinstance(choices := question.get("choices"), dict):
            options[name] = list(choices.values())
        elif isinstance(choices, list):
            options[name] = list(choices)
    return options


#: Answer pairs that copier.yml's validators refuse: no answer set may hold both.
EXCLUDED_PAIRS: Final = frozenset({(("database", "sqlite"), ("background_jobs", True))})


def defaults() -> Answers:
    """Return the default of every fixed-choice question (a computed one, for these answers)."""
    found = {name: questions()[name]["default"] for name in option_values()}
    computed = {"background_jobs": found["database"] == "postgresql"}
    return found | computed


def allowed(answers: Answers) -> bool:
    """Whether `answers` holds no pair that the template refuses."""
    return not any(
        answers.get(a) == va and answers.get(b) == vb for (a, va), (b, vb) in EXCLUDED_PAIRS
    )


def presets() -> list[Variant]:
    """Return the presets in presets/, by file name."""
    return [
        Variant(path.stem, yaml.safe_load(path.read_text()))
        for path in sorted(PRESETS_DIR.glob("*.yml"))
    ]


def pairwise(options: dict[str, list[Any]]) -> list[Answers]:
    """Return a small set of answer sets in which every pair of option values appears."""
    names = list(options)
    uncovered = {
        ((a, va), (b, vb))
        for a, b in itertools.combinations(names, 2)
        for va in options[a]
        for vb in options[b]
        if allowed({a: va, b: vb})
    }
    rows: list[Answers] = []
    while uncovered:
        (first, first_value), (second, second_value) = min(uncovered, key=repr)
        row: Answers = {first: first_value, second: second_value}
        for name in names:
            if name not in row:
                values = [v for v in options[name] if allowed(row | {name: v})]
                row[name] = max(values, key=_pairs_gained(row, name, uncovered))
        rows.append({name: row[name] for name in names})
        uncovered -= {((a, row[a]), (b, row[b])) for a, b in itertools.combinations(names, 2)}
    return rows


def _pairs_gained(
    row: Answers, name: str, uncovered: set[tuple[tuple[str, Any], tuple[str, Any]]]
) -> Callable[[Any], int]:
    """Score a value for `name` by how many uncovered pairs it would cover in `row`."""

    def score(value: Any) -> int:  # noqa: ANN401 - option values are str or bool
        return sum(
            ((other, row[other]), (name, value)) in uncovered
            or ((name, value), (other, row[other])) in uncovered
            for other in row
        )

    return score


def variant_id(answers: Answers) -> str:
    """Return a readable id: the answers that differ from the defaults, e.g. `database:sqlite`."""
    base = defaults()
    parts = [f"{name}:{_show(value)}" for name, value in answers.items() if base.get(name) != value]
    return "-".join(parts) or "defaults"


def _show(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def pairwise_variants() -> list[Variant]:
    """Return the pairwise answer sets, with readable ids."""
    return [Variant(variant_id(answers), answers) for answers in pairwise(option_values())]


def all_variants() -> list[Variant]:
    """Every preset, then every pairwise answer set."""
    return [*presets(), *pairwise_variants()]
