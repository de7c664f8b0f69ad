"""A rendered compose stack under a unique project name, driven by the docker-compose CLI."""

from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import yaml

from tests.support.docker import BUILD_ENV
from tests.support.services import require
from tests.support.tools import clean_env, run

if TYPE_CHECKING:
    from pathlib import Path


#: compose's `${NAME:-default}`.
_DEFAULTED = re.compile(r"\$\{\w+:-([^}]*)\}")


def interpolated(value: str) -> str:
    """`value` as compose reads it when the variables it names are unset: their defaults."""
    return _DEFAULTED.sub(r"\1", value)


def app_environment(project: Path) -> dict[str, str]:
    """Return the `environment` that the rendered compose.yaml gives the app, interpolated."""
    document = yaml.safe_load((project / "compose.yaml").read_text())
    environment = document["services"]["app"]["environment"]
    return {name: interpolated(str(value)) for name, value in environment.items()}


def nginx_address(project: Path) -> str | None:
    """Return nginx's fixed address on the compose network (interpolated), None if it has none."""
    document = yaml.safe_load((project / "compose.yaml").read_text())
    nginx = document["services"].get("nginx") or {}
    addresses = [n["ipv4_address"] for n in (nginx.get("networks") or {}).values() if n]
    return interpolated(addresses[0]) if addresses else None


def fresh_network_prefix() -> str:
    """Return a NETWORK_PREFIX (`a.b.c`: a /24) for one test stack, apart from other stacks."""
    return f"10.{secrets.choice(range(200, 250))}.{secrets.randbelow(256)}"


@dataclass
class ComposeStack:
    """`docker-compose -p NAME` on a rendered project, with its published ports chosen here."""

    project: Path
    name: str
    ports: dict[str, int]
    image: str = field(init=False)
    #: The stack's own network (compose.yaml's NETWORK_PREFIX): stacks side by side never clash.
    network_prefix: str = field(default_factory=fresh_network_prefix)
    #: The compose files, in order: the rendered one, then a test's overrides, if any.
    files: tuple[str, ...] = ("compose.yaml",)

    def __post_init__(self) -> None:
        self.image = f"{self.name}-app:test"

    def compose(self, *arguments: str, timeout: float = 900) -> str:
        """Run a docker-compose command on this stack; return its output."""
        command = [require("docker-compose", hint="apt-get install docker-compose")]
        command += ["--project-name", self.name]
        for name in self.files:
            command += ["--file", name]
        command += arguments
        env = clean_env(
            **BUILD_ENV,
            COMPOSE_DOCKER_CLI_BUILD="0",
            APP_IMAGE=self.image,
            NETWORK_PREFIX=self.network_prefix,
            **{name: str(port) for name, port in self.ports.items()},
        )
        result = run(command, cwd=self.project, env=env, timeout=timeout)
        return result.stdout + result.stderr

    def up(self) -> None:
        """Build the app image and start every service in the background."""
        self.compose("up", "--detach", "--build")

    def down(self) -> None:
        """Stop and remove the containers, networks, volumes and the built image."""
        self.compose("down", "--volumes", "--rmi", "local", "--remove-orphans")

    def states(self) -> dict[str, dict[str, object]]:
        """Each service's container state (`docker inspect`'s State), by service name."""
        ids = self.compose("ps", "--all", "-q").split()
        if not ids:
            return {}
        docker = require("docker", hint="apt-get install docker.io")
        shown = json.loads(run([docker, "inspect", *ids], cwd=self.project).stdout)
        return {c["Config"]["Labels"]["com.docker.compose.service"]: c["State"] for c in shown}

    def container_id(self, service: str) -> str:
        """Return the id of a service's (one) container."""
        output = self.compose("ps", "--all", "-q", service)
        (found,) = [word for word in output.split() if re.fullmatch(r"[0-9a-f]{64}", word)]
        return found

    def exit_code(self, service: str) -> int:
        """Return the exit code of a service's container."""
        code = self.states()[service]["ExitCode"]
        assert isinstance(code, int)
        return code

    def wait_until_settled(self, *, timeout: float) -> None:
        """Wait until every service is healthy, running without a healthcheck, or exited 0."""
        deadline = time.monotonic() + timeout
        summary: dict[str, str] = {}
        while time.monotonic() < deadline:
            summary = {name: _settled(state) for name, state in self.states().items()}
            failed = {name: s for name, s in summary.items() if s.startswith("failed")}
            if failed:
                break
            if summary and all(s == "ok" for s in summary.values()):
                return
            time.sleep(1)
        logs = self.compose("logs", "--no-color", "--tail", "40")
        msg = f"stack {self.name} did not settle: {summary}\n{logs}"
        raise AssertionError(msg)


def _settled(state: dict[str, object]) -> str:
    """'ok', 'waiting' or 'failed: ...' for one container state."""
    health = state.get("Health")
    status = state.get("Status")
    if status == "exited":
        return "ok" if state.get("ExitCode") == 0 else f"failed: exited {state.get('ExitCode')}"
    if isinstance(health, dict):
        return {"healthy": "ok", "unhealthy": "failed: unhealthy"}.get(
            str(health["Status"]), "waiting"
        )
    return "ok" if status == "running" else "waiting"
