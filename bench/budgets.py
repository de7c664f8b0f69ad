"""The budgets the harness holds the template to, and how a run of the service is judged.

Throughput and tail budgets are timings, which a noisy machine can spoil: when the first run of
the service misses one, the harness measures the service a second time, and a budget fails only
when both runs miss it. A failed request, or a source-only rebuild that does not reuse the
dependency layer, fails at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from bench.image import ImageFigures
    from bench.service import Figures

#: The task list's throughput over the lean reference's (same queries, no ORM, no middleware).
MIN_LIST_OVER_LEAN: Final = 0.7
#: Task creation's throughput over the lean reference's.
MIN_CREATE_OVER_LEAN: Final = 0.6
#: `/info/status` (every middleware, a route that does nothing) over bare FastAPI's `/health`.
MIN_STACK_OVER_BARE: Final = 0.8
#: The liveness probe over bare FastAPI: it is answered before the stack, and must stay so.
MIN_LIVE_OVER_BARE: Final = 0.9
#: p99 over p50 of the task list and of task creation.
MAX_TAIL_RATIO: Final = 3.0
#: How many runs in a row must miss a timing budget for it to fail.
CONSECUTIVE_MISSES: Final = 2


def ratios(service: Mapping[str, Figures]) -> dict[str, float]:
    """Return the throughput ratios of one run, each rounded to three decimals."""
    return {
        "list_over_lean": _quotient(service, "list_tasks", "lean_list"),
        "create_over_lean": _quotient(service, "create_task", "lean_create"),
        "stack_over_bare": _quotient(service, "info_status", "bare_health"),
        "live_over_bare": _quotient(service, "healthz_live", "bare_health"),
    }


def timing_misses(service: Mapping[str, Figures]) -> dict[str, str]:
    """Return the timing budgets one run misses: the budget's name, then what was missed."""
    found: dict[str, str] = {}
    floors = {
        "list_over_lean": (MIN_LIST_OVER_LEAN, "task list over the lean reference"),
        "create_over_lean": (MIN_CREATE_OVER_LEAN, "task creation over the lean reference"),
        "stack_over_bare": (MIN_STACK_OVER_BARE, "/info/status over bare FastAPI"),
        "live_over_bare": (MIN_LIVE_OVER_BARE, "/healthz/live (the probe path) over bare FastAPI"),
    }
    measured = ratios(service)
    for name, (floor, what) in floors.items():
        if measured[name] < floor:
            found[name] = f"{what} is {measured[name]:.2f}, under {floor}"
    for endpoint, what in (("list_tasks", "task list"), ("create_task", "task creation")):
        figures = service[endpoint]
        if figures.p99_ms > MAX_TAIL_RATIO * figures.p50_ms:
            found[f"{endpoint}_tail"] = (
                f"{what} p99 {figures.p99_ms} ms is over {MAX_TAIL_RATIO:g} x its p50 "
                f"{figures.p50_ms} ms"
            )
    return found


def needs_second_run(first: Mapping[str, Figures]) -> bool:
    """Whether the first run missed a timing budget, so that the service is measured again."""
    return bool(timing_misses(first))


def failures(runs: Sequence[Mapping[str, Figures]], image: ImageFigures | None) -> list[str]:
    """Every failure of an invocation, one line each.

    A timing budget fails when the last two runs both miss it (a single run fails none); a
    failed request in any run, and an image whose dependency layer was rebuilt, fail at once.
    """
    found = [
        f"run {number}: {name}: {figures.failed} failed requests"
        for number, run in enumerate(runs, start=1)
        for name, figures in run.items()
        if figures.failed
    ]
    if len(runs) >= CONSECUTIVE_MISSES:
        earlier, last = timing_misses(runs[-2]), timing_misses(runs[-1])
        found += [
            f"missed in two runs in a row: {earlier[name]}, then {last[name]}"
            for name in earlier
            if name in last
        ]
    if image is not None and not image.dependency_layer_reused:
        found.append("a source-only rebuild did not reuse the dependency layer")
    return found


def _quotient(service: Mapping[str, Figures], numerator: str, denominator: str) -> float:
    """Return one endpoint's throughput over another's."""
    return round(service[numerator].rps / service[denominator].rps, 3)
