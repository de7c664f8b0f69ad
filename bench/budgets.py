"""The budgets the harness holds the template to; a miss is a failure line."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from bench.image import ImageFigures
    from bench.render import RenderTimes
    from bench.service import Figures

MIN_LIVE_RATIO: Final = 0.90
MAX_TAIL_RATIO: Final = 3.0
MAX_RENDER_RATIO: Final = 2.0


def misses(
    service: dict[str, Figures], render: RenderTimes, image: ImageFigures | None
) -> list[str]:
    """Every budget the figures miss, as one line each."""
    found = [
        f"{name}: {figures.failed} failed requests"
        for name, figures in service.items()
        if figures.failed
    ]
    live_ratio = live_over_bare(service)
    if live_ratio < MIN_LIVE_RATIO:
        found.append(
            f"(a) /healthz/live is {live_ratio:.2f} x bare FastAPI, under {MIN_LIVE_RATIO}"
        )
    tasks = service["list_tasks"]
    if tasks.p99_ms > MAX_TAIL_RATIO * tasks.p50_ms:
        found.append(f"(b) task list p99 {tasks.p99_ms} ms is over 3 x its p50 {tasks.p50_ms} ms")
    if render.ratio > MAX_RENDER_RATIO:
        found.append(f"render takes {render.ratio} x the one-file floor, over {MAX_RENDER_RATIO}")
    if image is not None and not image.dependency_layer_reused:
        found.append("a source-only rebuild did not reuse the dependency layer")
    return found


def live_over_bare(service: dict[str, Figures]) -> float:
    """Return budget (a): the generated liveness probe's throughput over bare FastAPI's."""
    return round(service["healthz_live"].rps / service["bare_health"].rps, 3)


def stack_over_bare(service: dict[str, Figures]) -> float:
    """Return the middleware stack's throughput (`/info/status`) over bare FastAPI's (no budget)."""
    return round(service["info_status"].rps / service["bare_health"].rps, 3)
