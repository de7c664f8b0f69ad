"""Time to a first answer: from `copier copy` to the new service answering `GET /health`.

The steps after the copy are the generated README's quickstart ("Run it locally"), read from the
render and run as written: `uv sync --locked` (with uv's cache warm), the migrations (on SQLite:
no DATABASE_URL), then the development server, polled until `/health` answers 200.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

import httpx

from tests.support.services import free_port
from tests.support.tools import clean_env, run
from tests.support.variants import PRESETS_DIR, ROOT

if TYPE_CHECKING:
    from collections.abc import Iterator

COPIER: Final = Path(sys.executable).parent / "copier"
#: The quickstart's commands: install, migrate, serve.
QUICKSTART_STEPS: Final = 3
#: How long the development server may take to answer before the measurement fails.
SERVE_TIMEOUT_S: Final = 300.0


@dataclass(frozen=True)
class FirstAnswer:
    """Seconds each step takes, one after the other; the total is their sum."""

    copy_s: float
    sync_s: float
    migrate_s: float
    serve_s: float
    total_s: float


def copy_preset(destination: Path, *, env: dict[str, str] | None = None) -> None:
    """`copier copy` the `default` preset of this checkout's HEAD into `destination`."""
    command = [str(COPIER), "copy", "--quiet", "--defaults", "--vcs-ref", "HEAD"]
    command += ["--data-file", str(PRESETS_DIR / "default.yml"), str(ROOT), str(destination)]
    run(command, cwd=ROOT, env=env)


def measure_first_answer(destination: Path, python: str) -> FirstAnswer:
    """Copy, install, migrate and serve a new project in `destination`; time each step.

    `python` is the interpreter `uv sync` installs with. It runs in a newcomer's shell: no
    virtual environment, no DATABASE_URL, Python's bytecode cache on.
    """
    env = {k: v for k, v in clean_env().items() if k != "PYTHONDONTWRITEBYTECODE"}
    marks = [time.perf_counter()]
    copy_preset(destination, env=env)
    marks.append(time.perf_counter())
    sync, migrate, serve = quickstart_commands(destination)
    run([*sync, "--python", python], cwd=destination, env=env)
    marks.append(time.perf_counter())
    run(migrate, cwd=destination, env=env)
    marks.append(time.perf_counter())
    port = free_port()
    log = destination.parent / "first-answer.log"
    with _server_group([*serve, "--port", str(port)], destination, env, log) as server:
        _await_health(f"http://127.0.0.1:{port}/health", server, log)
        marks.append(time.perf_counter())
    copy_s, sync_s, migrate_s, serve_s = (round(b - a, 3) for a, b in itertools.pairwise(marks))
    return FirstAnswer(copy_s, sync_s, migrate_s, serve_s, round(marks[-1] - marks[0], 3))


def quickstart_commands(project: Path) -> list[list[str]]:
    """Return the `uv` commands of the README's "Run it locally" block: install, migrate, serve."""
    readme = (project / "README.md").read_text()
    block = re.search(
        r"^## Run it locally\n.*?^```bash\n(.*?)^```", readme, re.MULTILINE | re.DOTALL
    )
    lines = block.group(1).splitlines() if block else []
    commands = [command for line in lines if (command := shlex.split(line, comments=True))]
    steps = [command for command in commands if command[0] == "uv"]
    if len(steps) != QUICKSTART_STEPS or steps[0][:2] != ["uv", "sync"]:
        raise SystemExit(f"the README's quickstart is not install, migrate, serve: {steps}")
    return steps


@contextlib.contextmanager
def _server_group(
    command: list[str], cwd: Path, env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `command` in a process group of its own; press Ctrl-C on the group at the end."""
    with log.open("wb") as output:
        server = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield server
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def _await_health(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    """Poll `url` until it answers 200; fail if the server exits or takes too long."""
    deadline = time.monotonic() + SERVE_TIMEOUT_S
    while time.monotonic() < deadline and server.poll() is None:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(url, timeout=2).status_code == httpx.codes.OK:
                return
        time.sleep(0.02)
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
    raise SystemExit(f"{url} did not answer 200 (server exit code {server.poll()}):\n{tail}")
