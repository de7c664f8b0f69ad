"""The answer sets the template is tested with: the presets, and with them every pair of choices."""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import yaml

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

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


Pair = tuple[tuple[str, Any], tuple[str, Any]]

#: How many candidate rows `pairwise` builds for each row it keeps, and the seed that orders them.
CANDIDATES_PER_ROW: Final = 100
PAIRWISE_SEED: Final = 1


def pairs_in(row: Answers, names: list[str]) -> set[Pair]:
    """Every pair of (question, answer) that `row` holds, in the order of `names`."""
    return {((a, row[a]), (b, row[b])) for a, b in itertools.combinations(names, 2)}


def allowed_pairs(options: dict[str, list[Any]]) -> set[Pair]:
    """Every pair of option values that an answer set may hold together."""
    return {
        ((a, va), (b, vb))
        for a, b in itertools.combinations(list(options), 2)
        for va in options[a]
        for vb in options[b]
        if allowed({a: va, b: vb})
    }


def pairwise(options: dict[str, list[Any]], already: Sequence[Answers] = ()) -> list[Answers]:
    """Return a small set of answer sets in which, with `already`, every allowed pair appears.

    Each row is the best of `CANDIDATES_PER_ROW` greedy candidates (seeded, so the set is the
    same on every run): each starts from an uncovered pair and fills the other questions in a
    shuffled order with the value that covers the most pairs still uncovered. Every run of the
    template's suite renders and tests each row, so each row saved is a whole project's checks.
    """
    names = list(options)
    uncovered = allowed_pairs(options)
    for row in already:
        uncovered -= pairs_in(row, names)
    rng = random.Random(PAIRWISE_SEED)  # noqa: S311 - a fixed seed: the same rows on every run
    rows: list[Answers] = []
    while uncovered:
        ordered = sorted(uncovered, key=repr)
        starts = [ordered[0], *(rng.choice(ordered) for _ in range(CANDIDATES_PER_ROW - 1))]
        candidates = [_greedy_row(start, options, uncovered, rng) for start in starts]
        best = max(candidates, key=lambda row: len(pairs_in(row, names) & uncovered))
        rows.append(best)
        uncovered -= pairs_in(best, names)
    return rows


def _greedy_row(
    start: Pair, options: dict[str, list[Any]], uncovered: set[Pair], rng: random.Random
) -> Answers:
    """Fill an answer set from the pair `start`, each question with its most useful value."""
    (first, first_value), (second, second_value) = start
    row: Answers = {first: first_value, second: second_value}
    rest = [name for name in options if name not in row]
    rng.shuffle(rest)
    for name in rest:
        values = [v for v in options[name] if allowed(row | {name: v})]
        row[name] = max(values, key=_pairs_gained(row, name, uncovered))
    return {name: row[name] for name in options}


def _pairs_gained(row: Answers, name: str, uncovered: set[Pair]) -> Callable[[Any], int]:
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
    """Return the answer sets that, with the presets, hold every allowed pair; readable ids."""
    already = [preset.answers for preset in presets()]
    return [Variant(variant_id(answers), answers) for answers in pairwise(option_values(), already)]


def all_variants() -> list[Variant]:
    """Every preset, then every pairwise answer set."""
    return [*presets(), *pairwise_variants()]
