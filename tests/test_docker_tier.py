"""Docker tier: each preset's real Dockerfile and compose file, built and run on an engine.

The images the rendered files name come from the `standin_images` fixture: stand-ins built here
when no registry is reachable, the real images otherwise (TASKAPI_REAL_IMAGES=1). Alpine bases have
no stand-in, so the Alpine presets run only with the real images. Everything runs in one xdist
group, one preset after the other, because the stacks share the engine.

The generated CI's docker job runs the project's `scripts/smoke.sh`; the last test here runs that
same script on a fresh checkout of each preset.
"""

from __future__ import annotations

import io
import re
import secrets
import shlex
import shutil
import subprocess
import tarfile
import time
from typing import TYPE_CHECKING, TypeVar

import httpx
import pytest

from tests.support import report
from tests.support.ci import SMOKE_COMMAND
from tests.support.compose import ComposeStack, fresh_network_prefix
from tests.support.containers import TEST_LABEL, container, unique
from tests.support.docker import BUILD_ENV, base_tag, real_images
from tests.support.flow import ApiFlow
from tests.support.receiver import (
    OVERRIDE_FILE,
    RECEIVER,
    RECEIVER_URL,
    deliveries,
    expected_signature,
    receiver_override,
)
from tests.support.services import free_port, require
from tests.support.tools import clean_env, run
from tests.support.variants import Variant, presets

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from tests.support.render import Renderer

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("docker")]

T = TypeVar("T")

DOCKER_PRESETS = [v for v in presets() if v.answers["docker_base"] == "slim" or real_images()]
#: The builder step that installs the locked dependencies (and nothing of the project).
DEPENDENCY_STEP = "--no-install-project"


@pytest.fixture(scope="module", params=DOCKER_PRESETS, ids=[v.id for v in DOCKER_PRESETS])
def preset(request: pytest.FixtureRequest) -> Variant:
    """One preset whose base image is at hand."""
    value: Variant = request.param
    return value


@pytest.fixture(scope="module")
def project(renderer: Renderer, preset: Variant, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a private copy of the rendered preset (the tests edit its sources)."""
    rendered = renderer.project(preset.answers)
    copy = tmp_path_factory.mktemp(f"docker-{preset.id}") / "project"
    shutil.copytree(rendered, copy, ignore=shutil.ignore_patterns(".venv", "*_cache", ".coverage"))
    with (copy / ".env").open("a") as env:
        # One test client makes every request: only the login limit is under test here.
        env.write("RATE_LIMIT_DEFAULT=100000/minute\nRATE_LIMIT_REGISTER=100000/hour\n")
    return copy


def build(docker: str, project: Path, tag: str) -> str:
    """`docker build` the project's Dockerfile; return the build output."""
    command = [docker, "build", "--label", TEST_LABEL, "--tag", tag, "."]
    return run(command, cwd=project, env=clean_env(**BUILD_ENV), timeout=1200).stdout


@pytest.fixture(scope="module")
def image(
    docker: str, standin_images: frozenset[str], project: Path, preset: Variant
) -> Iterator[str]:
    """Yield the preset's image, built from its rendered Dockerfile; removed afterwards."""
    base_image = base_tag(preset.answers["python_version"], preset.answers["docker_base"])
    assert base_image in standin_images
    tag = f"{unique(preset.id)}:test"
    started = time.monotonic()
    build(docker, project, tag)
    seconds = round(time.monotonic() - started, 1)
    size = image_size(docker, tag)
    base = image_size(docker, base_image)
    report.record(
        f"image {preset.id}",
        size_mb=round(size / 1e6, 1),
        added_over_base_mb=round((size - base) / 1e6, 1),
        cold_build_s=seconds,
    )
    yield tag
    subprocess_quiet(docker, "image", "rm", "--force", tag)


def image_size(docker: str, image: str) -> int:
    """Return the size of an image in bytes."""
    shown = run([docker, "image", "inspect", "--format", "{{.Size}}", image], cwd=None)
    return int(shown.stdout.strip())


def subprocess_quiet(docker: str, *arguments: str) -> None:
    """Run a docker clean-up command, whatever its outcome."""
    subprocess.run([docker, *arguments], capture_output=True, check=False)


def wait_healthy(docker: str, container_id: str, timeout: float = 120) -> float:
    """Wait until Docker reports the container's HEALTHCHECK healthy; return the seconds taken."""
    started = time.monotonic()
    status = "unknown"
    while time.monotonic() - started < timeout:
        shown = run(
            [docker, "inspect", "--format", "{{.State.Health.Status}}", container_id], cwd=None
        )
        status = shown.stdout.strip()
        if status == "healthy":
            return time.monotonic() - started
        assert status in {"starting", "unhealthy"}, status
        time.sleep(0.5)
    logs = run([docker, "logs", container_id], cwd=None)
    msg = f"container not healthy after {timeout:.0f}s ({status})\n{logs.stdout}{logs.stderr}"
    raise AssertionError(msg)


def test_image_alone_turns_healthy_and_answers(docker: str, image: str, preset: Variant) -> None:
    """The image runs alone on a read-only root, as uid 10001, and its HEALTHCHECK turns healthy."""
    port = free_port()
    options = (
        "--read-only",
        "--tmpfs",
        "/tmp",  # noqa: S108 - the container's own tmpfs
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges:true",
        "--publish",
        f"127.0.0.1:{port}:8000",
        "--env",
        "ENVIRONMENT=production",
        "--env",
        f"SECRET_KEY={secrets.token_urlsafe(48)}",
        "--env",
        "DATABASE_URL=sqlite+aiosqlite:////tmp/app.db",
    )
    with container(docker, image, options=options) as app:
        seconds = wait_healthy(docker, app.id)
        report.record(f"image {preset.id} alone", healthy_after_s=round(seconds, 1))
        live = httpx.get(f"http://127.0.0.1:{port}/healthz/live", timeout=5)
        assert (live.status_code, live.json()) == (200, {"status": "ok"})
        assert app.exec("id", "-u").stdout.strip() == "10001"
        write = app.exec("sh", "-c", "touch /app/written")
        assert write.returncode != 0
        assert "Read-only file system" in write.stderr


def test_image_holds_no_secrets_git_or_tests(docker: str, image: str, project: Path) -> None:
    """Neither `.env`, `.git` nor the tests reach the image, and its history shows no secret."""
    created = run([docker, "create", "--label", TEST_LABEL, image], cwd=None).stdout.strip()
    try:
        exported = run_bytes([docker, "export", created])
    finally:
        subprocess_quiet(docker, "rm", "--force", created)
    with tarfile.open(fileobj=io.BytesIO(exported)) as archive:
        names = archive.getnames()
    app_files = [name for name in names if name.startswith("app/")]
    assert "app/gunicorn.conf.py" in app_files
    forbidden = [n for n in names if re.search(r"(^|/)(\.env|\.git)(/|$)|^app/tests(/|$)", n)]
    assert forbidden == []
    secret = next(
        line.split("=", 1)[1]
        for line in (project / ".env").read_text().splitlines()
        if line.startswith("SECRET_KEY=")
    )
    history = run([docker, "history", "--no-trunc", image], cwd=None).stdout
    assert secret not in history
    inspected = run([docker, "image", "inspect", image], cwd=None).stdout
    assert secret not in inspected


def run_bytes(command: list[str]) -> bytes:
    """Return the binary output of a command that must succeed."""
    result = subprocess.run(command, capture_output=True, check=True)
    output: bytes = result.stdout
    return output


def test_source_change_reuses_the_dependency_layer(
    docker: str, image: str, project: Path, preset: Variant
) -> None:
    """After a source-only change, the rebuild takes the dependency layer from the cache."""
    del image  # built first: the rebuild must find its layers in the cache
    package = next(p for p in (project / "src").iterdir() if (p / "main.py").exists())
    main = package / "main.py"
    main.write_text(main.read_text() + f"\n# A source-only change: {unique('edit')}\n")
    tag = f"{unique('rebuild')}:test"
    started = time.monotonic()
    output = build(docker, project, tag)
    seconds = round(time.monotonic() - started, 1)
    try:
        steps = output.split("\nStep ")
        dependency_steps = [step for step in steps if DEPENDENCY_STEP in step.splitlines()[0]]
        assert len(dependency_steps) == 1, output
        assert " ---> Using cache" in dependency_steps[0], dependency_steps[0]
        source_steps = [
            step for step in steps if step.split(":", 1)[-1].strip().startswith("COPY src")
        ]
        assert source_steps
        assert " ---> Using cache" not in source_steps[0]
        report.record(f"image {preset.id}", warm_rebuild_s=seconds)
    finally:
        subprocess_quiet(docker, "image", "rm", "--force", tag)


@pytest.fixture(scope="module")
def stack(project: Path, preset: Variant, image: str) -> Iterator[ComposeStack]:
    """Yield the rendered compose stack, up and healthy; taken down with its volumes afterwards.

    With background jobs, an override adds a webhook receiver that the app and the worker may
    deliver to (a private address, which the service refuses unless told otherwise).
    """
    del image  # the stand-ins must exist before compose starts
    files: tuple[str, ...] = ("compose.yaml",)
    if preset.answers["background_jobs"]:
        override = receiver_override(services=["app", "worker"])
        (project / OVERRIDE_FILE).write_text(override)
        files += (OVERRIDE_FILE,)
    compose = ComposeStack(
        project=project,
        name=unique(preset.id).replace("-", ""),
        ports={"HTTP_PORT": free_port(), "APP_PORT": free_port()},
        files=files,
    )
    started = time.monotonic()
    try:
        compose.up()
        compose.wait_until_settled(timeout=300)
        report.record(f"compose {preset.id}", up_and_healthy_s=round(time.monotonic() - started))
        yield compose
    finally:
        compose.down()


def front_url(stack: ComposeStack, preset: Variant) -> str:
    """Return the stack's public base URL: nginx's published port, else the app's."""
    port = stack.ports["HTTP_PORT" if preset.answers["use_nginx"] else "APP_PORT"]
    return f"http://127.0.0.1:{port}"


def test_worker_delivers_a_signed_webhook_of_a_task_completed_through_nginx(
    docker: str, stack: ComposeStack, preset: Variant
) -> None:
    """The worker is healthy, and runs the job that a request through the front enqueues.

    A user registers the receiver's URL as a webhook and completes a task: the receiver gets
    one POST whose Standard Webhooks signature verifies with the secret the registration
    returned, carrying the task; the worker's log says it delivered it, under the id of the
    request that completed the task. Without background jobs there is no worker.

    It runs before the full flow, whose last check uses up the login limit of this client.
    """
    states = stack.states()
    if not preset.answers["background_jobs"]:
        assert "worker" not in states
        return
    health = states["worker"]["Health"]
    assert isinstance(health, dict)
    assert health["Status"] == "healthy"
    flow = ApiFlow(front_url(stack, preset))
    try:
        user = flow.register("hooked")
        registered = flow.request(
            "POST", "/api/v1/webhooks", json={"url": RECEIVER_URL}, headers=user.headers
        )
        assert registered.status_code == httpx.codes.CREATED, registered.text
        secret = registered.json()["secret"]
        created = flow.request(
            "POST", "/api/v1/tasks", json={"title": "Deliver me"}, headers=user.headers
        )
        task = created.json()
        started = time.time()
        done = flow.request(
            "PATCH", f"/api/v1/tasks/{task['id']}", json={"status": "done"}, headers=user.headers
        )
        assert done.status_code == httpx.codes.OK, done.text
        completing_request = flow.request_ids[-1]
    finally:
        flow.close()
    receiver = stack.container_id(RECEIVER)
    received = wait_for(lambda: deliveries(container_log(docker, receiver)), timeout=60)
    report.record(f"compose {preset.id}", webhook_delivered_s=round(time.time() - started, 1))
    (delivery,) = received
    headers = delivery.headers
    assert headers["content-type"] == "application/json"
    assert headers["webhook-signature"] == expected_signature(
        secret=secret,
        message_id=headers["webhook-id"],
        timestamp=headers["webhook-timestamp"],
        body=delivery.body,
    )
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 120
    event = delivery.event
    assert (event["id"], event["type"]) == (headers["webhook-id"], "task.completed")
    assert (event["data"]["task"]["id"], event["data"]["task"]["status"]) == (task["id"], "done")
    worker_log = container_log(docker, stack.container_id("worker"))
    delivered = [line for line in worker_log.splitlines() if "webhook_delivered" in line]
    assert [line for line in delivered if completing_request in line] != [], worker_log[-3000:]


def test_compose_stack_serves_the_full_flow(stack: ComposeStack, preset: Variant) -> None:
    """Through the published port (nginx's when present), the whole HTTP flow works."""
    flow = ApiFlow(front_url(stack, preset))
    try:
        flow.wait_ready()
        checks = {"database"} | ({"redis"} if preset.answers["use_redis"] else set())
        flow.check_health(checks | ({"jobs"} if preset.answers["background_jobs"] else set()))
        flow.task_lifecycle()
        flow.check_security_headers()
        flow.check_large_list_is_gzipped()
        flow.check_task_stats_follow_changes()
        flow.check_login_is_rate_limited()
    finally:
        flow.close()


def test_migrate_ran_once_and_exited_cleanly(stack: ComposeStack) -> None:
    """The one-shot `migrate` service exited 0 before the app started."""
    assert stack.exit_code("migrate") == 0


def test_worker_stops_at_once_on_sigterm(stack: ComposeStack, preset: Variant) -> None:
    """`docker compose stop worker` sends SIGTERM: the idle worker exits 0, long before SIGKILL."""
    if not preset.answers["background_jobs"]:
        return
    started = time.monotonic()
    stack.compose("stop", "worker")
    seconds = time.monotonic() - started
    report.record(f"compose {preset.id}", worker_stopped_s=round(seconds, 1))
    assert stack.exit_code("worker") == 0
    assert seconds < 15


def container_log(docker: str, container_id: str) -> str:
    """Return a container's output so far, stdout and stderr interleaved."""
    shown = subprocess.run(
        [docker, "logs", container_id],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=True,
    )
    return shown.stdout


def wait_for(found: Callable[[], list[T]], *, timeout: float) -> list[T]:
    """Poll `found` until it returns a non-empty list; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := found():
            return value
        time.sleep(0.25)
    msg = f"nothing arrived within {timeout:.0f}s"
    raise AssertionError(msg)


def test_smoke_script_passes_on_a_fresh_checkout(
    docker: str,
    renderer: Renderer,
    preset: Variant,
    standin_images: frozenset[str],
    tmp_path: Path,
) -> None:
    """The generated CI's docker job, `scripts/smoke.sh`, passes on a checkout without `.env`."""
    del standin_images  # the images the script builds from and starts must be at hand
    require("curl", hint="apt-get install curl")
    checkout = tmp_path / "checkout"
    ignored = shutil.ignore_patterns(".env", ".venv", "*_cache", ".coverage", "data")
    shutil.copytree(renderer.project(preset.answers), checkout, ignore=ignored)
    image = f"{unique(preset.id)}:smoke"
    ports = {name: str(free_port()) for name in ("HTTP_PORT", "APP_PORT", "SMOKE_PORT")}
    env = clean_env(
        **BUILD_ENV,
        **ports,
        APP_IMAGE=image,
        COMPOSE_PROJECT_NAME=unique(preset.id).replace("-", ""),
        NETWORK_PREFIX=fresh_network_prefix(),
    )
    started = time.monotonic()
    try:
        result = run(shlex.split(SMOKE_COMMAND), cwd=checkout, env=env, timeout=1200)
    finally:
        subprocess_quiet(docker, "image", "rm", "--force", image)
    report.record(f"smoke {preset.id}", passed_in_s=round(time.monotonic() - started))
    assert result.stdout.rstrip().endswith("--- smoke test passed")
    front = ports["HTTP_PORT" if preset.answers["use_nginx"] else "APP_PORT"]
    assert f'GET http://127.0.0.1:{front}/healthz/ready\n{{"status":"ready"}}' in result.stdout
