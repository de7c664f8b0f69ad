"""Run every benchmark in one go, print a table, write JSON, and check the budgets.

python3 scripts/dev.py bench [--quick] [--report-only] [--no-image] [--output PATH]
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
from typing import Any

import yaml

from bench.budgets import live_over_bare, misses, stack_over_bare
from bench.image import ImageFigures, measure_image
from bench.render import COPIER, measure_render
from bench.service import measure_service
from bench.wrk import Load
from tests.support.docker import docker_engine
from tests.support.tools import python_for, run
from tests.support.variants import PRESETS_DIR, ROOT, defaults


def main(argv: list[str]) -> int:
    """Measure, report and judge."""
    args = _parser().parse_args(argv)
    load = Load(seconds=1 if args.quick else 10)
    rounds = 1 if args.quick else 3
    answers = defaults() | yaml.safe_load((PRESETS_DIR / "default.yml").read_text())
    with tempfile.TemporaryDirectory(prefix="taskapi-bench-") as workdir:
        project = _install(Path(workdir, "service"), answers["python_version"])
        print("Loading the service and bare FastAPI ...", flush=True)
        service = measure_service(project, answers, load=load, rounds=rounds)
        print("Timing copier copy ...", flush=True)
        render = measure_render(runs=1 if args.quick else 5)
        image = None
        if not args.no_image:
            print("Building the image ...", flush=True)
            image = measure_image(docker_engine(), project, answers["python_version"])
    results: dict[str, Any] = {
        "machine": _machine(),
        "load": dataclasses.asdict(load) | {"rounds": rounds},
        "service": {name: dataclasses.asdict(f) for name, f in service.items()},
        "live_over_bare": live_over_bare(service),
        "stack_over_bare": stack_over_bare(service),
        "render": dataclasses.asdict(render)
        | {"ratio": render.ratio, "content_ratio": render.content_ratio},
        "image": dataclasses.asdict(image) if image else None,
    }
    failures = misses(service, render, image)
    results["budget_misses"] = failures
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(_table(results, image))
    print(f"Results written to {args.output}")
    for line in failures:
        print(f"BUDGET MISSED: {line}")
    return 1 if failures and not args.report_only else 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1 s loads, 1 round (a smoke run)")
    parser.add_argument("--report-only", action="store_true", help="exit 0 on missed budgets")
    parser.add_argument("--no-image", action="store_true", help="skip the Docker image figures")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results.json")
    return parser


def _install(destination: Path, python_version: str) -> Path:
    """Render the default preset and install it as its README says."""
    copy = [str(COPIER), "copy", "--quiet", "--defaults", "--vcs-ref", "HEAD"]
    copy += ["--data-file", str(PRESETS_DIR / "default.yml"), str(ROOT), str(destination)]
    run(copy, cwd=ROOT)
    run(["uv", "sync", "--locked", "--python", python_for(python_version)], cwd=destination)
    return destination


def _machine() -> dict[str, object]:
    pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(pages / 2**30, 1),
        "python": platform.python_version(),
        "system": platform.platform(terse=True),
    }


def _table(results: dict[str, Any], image: ImageFigures | None) -> str:
    """Return the figures as a Markdown table (docs/performance.md carries the latest)."""
    rows = [("Measure", "Value"), ("---", "---")]
    for name, figures in results["service"].items():
        rows.append(
            (
                name,
                (
                    f"{figures['rps']} rps (spread {figures['rps_spread']:.0%}), "
                    f"p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms, "
                    f"{figures['failed']} failed"
                ),
            )
        )
    rows.append(("(a) /healthz/live over bare FastAPI", f"{results['live_over_bare']}"))
    rows.append(("/info/status (every middleware) over bare", f"{results['stack_over_bare']}"))
    render = results["render"]
    rows.append(
        ("render: full preset", f"{render['full_s']} s (spread {render['full_spread']:.0%})")
    )
    rows.append(("render: one-file floor", f"{render['floor_s']} s"))
    rows.append(("render ratio", f"{render['ratio']}"))
    rows.append(("render: same files, one line each", f"{render['same_tree_s']} s"))
    rows.append(("render: full preset over same files", f"{render['content_ratio']}"))
    if image:
        rows.append(("image size (added over base)", f"{image.size_mb} MB ({image.added_mb} MB)"))
        rows.append(
            ("first build / warm rebuild", f"{image.first_build_s} s / {image.warm_rebuild_s} s")
        )
        rows.append(("dependency layer reused", "yes" if image.dependency_layer_reused else "no"))
    return "\n".join(f"| {a} | {b} |" for a, b in rows)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
