"""Everyday commands for this template, runnable with nothing but Python 3.11+.

    python3 scripts/dev.py quickstart [DEST] [PORT]  render the default preset, serve it on SQLite
    python3 scripts/dev.py test [PYTEST ARGS]  run the whole test suite
    python3 scripts/dev.py bench [ARGS]        run the benchmarks and check their budgets
    python3 scripts/dev.py presets             print the preset names as a JSON list (CI's matrix)

uv is used when it is on PATH; otherwise it is installed once into `.tools/` (git-ignored).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Callable

ROOT: Final = Path(__file__).resolve().parent.parent
TOOLS: Final = ROOT / ".tools"


def uv() -> str:
    """Return the uv executable: the one on PATH, else a private install made on first use."""
    found = shutil.which("uv")
    if found:
        return found
    bindir = TOOLS / ("Scripts" if os.name == "nt" else "bin")
    private = bindir / "uv"
    if not private.exists():
        print("Installing uv into .tools/ (once) ...", flush=True)
        venv.create(TOOLS, with_pip=True)
        subprocess.run([bindir / "python", "-m", "pip", "install", "-q", "uv"], check=True)
    return str(private)


def quickstart(dest: str = "../taskapi", port: str = "8000") -> int:
    """Render presets/default.yml from this checkout into DEST, install, migrate and serve it."""
    preset = ROOT / "presets" / "default.yml"
    version = preset_python(preset)
    python = installed_python(version) or downloaded_python(version)
    if python is None:
        print(
            f"quickstart: Python {version} ({preset.relative_to(ROOT)}) is not installed and uv"
            f" cannot download it: install it (`uv python install {version}`, `pyenv install"
            f" {version}` or your system's python{version} package), then run this again.",
            file=sys.stderr,
        )
        return 1
    target = Path(dest).resolve()
    command = [uv(), "run", "--project", str(ROOT), "copier", "copy", "--defaults"]
    command += ["--data-file", str(preset), "--vcs-ref", "HEAD"]
    # UV_PYTHON picks the new project's Python: this repo's environment keeps its own.
    template_env = {k: v for k, v in os.environ.items() if k != "UV_PYTHON"}
    subprocess.run([*command, str(ROOT), str(target)], env=template_env, check=True)
    env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "DATABASE_URL"}}
    sync = [uv(), "sync", "--locked", "--python", python]
    subprocess.run(sync, cwd=target, env=env, check=True)
    subprocess.run(
        [uv(), "run", "--no-sync", "alembic", "upgrade", "head"], cwd=target, env=env, check=True
    )
    serve = [uv(), "run", "--no-sync", "uvicorn", f"{package_of(target)}.main:app", "--port", port]
    print(f"Serving {target} on http://127.0.0.1:{port} (SQLite). Ctrl-C stops it.", flush=True)
    return subprocess.run(serve, cwd=target, env=env, check=False).returncode


def preset_python(preset: Path) -> str:
    """Return the `python_version` a preset file sets, e.g. "3.12"."""
    found = re.search(r"^python_version:\s*[\"']?([0-9.]+)", preset.read_text(), re.MULTILINE)
    if found is None:
        msg = f"{preset} sets no python_version"
        raise SystemExit(msg)
    return found.group(1)


def installed_python(version: str) -> str | None:
    """Return an installed interpreter of `version` (X.Y), downloading nothing.

    uv's own and those on PATH (uv python find), then pyenv's and asdf's builds, which no shim
    need put on PATH, then a `pythonX.Y` on PATH that uv passed over.
    """
    found = subprocess.run(
        [uv(), "python", "find", "--no-python-downloads", "--no-project", version],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if found.returncode == 0 and is_python(found.stdout.strip(), version):
        return found.stdout.strip()
    builds = [root / "versions" for root in pyenv_roots()]
    builds.append(
        Path(os.environ.get("ASDF_DATA_DIR", Path.home() / ".asdf"), "installs", "python")
    )
    candidates = [
        str(build / "bin" / "python3")
        for folder in builds
        for build in sorted(folder.glob(f"{version}.*"), key=release, reverse=True)
    ]
    candidates.append(shutil.which(f"python{version}") or "")
    return next((python for python in candidates if is_python(python, version)), None)


def pyenv_roots() -> list[Path]:
    """Where pyenv keeps its builds: `pyenv root`, $PYENV_ROOT, ~/.pyenv."""
    roots = [Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))]
    pyenv = shutil.which("pyenv")
    if pyenv:
        asked = subprocess.run([pyenv, "root"], capture_output=True, text=True, check=False)
        roots.insert(0, Path(asked.stdout.strip()))
    return roots


def release(build: Path) -> tuple[int, ...]:
    """Return a build folder's version as numbers: 3.12.10 -> (3, 12, 10); 3.12.1t, -dev last."""
    return tuple(int(part) if part.isdigit() else -1 for part in build.name.split("."))


def is_python(path: str, version: str) -> bool:
    """Whether `path` runs and is Python `version` (a pyenv shim of another version is not)."""
    if not path or not Path(path).is_file():
        return False
    asked = [path, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"]
    try:
        ran = subprocess.run(asked, capture_output=True, text=True, timeout=30, check=False)
    except OSError:
        return False
    return ran.returncode == 0 and ran.stdout.strip() == version


def downloaded_python(version: str) -> str | None:
    """Python `version` installed by uv, where uv may and can download it; else None."""
    installing = [uv(), "python", "install", version]
    if subprocess.run(installing, capture_output=True, check=False).returncode != 0:
        return None
    return installed_python(version)


def package_of(project: Path) -> str:
    """Return the package name recorded in a rendered project's answers file."""
    for line in (project / ".copier-answers.yml").read_text().splitlines():
        if line.startswith("package_name:"):
            return line.split(":", 1)[1].strip()
    msg = f"{project} has no package_name in .copier-answers.yml"
    raise SystemExit(msg)


def test(*pytest_args: str) -> int:
    """Install this repo's dev environment and run every test tier."""
    subprocess.run([uv(), "sync", "--locked"], cwd=ROOT, check=True)
    command = [uv(), "run", "--no-sync", "pytest", "-n", "auto", "--dist", "loadgroup"]
    result = subprocess.run([*command, *pytest_args], cwd=ROOT, env=env_with_uv(), check=False)
    return result.returncode


def bench(*args: str) -> int:
    """Install this repo's dev environment and run the benchmark harness (bench/)."""
    subprocess.run([uv(), "sync", "--locked"], cwd=ROOT, check=True)
    command = [uv(), "run", "--no-sync", "python", "-m", "bench", *args]
    return subprocess.run(command, cwd=ROOT, env=env_with_uv(), check=False).returncode


def env_with_uv() -> dict[str, str]:
    """Return this environment with `uv` on PATH: tests run it by name in each render."""
    if shutil.which("uv"):
        return dict(os.environ)
    shims = TOOLS / "shims"
    shims.mkdir(parents=True, exist_ok=True)
    link = shims / "uv"
    if not link.exists():
        link.symlink_to(uv())
    return os.environ | {"PATH": os.pathsep.join([str(shims), os.environ.get("PATH", "")])}


def presets() -> int:
    """Print the names of presets/*.yml as a JSON list, for a CI matrix."""
    print(json.dumps(sorted(path.stem for path in (ROOT / "presets").glob("*.yml"))))
    return 0


def main(argv: list[str]) -> int:
    """Dispatch to a command."""
    commands: dict[str, Callable[..., int]] = {
        "quickstart": quickstart,
        "test": test,
        "bench": bench,
        "presets": presets,
    }
    if not argv or argv[0] not in commands:
        print(__doc__)
        return 2
    return commands[argv[0]](*argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
