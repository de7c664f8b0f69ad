"""Docker for the tests: the engine, and local stand-ins for the official images the template uses.

Machines without a container registry (this repo's CI) build each image a rendered project names
(`python:X.Y-slim-bookworm`, `postgres:16-alpine`, `redis:7-alpine`, `nginx:alpine`) from the
recipes in tests/images/ on a debootstrapped Debian bookworm, tagged with exactly that name.
Each build is labelled with a hash of its recipe and skipped while a tag carries the same hash.
A tag without that label is a real image pulled earlier, and is left alone.

With TASKAPI_REAL_IMAGES=1 (set by workflows that reach Docker Hub) nothing is built: the real
images are pulled instead, the Alpine Python images too (they have no stand-in).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Final

from tests.support.services import require, unavailable
from tests.support.tools import python_for, run

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

RECIPES: Final = Path(__file__).resolve().parents[1] / "images"
RECIPE_LABEL: Final = "org.taskapi.standin.recipe"
#: The label of the recipes' builder stages (removed after each build).
STAGE_LABEL: Final = "org.taskapi.standin.stage"
REAL_IMAGES: Final = "TASKAPI_REAL_IMAGES"
#: The service images of the rendered compose.yaml, by the recipe that stands in for them.
SERVICE_TAGS: Final = {
    "postgres": ("postgres:16-alpine",),
    "redis": ("redis:7-alpine",),
    "nginx": ("nginx:alpine",),
}
#: The legacy builder: it works offline with every docker CLI (BuildKit needs buildx or 20.10's).
BUILD_ENV: Final = {"DOCKER_BUILDKIT": "0"}
_DEBOOTSTRAP_EXCLUDES: Final = (
    "./var/cache/apt/archives/*.deb",
    "./var/lib/apt/lists/*",
    "./usr/share/doc/*",
    "./usr/share/man/*",
    "./usr/share/info/*",
    "./usr/share/locale/*",
)
#: Left out of a staged CPython, as the official image leaves them out (site-packages: ensurepip).
_NOT_STAGED: Final = frozenset({"__pycache__", "test", "tests", "idle_test", "site-packages"})


def python_tag(version: str) -> str:
    """Return the official Debian image of Python `version` ("3.12")."""
    return f"python:{version}-slim-bookworm"


def base_tag(version: str, docker_base: str) -> str:
    """Return the official image a rendered Dockerfile starts from, for its `docker_base` answer."""
    return python_tag(version) if docker_base == "slim" else f"python:{version}-alpine"


def real_images() -> bool:
    """Whether the official images are pulled (TASKAPI_REAL_IMAGES) rather than stood in for."""
    return bool(os.environ.get(REAL_IMAGES))


def docker_engine() -> str:
    """Return the docker CLI, once the engine answers `docker info`."""
    docker = require("docker", hint="apt-get install docker.io, then start dockerd")
    info = subprocess.run(
        [docker, "info", "--format", "{{.ServerVersion}}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if info.returncode != 0:
        detail = (info.stderr.strip().splitlines() or ["no answer"])[-1]
        unavailable(f"the Docker engine is not running ({detail}); start dockerd")
    return docker


def build_standins(python_versions: Iterable[str]) -> frozenset[str]:
    """Build (or reuse) the stand-ins of the Python `python_versions` and of the services.

    Returns the image names that are ready; a Python without a pyenv build has none.
    """
    docker = docker_engine()
    python_tags = {version: python_tag(version) for version in python_versions}
    service_tags = [tag for tags in SERVICE_TAGS.values() for tag in tags]
    if real_images():
        alpine_tags = [base_tag(version, "alpine") for version in python_tags]
        pulled = [*python_tags.values(), *alpine_tags, *service_tags]
        for tag in pulled:
            run([docker, "pull", "--quiet", tag], Path.cwd(), timeout=600)
        return frozenset(pulled)
    with _build_lock():
        base = _base_image(docker)
        for recipe, tags in SERVICE_TAGS.items():
            _build(docker, recipe, tags, args={"BASE": base})
        ready = set(service_tags)
        for version, tag in python_tags.items():
            if _build_python(docker, version, tag, base=base):
                ready.add(tag)
    return frozenset(ready)


@contextlib.contextmanager
def _build_lock() -> Iterator[None]:
    """One builder at a time on this machine (pytest-xdist starts a session per worker)."""
    with (Path(tempfile.gettempdir()) / "taskapi-standins.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _base_image(docker: str) -> str:
    """Return the bookworm base with this machine's mirror and certificate authorities."""
    sources, mirror = _debian_sources()
    rootfs = f"taskapi-standin/bookworm-rootfs:{_digest(mirror, *_DEBOOTSTRAP_EXCLUDES)}"
    if _image_labels(docker, rootfs) is None:
        _debootstrap(docker, mirror, rootfs)
    settings = _acquire_settings()
    certificates = sorted(Path("/usr/local/share/ca-certificates").glob("*.crt"))

    def stage(context: Path) -> None:
        (context / "apt").mkdir()
        (context / "apt" / "debian.sources").write_text(sources)
        (context / "apt" / "mirror.conf").write_text(settings)
        (context / "certs").mkdir()
        (context / "certs" / ".keep").touch()
        for certificate in certificates:
            shutil.copy(certificate, context / "certs")

    inputs = [sources, settings, *(path.read_text() for path in certificates)]
    tag = f"taskapi-standin/bookworm:{_digest(rootfs, *inputs, *_recipe_files('base'))}"
    _build(docker, "base", (tag,), args={"BASE": rootfs}, inputs=inputs, stage=stage)
    _drop_other_tags(docker, rootfs)
    _drop_other_tags(docker, tag)
    return tag


def _drop_other_tags(docker: str, image: str) -> None:
    """Untag the other versions of our own `image` (the base of older recipes)."""
    repository = image.partition(":")[0]
    listed = run(
        [docker, "image", "ls", "--format", "{{.Repository}}:{{.Tag}}", repository], RECIPES
    )
    old = [name for name in listed.stdout.split() if name != image]
    if old:
        subprocess.run([docker, "image", "rm", *old], capture_output=True, check=False)


def _debian_sources() -> tuple[str, str]:
    """Return this machine's Debian bookworm apt sources (deb822) and the mirror of `bookworm`."""
    stanzas: list[str] = []
    mirror = "http://deb.debian.org/debian"
    for path in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        for stanza in path.read_text().split("\n\n"):
            fields = dict(re.findall(r"^([\w-]+):[ \t]*(.*)$", stanza, flags=re.MULTILINE))
            suites = fields.get("Suites", "").split()
            if "deb" in fields.get("Types", "").split() and "URIs" in fields:
                if not any(suite.startswith("bookworm") for suite in suites):
                    continue
                stanzas.append(_deb822(fields["URIs"], suites))
                if "bookworm" in suites:
                    mirror = fields["URIs"].split()[0]
    return "\n".join(stanzas or [_deb822(mirror, ["bookworm", "bookworm-updates"])]), mirror


def _deb822(uris: str, suites: list[str]) -> str:
    """One deb822 apt source of Debian's main component."""
    return (
        f"Types: deb\nURIs: {uris}\nSuites: {' '.join(suites)}\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
    )


def _acquire_settings() -> str:
    """Return this machine's apt settings about stale mirrors, which a snapshot mirror needs."""
    lines = []
    for option in ("Acquire::Check-Valid-Until", "Acquire::Check-Date"):
        shown = subprocess.run(
            ["apt-config", "shell", "VALUE", option], capture_output=True, text=True, check=False
        )
        value = shown.stdout.strip().removeprefix("VALUE=").strip("'")
        if value:
            lines.append(f'{option} "{value}";\n')
    return "".join(lines)


def _debootstrap(docker: str, mirror: str, tag: str) -> None:
    """Import a minimal bookworm from `mirror` as `tag` (needs root and debootstrap)."""
    debootstrap = require("debootstrap", hint="apt-get install debootstrap")
    if os.geteuid() != 0:
        unavailable("debootstrap needs root to build the base of the stand-in images")
    with tempfile.TemporaryDirectory(prefix="taskapi-rootfs-") as directory:
        target = Path(directory) / "rootfs"
        command = [debootstrap, "--variant=minbase", "bookworm", str(target), mirror]
        run(command, Path(directory), timeout=900)
        excludes = [f"--exclude={pattern}" for pattern in _DEBOOTSTRAP_EXCLUDES]
        with subprocess.Popen(
            ["tar", "-C", str(target), *excludes, "-c", "."], stdout=subprocess.PIPE
        ) as tar:
            imported = subprocess.run(
                [docker, "import", "--change", f"LABEL {RECIPE_LABEL}={tag}", "-", tag],
                stdin=tar.stdout,
                capture_output=True,
                text=True,
                check=False,
            )
        if tar.returncode != 0 or imported.returncode != 0:
            raise AssertionError(f"importing {target} as {tag} failed\n{imported.stderr}")


def _build_python(docker: str, version: str, tag: str, *, base: str) -> bool:
    """Build the stand-in of Python `version` from its pyenv build; False without one."""
    interpreter = python_for(version)
    if not Path(interpreter).is_absolute():
        return False
    prefix = Path(interpreter).parent.parent

    def stage(context: Path) -> None:
        staged = context / "python"
        (staged / "bin").mkdir(parents=True)
        (staged / "lib").mkdir()
        for program in (prefix / "bin").iterdir():
            if program.name.startswith(("python", "pydoc")) and program.suffix != ".py":
                shutil.copy2(program, staged / "bin", follow_symlinks=False)
        shutil.copytree(prefix / "include", staged / "include", symlinks=True)
        for library in (prefix / "lib").iterdir():
            if library.is_dir():
                shutil.copytree(library, staged / "lib" / library.name, symlinks=True, ignore=_skip)
            elif library.name.startswith("libpython"):
                shutil.copy2(library, staged / "lib", follow_symlinks=False)

    full_version = re.sub(r"[^0-9.].*", "", prefix.name)
    args = {"BASE": base, "BUILD_PREFIX": str(prefix), "PYTHON_VERSION": full_version}
    _build(docker, "python", (tag,), args=args, inputs=[], stage=stage)
    return True


def _skip(_directory: str, names: list[str]) -> set[str]:
    """Return the parts of a CPython build the official image does not have (tkinter needs Tk)."""
    return {
        name
        for name in names
        if name in _NOT_STAGED or name.endswith(".a") or name.startswith("_tkinter")
    }


def _build(  # noqa: PLR0913 - each argument is one input of the build
    docker: str,
    recipe: str,
    tags: tuple[str, ...],
    *,
    args: dict[str, str],
    inputs: list[str] | None = None,
    stage: Callable[[Path], None] | None = None,
) -> None:
    """Build `recipe` as `tags`, except the tags that are real images or have the same hash.

    The hash covers the recipe, the build arguments and `inputs` (what `stage` adds to the
    build context); `stage` runs only when something is built.
    """
    arguments = [f"{key}={value}" for key, value in sorted(args.items())]
    recipe_hash = _digest(*_recipe_files(recipe), *arguments, *(inputs or []))
    found = {tag: _image_labels(docker, tag) for tag in tags}
    todo = [
        tag
        for tag, labels in found.items()
        if labels is None or labels.get(RECIPE_LABEL, recipe_hash) != recipe_hash
    ]
    if not todo:
        return
    replaced = [_image_id(docker, tag) for tag in todo if found[tag] is not None]
    with tempfile.TemporaryDirectory(prefix="taskapi-standin-") as directory:
        context = Path(directory)
        shutil.copytree(RECIPES / recipe, context, dirs_exist_ok=True)
        if stage:
            stage(context)
        command = [docker, "build", "--label", f"{RECIPE_LABEL}={recipe_hash}"]
        command += [f"--build-arg={argument}" for argument in arguments]
        command += [f"--tag={tag}" for tag in todo]
        run([*command, str(context)], context, env=os.environ | BUILD_ENV, timeout=1800)
    # The stand-ins this replaced, and the recipes' builder stages, are untagged now.
    if replaced:
        subprocess.run([docker, "image", "rm", *replaced], capture_output=True, check=False)
    prune = [docker, "image", "prune", "--force", "--filter", f"label={STAGE_LABEL}"]
    run(prune, RECIPES)


def _image_labels(docker: str, image: str) -> dict[str, str] | None:
    """Return the labels of the local `image`, or None when there is no such image."""
    shown = subprocess.run(
        [docker, "image", "inspect", "--format", "{{json .Config.Labels}}", image],
        capture_output=True,
        text=True,
        check=False,
    )
    if shown.returncode != 0:
        return None
    labels: dict[str, str] = json.loads(shown.stdout) or {}
    return labels


def _image_id(docker: str, image: str) -> str:
    """Return the id of the local `image`."""
    return run([docker, "image", "inspect", "--format", "{{.Id}}", image], RECIPES).stdout.strip()


def _recipe_files(recipe: str) -> list[str]:
    """Each file of a recipe as "path:sha256", in a stable order."""
    directory = RECIPES / recipe
    return [
        f"{path.relative_to(directory)}:{hashlib.sha256(path.read_bytes()).hexdigest()}"
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    ]


def _digest(*parts: str) -> str:
    """Return a short hash of `parts`, for tags and labels."""
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]
