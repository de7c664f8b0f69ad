"""Run every benchmark in one go, print a table, write JSON, and check the budgets.

python3 scripts/dev.py bench [--quick] [--report-only] [--no-image] [--output PATH] [--answers DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from bench.budgets import failures, needs_second_run, ratios, timing_misses
from bench.first_answer import FirstAnswer, copy_preset, measure_first_answer
from bench.image import ImageFigures, measure_image
from bench.jobs import JobFigures, JobResults, measure_jobs
from bench.service import lean_answers, measure_service, serving
from bench.wrk import Load
from tests.support.docker import docker_engine
from tests.support.tools import python_for, run
from tests.support.variants import PRESETS_DIR, ROOT, defaults

if TYPE_CHECKING:
    from bench.service import Figures

#: What each endpoint's row is called in the table.
LABELS = {
    "bare_health": "bare FastAPI `GET /health`",
    "info_status": "`GET /info/status` (every middleware)",
    "healthz_live": "`GET /healthz/live` (the probe path: skips the stack)",
    "lean_list": "lean `GET /api/v1/tasks`",
    "list_tasks": "`GET /api/v1/tasks` (20 of 1,000 tasks)",
    "lean_create": "lean `POST /api/v1/tasks`",
    "create_task": "`POST /api/v1/tasks`",
    "login": "`POST /api/v1/auth/login` (4 connections)",
}
RATIO_LABELS = {
    "list_over_lean": "task list / lean (budget >= 0.7)",
    "create_over_lean": "task creation / lean (budget >= 0.6)",
    "stack_over_bare": "`/info/status` / bare FastAPI (budget >= 0.8)",
    "live_over_bare": "`/healthz/live` / bare FastAPI (probe path, budget >= 0.9)",
}


def main(argv: list[str]) -> int:
    """Measure, report and judge."""
    args = _parser().parse_args(argv)
    load = Load(seconds=1 if args.quick else 10)
    rounds = 1 if args.quick else 3
    answers = defaults() | yaml.safe_load((PRESETS_DIR / "default.yml").read_text())
    python = python_for(answers["python_version"])
    with tempfile.TemporaryDirectory(prefix="taskapi-bench-") as workdir:
        project = _install(Path(workdir, "service"), python)
        print("Timing the quickstart to a first answer ...", flush=True)
        first_answer = measure_first_answer(Path(workdir, "first-answer", "taskapi"), python)
        print("Loading the service and its references ...", flush=True)
        with serving(project, answers) as targets:
            checked = lean_answers(targets)
            runs = [measure_service(targets, load=load, rounds=rounds)]
            if not args.quick and needs_second_run(runs[0]):
                print("A budget was missed: measuring the service once more ...", flush=True)
                runs.append(measure_service(targets, load=load, rounds=rounds))
            print("Measuring background jobs ...", flush=True)
            jobs = measure_jobs(targets, load=load, quick=args.quick)
        image = None
        if not args.no_image:
            print("Building the image ...", flush=True)
            image = measure_image(docker_engine(), project, answers["python_version"])
    if args.answers:
        args.answers.mkdir(parents=True, exist_ok=True)
        for name, body in checked.items():
            (args.answers / f"{name}.json").write_text(json.dumps(body, indent=2) + "\n")
    failed = failures(runs, image) + jobs.failures()
    results = _results(load, rounds, runs, first_answer, image) | {
        "jobs": jobs.as_json(),
        "budget_failures": failed,
    }
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(_table(results, first_answer, image))
    print()
    print(_jobs_table(jobs))
    print(f"Results written to {args.output}")
    for line in failed:
        print(f"BUDGET MISSED: {line}")
    return 1 if failed and not args.report_only else 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="1 s loads, 1 round, one run (a smoke run)"
    )
    parser.add_argument("--report-only", action="store_true", help="exit 0 on missed budgets")
    parser.add_argument("--no-image", action="store_true", help="skip the Docker image figures")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results.json")
    parser.add_argument(
        "--answers",
        type=Path,
        help="write the service's and the lean reference's list and create answers to DIR",
    )
    return parser


def _install(destination: Path, python: str) -> Path:
    """Render the default preset and install it as its README says."""
    copy_preset(destination)
    run(["uv", "sync", "--locked", "--python", python], cwd=destination)
    return destination


def _results(
    load: Load,
    rounds: int,
    runs: list[dict[str, Figures]],
    first_answer: FirstAnswer,
    image: ImageFigures | None,
) -> dict[str, Any]:
    """Return everything measured, as the JSON the harness writes."""
    return {
        "machine": _machine(),
        "load": dataclasses.asdict(load) | {"rounds": rounds},
        "runs": [
            {
                "service": {name: dataclasses.asdict(f) for name, f in run.items()},
                "ratios": ratios(run),
                "missed": timing_misses(run),
            }
            for run in runs
        ],
        "first_answer": dataclasses.asdict(first_answer),
        "image": dataclasses.asdict(image) if image else None,
    }


def _machine() -> dict[str, object]:
    pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(pages / 2**30, 1),
        "python": platform.python_version(),
        "system": platform.platform(terse=True),
    }


def _table(results: dict[str, Any], first_answer: FirstAnswer, image: ImageFigures | None) -> str:
    """Return the figures as a Markdown table, a column per run of the service."""
    runs = results["runs"]
    header = ["Measure", *(f"Run {n}" for n in range(1, len(runs) + 1))]
    rows = [header, ["---"] * len(header)]
    for name, label in LABELS.items():
        rows.append([label, *(_endpoint(run["service"][name]) for run in runs)])
    for name, label in RATIO_LABELS.items():
        cells = (_marked(f"{run['ratios'][name]}", run, name) for run in runs)
        rows.append([label, *cells])
    for endpoint, label in (("list_tasks", "task list"), ("create_task", "task creation")):
        cells = (_marked(_tail(run["service"][endpoint]), run, f"{endpoint}_tail") for run in runs)
        rows.append([f"{label} p99 / p50 (budget <= 3)", *cells])
    blank = [""] * (len(runs) - 1)
    for step in ("copy", "sync", "migrate", "serve", "total"):
        seconds = getattr(first_answer, f"{step}_s")
        rows.append([f"first answer: {step}", f"{seconds} s", *blank])
    if image:
        rows.append(
            ["image size (added over base)", f"{image.size_mb} MB ({image.added_mb} MB)", *blank]
        )
        rows.append(
            [
                "first build / warm rebuild",
                f"{image.first_build_s} s / {image.warm_rebuild_s} s",
                *blank,
            ]
        )
        reused = "yes" if image.dependency_layer_reused else "no"
        rows.append(["dependency layer reused", reused, *blank])
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


def _jobs_table(jobs: JobResults) -> str:
    """Return the background-job figures as a Markdown table: the service beside bare PGQueuer."""
    ratios = jobs.ratios()
    rows = [
        ["Background jobs (report only)", "Bare PGQueuer", "The service", "Service / bare"],
        ["---"] * 4,
        [
            "no-op jobs per second, one worker",
            *(_rate(figures) for figures in (jobs.bare, jobs.integration)),
            f"{ratios['jobs_per_s']}",
        ],
        [
            "enqueue to start, p50",
            *(f"{figures.start_p50_ms} ms" for figures in (jobs.bare, jobs.integration)),
            f"{ratios['start_p50']}",
        ],
        [
            "enqueue to start, p99",
            *(f"{figures.start_p99_ms} ms" for figures in (jobs.bare, jobs.integration)),
            f"{ratios['start_p99']}",
        ],
        [
            "jobs completed / enqueued",
            *(f"{f.completed} / {f.enqueued}" for f in (jobs.bare, jobs.integration)),
            "",
        ],
        [
            "the smallest real job (a delivery to a deleted webhook) per second",
            "",
            f"{_rate(jobs.delivery)}, {jobs.delivery.completed} / {jobs.delivery.enqueued} jobs",
            f"{ratios['delivery_jobs_per_s']} (over bare no-op)",
        ],
    ]
    patch = dataclasses.asdict(jobs.patch)
    rows += [
        ["", "No webhook (no job)", "One webhook (one job)", "With job / without"],
        [
            "`PATCH /api/v1/tasks/{id}` completing a task",
            _endpoint(patch["without_job"]),
            _endpoint(patch["with_job"]),
            f"{ratios['patch_rps']} (rps), {ratios['patch_p50']} (p50)",
        ],
        [
            "delivery jobs enqueued / tasks completed",
            "",
            f"{jobs.patch.jobs_enqueued} / {jobs.patch.tasks_completed}",
            "",
        ],
    ]
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


def _rate(figures: JobFigures) -> str:
    """One worker's throughput in a cell."""
    return f"{figures.jobs_per_s} jobs/s (spread {figures.jobs_per_s_spread:.0%})"


def _endpoint(figures: dict[str, Any]) -> str:
    """One endpoint's figures in a cell."""
    return (
        f"{figures['rps']} rps (spread {figures['rps_spread']:.0%}), "
        f"p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms, {figures['failed']} failed"
    )


def _tail(figures: dict[str, Any]) -> str:
    """p99 over p50 of one endpoint."""
    return f"{figures['p99_ms'] / figures['p50_ms']:.2f}"


def _marked(cell: str, run: dict[str, Any], budget: str) -> str:
    """`cell`, marked when the run misses `budget`."""
    return f"{cell} (missed)" if budget in run["missed"] else cell


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
