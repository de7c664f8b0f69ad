"""The README's quickstart command renders the default preset and serves it on SQLite."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.services import free_port, port_open, wait_until
from tests.support.tools import python_for
from tests.support.update import commit_all, copy_working_tree, git
from tests.support.variants import ROOT, defaults

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("quickstart")]

README = (ROOT / "README.md").read_text()
README_COMMAND = "python3 scripts/dev.py quickstart ../taskapi"


@pytest.mark.parametrize("where", ["as-the-shell-has-it", "pyenv-build-off-path"])
def test_readme_quickstart_serves_health(tmp_path: Path, where: str) -> None:
    """The README's command, run as written in a fresh checkout, answers /health with ok.

    Nothing picks the new project's Python for it: the quickstart finds the preset's version
    among the installed interpreters, here also a pyenv build that no shim puts on PATH.
    """
    version = defaults()["python_version"]
    env = newcomer_env() if where == "as-the-shell-has-it" else pyenv_off_path(tmp_path, version)
    checkout = tmp_path / "checkout"
    copy_working_tree(checkout)
    git("init", "--quiet", "--initial-branch=main", cwd=checkout)
    commit_all(checkout, "The template as it is")
    assert README_COMMAND in README
    port = free_port()
    log = tmp_path / "quickstart.log"
    # PORT is the command's documented second argument: 8000 may be taken on this machine.
    with log.open("w") as output:
        # A session of its own: Ctrl-C reaches the whole group (dev.py, uv, uvicorn), as in a shell.
        process = subprocess.Popen(
            [*shlex.split(README_COMMAND), str(port)],
            cwd=checkout,
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
    # The default preset has background jobs: on SQLite they run in memory, checked as `jobs`.
    assert set(body["checks"]) == {"database", "jobs"}
    assert {check["status"] for check in body["checks"].values()} == {"ok"}
    assert body["checks"]["database"] == {"status": "ok", "latency_ms": body_latency(body)}
    venv = (tmp_path / "taskapi" / ".venv" / "pyvenv.cfg").read_text()
    assert f"version_info = {version}." in venv


def pyenv_off_path(tmp_path: Path, version: str) -> dict[str, str]:
    """No Python of `version` on PATH nor in uv's reach, one in a pyenv root that pyenv never ran.

    PATH keeps its folders that hold neither `python{version}` nor pyenv, with `python3` (the build
    this venv is made from) and `uv` first; `$PYENV_ROOT/versions/` links a real build of `version`;
    uv may not download one.
    """
    real = Path(python_for(version))
    if not real.is_absolute():
        found = subprocess.run(
            ["uv", "python", "find", "--no-python-downloads", version],
            capture_output=True,
            text=True,
            check=True,
        )
        real = Path(found.stdout.strip())
    prefix = Path(
        subprocess.run(
            [real, "-c", "import sys; print(sys.prefix)"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    build = tmp_path / "pyenv" / "versions" / f"{version}.99"
    build.parent.mkdir(parents=True)
    build.symlink_to(prefix, target_is_directory=True)
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "uv").symlink_to(shutil.which("uv") or "uv")
    (tools / "python3").symlink_to(Path(sys.executable).resolve())  # the venv's base build
    kept = [
        folder
        for folder in os.environ["PATH"].split(os.pathsep)
        if not any(Path(folder, name).exists() for name in (f"python{version}", "pyenv"))
    ]
    empty = tmp_path / "empty"
    empty.mkdir()
    return newcomer_env(
        PATH=os.pathsep.join([str(tools), *kept]),
        PYENV_ROOT=str(tmp_path / "pyenv"),
        UV_PYTHON_INSTALL_DIR=str(empty),
        UV_PYTHON_DOWNLOADS="never",
    )


def test_quickstart_without_the_python_says_what_to_install(tmp_path: Path) -> None:
    """With no Python of the preset's version installed nor downloadable: one line, no render."""
    version = defaults()["python_version"]
    tools = tmp_path / "bin"  # uv alone: no pythonX.Y, no pyenv on PATH
    tools.mkdir()
    (tools / "uv").symlink_to(shutil.which("uv") or "uv")
    empty = tmp_path / "empty"
    empty.mkdir()
    env = newcomer_env(
        PATH=str(tools),
        PYENV_ROOT=str(empty),
        ASDF_DATA_DIR=str(empty),
        UV_PYTHON_INSTALL_DIR=str(empty),
        UV_PYTHON_DOWNLOADS="never",
    )
    dest = tmp_path / "taskapi"
    command = [sys.executable, "scripts/dev.py", "quickstart", str(dest)]
    result = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        f"quickstart: Python {version} (presets/default.yml) is not installed and uv cannot"
        f" download it: install it (`uv python install {version}`, `pyenv install {version}`"
        f" or your system's python{version} package), then run this again.\n"
    )
    assert not dest.exists()


def newcomer_env(**extra: str) -> dict[str, str]:
    """Return a shell's environment: no virtual environment, nothing that picks uv's Python."""
    unset = {"VIRTUAL_ENV", "CONDA_PREFIX", "PYTHONPATH", "UV_PYTHON", "UV_PROJECT_ENVIRONMENT"}
    return {k: v for k, v in os.environ.items() if k not in unset | {"DATABASE_URL"}} | extra


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
    """Return the database check's measured latency (any value: it varies)."""
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
