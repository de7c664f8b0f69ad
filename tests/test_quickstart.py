"""The README's quickstart command renders the default preset and serves it on SQLite."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.support.services import free_port, port_open, wait_until
from tests.support.tools import clean_env, python_for
from tests.support.variants import ROOT, defaults

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("quickstart")]

README = (ROOT / "README.md").read_text()


def test_readme_quickstart_serves_health(tmp_path: Path) -> None:
    """`python3 scripts/dev.py quickstart DEST` answers `curl localhost:PORT/health` with ok."""
    assert "python3 scripts/dev.py quickstart ../taskapi" in README
    port = free_port()
    log = tmp_path / "quickstart.log"
    # uv fetches the preset's Python where it can; here it takes the machine's build of it.
    env = clean_env(UV_PYTHON=python_for(defaults()["python_version"]))
    command = [sys.executable, "scripts/dev.py", "quickstart", str(tmp_path / "taskapi"), str(port)]
    with log.open("w") as output:
        # A session of its own: Ctrl-C reaches the whole group (dev.py, uv, uvicorn), as in a shell.
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        body = poll_health(f"http://127.0.0.1:{port}/health", process, timeout=300)
    except AssertionError:
        print(log.read_text())  # noqa: T201 - the quickstart's own output explains the failure
        raise
    finally:
        stop_group(process)
    assert not port_open(port), "the server outlived Ctrl-C"
    assert body["status"] == "ok", log.read_text()
    assert body["checks"] == {"database": {"status": "ok", "latency_ms": body_latency(body)}}


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """Press Ctrl-C on the quickstart's process group; kill the group if it lingers."""
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=30)
        wait_until(lambda: not group_alive(process.pid), timeout=30, what="Ctrl-C", log=None)
    finally:
        if group_alive(process.pid):
            os.killpg(process.pid, signal.SIGKILL)


def group_alive(group: int) -> bool:
    """Whether any process of the group `group` is still running."""
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def body_latency(body: dict[str, Any]) -> object:
    """The database check's measured latency (any value: it varies)."""
    return body["checks"]["database"]["latency_ms"]


def poll_health(url: str, process: subprocess.Popen[bytes], *, timeout: float) -> dict[str, Any]:
    """Poll `url` until it answers 200; fail if the process exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "quickstart exited early (see its log above)"
        try:
            response = httpx.get(url, timeout=2)
        except httpx.TransportError:
            time.sleep(0.5)
            continue
        if response.status_code == httpx.codes.OK:
            body: dict[str, Any] = response.json()
            return body
        time.sleep(0.5)
    msg = f"{url} did not answer within {timeout:.0f}s"
    raise AssertionError(msg)
