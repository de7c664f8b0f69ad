"""Run the tools a rendered project uses, with their output shown when they fail."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path

#: Variables of this repo's own environment that must not leak into a rendered project's tools.
_LEAKY_VARIABLES = ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "DATABASE_URL", "PYTHONPATH")


def clean_env(**extra: str) -> dict[str, str]:
    """Return this process's environment without the variables of this repo's venv."""
    env = {k: v for k, v in os.environ.items() if k not in _LEAKY_VARIABLES}
    env.setdefault("UV_PYTHON_DOWNLOADS", "automatic")
    return env | extra


@functools.cache
def python_for(version: str) -> str:
    """Return an interpreter for `version`: pyenv's build if there is one, else uv's."""
    pyenv = shutil.which("pyenv")
    if pyenv:
        root = subprocess.run([pyenv, "root"], capture_output=True, text=True, check=True)
        builds = sorted(Path(root.stdout.strip(), "versions").glob(f"{version}.*/bin/python"))
        if builds:
            return str(builds[-1])
    return version


def run(
    command: list[str], cwd: Path | None, *, env: dict[str, str] | None = None, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    """Run `command` in `cwd`; fail with its output when it exits non-zero."""
    result = subprocess.run(
        command,
        cwd=cwd,
        env=env if env is not None else clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        message = f"{' '.join(command)} exited {result.returncode} in {cwd}"
        raise AssertionError(f"{message}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}")
    return result
