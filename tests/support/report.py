"""Figures the tests measure (image sizes, wall times), printed at the end of the run.

The controlling pytest process names one file in TASKAPI_FIGURES before its pytest-xdist workers
start; every process appends JSON lines to it, and the controller prints them in its summary.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Final

VARIABLE: Final = "TASKAPI_FIGURES"


def start() -> None:
    """Name the figures file of this run (the workers inherit it)."""
    if VARIABLE not in os.environ:
        handle, path = tempfile.mkstemp(prefix="taskapi-figures-", suffix=".jsonl")
        os.close(handle)
        os.environ[VARIABLE] = path


def record(section: str, **values: object) -> None:
    """Remember figures under `section` for the end-of-run summary."""
    with Path(os.environ[VARIABLE]).open("a") as out:
        out.write(json.dumps({"section": section, **values}) + "\n")


def summary() -> list[str]:
    """Return the recorded figures, one line each."""
    path = Path(os.environ.get(VARIABLE, os.devnull))
    lines = []
    for line in path.read_text().splitlines():
        entry = json.loads(line)
        section = entry.pop("section")
        lines.append(f"{section}: " + ", ".join(f"{k}={v}" for k, v in entry.items()))
    return lines
