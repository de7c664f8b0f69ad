"""Throwaway containers, networks and images for the tests, removed by the id they were given."""

from __future__ import annotations

import contextlib
import secrets
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.docker import BUILD_ENV
from tests.support.services import unavailable
from tests.support.tools import clean_env, run

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

#: Every container, network and image a test makes carries this label.
TEST_LABEL = "org.taskapi.test"


def unique(prefix: str) -> str:
    """Return a name no other test run uses."""
    return f"taskapi-{prefix}-{secrets.token_hex(4)}"


def require_image(images: frozenset[str], tag: str) -> str:
    """`tag` when it is among `images`; otherwise the test fails in CI and is skipped elsewhere."""
    if tag not in images:
        unavailable(f"no image {tag} (its stand-in needs a pyenv build of that Python)")
    return tag


@dataclass(frozen=True)
class Container:
    """A running container."""

    docker: str
    id: str

    def exec(self, *command: str) -> subprocess.CompletedProcess[str]:
        """Run `command` in the container; the caller checks the outcome."""
        return subprocess.run(
            [self.docker, "exec", self.id, *command],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def logs(self) -> str:
        """Return the container's output so far, stdout and stderr interleaved."""
        shown = subprocess.run(
            [self.docker, "logs", self.id],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            check=False,
        )
        return shown.stdout

    def wait_until(self, ready: Callable[[], bool], *, timeout: float, what: str) -> None:
        """Poll `ready` until it holds; fail with the container's log tail after `timeout`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready():
                return
            time.sleep(0.2)
        tail = "\n".join(self.logs().splitlines()[-30:])
        pytest.fail(f"{what} did not happen within {timeout:.0f}s\n--- container log\n{tail}")


@contextlib.contextmanager
def network(docker: str) -> Iterator[str]:
    """Yield a user-defined bridge network (its containers find each other by name)."""
    name = unique("net")
    run([docker, "network", "create", "--label", TEST_LABEL, name], cwd=Path.cwd())
    try:
        yield name
    finally:
        subprocess.run([docker, "network", "rm", name], capture_output=True, check=False)


@contextlib.contextmanager
def container(
    docker: str, image: str, *arguments: str, options: tuple[str, ...] = ()
) -> Iterator[Container]:
    """Yield a detached container of `image` (`docker run OPTIONS IMAGE ARGS`), removed at exit."""
    started = run(
        [docker, "run", "--detach", "--label", TEST_LABEL, *options, image, *arguments],
        cwd=Path.cwd(),
    )
    running = Container(docker, started.stdout.strip())
    try:
        yield running
    finally:
        subprocess.run(
            [docker, "rm", "--force", "--volumes", running.id], capture_output=True, check=False
        )


@contextlib.contextmanager
def built_image(docker: str, context: Path) -> Iterator[str]:
    """Yield the image of the Dockerfile in `context`, removed at exit.

    Give a builder stage the label TEST_LABEL too: its untagged image is removed with it.
    """
    tag = f"{unique('image')}:test"
    command = [docker, "build", "--label", TEST_LABEL, "--tag", tag, str(context)]
    run(command, cwd=context, env=clean_env(**BUILD_ENV), timeout=900)
    try:
        yield tag
    finally:
        subprocess.run([docker, "image", "rm", "--force", tag], capture_output=True, check=False)
        prune = [docker, "image", "prune", "--force", "--filter", f"label={TEST_LABEL}"]
        subprocess.run(prune, capture_output=True, check=False)
