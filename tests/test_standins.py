"""The stand-ins of the official images behave as the rendered Dockerfile and compose.yaml need.

Each test runs the image for real: Python versions and pip inside `docker build`, the uv
multi-stage build of the project's Dockerfile, PostgreSQL with password authentication from
another container, Redis, and nginx serving a mounted configuration under compose's hardening.
"""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.support.containers import built_image, container, network, require_image, unique
from tests.support.docker import SERVICE_TAGS, python_tag
from tests.support.services import free_port
from tests.support.variants import option_values

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.xdist_group("docker")

PYTHON_VERSIONS = option_values()["python_version"]
POSTGRES, REDIS = SERVICE_TAGS["postgres"][0], SERVICE_TAGS["redis"][0]


def output(docker: str, image: str, *command: str) -> str:
    """Return the stdout of `command` in a throwaway container of `image`."""
    with container(docker, image, "sleep", "infinity") as running:
        done = running.exec(*command)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.parametrize("version", PYTHON_VERSIONS)
def test_python_image_runs_its_version(
    docker: str, standin_images: frozenset[str], version: str
) -> None:
    """python:X.Y-slim-bookworm runs Python X.Y from /usr/local, like the official image."""
    image = require_image(standin_images, python_tag(version))
    script = (
        "import sys, sysconfig, ssl, sqlite3;"
        "print('%d.%d' % sys.version_info[:2], sys.prefix, sys.executable,"
        " sysconfig.get_config_var('LIBDIR'))"
    )
    assert output(docker, image, "python", "-c", script).split() == [
        version,
        "/usr/local",
        "/usr/local/bin/python",
        "/usr/local/lib",
    ]
    programs = f"for name in python3 python{version} pip; do command -v $name; done"
    which = output(docker, image, "sh", "-c", programs)
    assert which.split() == [
        "/usr/local/bin/python3",
        f"/usr/local/bin/python{version}",
        "/usr/local/bin/pip",
    ]


@pytest.mark.parametrize("version", PYTHON_VERSIONS)
def test_python_image_pip_installs_from_pypi_in_a_build(
    docker: str, standin_images: frozenset[str], version: str, tmp_path: Path
) -> None:
    """`pip install` outside a venv fetches from PyPI inside `docker build` (no PEP 668 marker)."""
    image = require_image(standin_images, python_tag(version))
    (tmp_path / "Dockerfile").write_text(
        f"FROM {image}\nRUN pip install --no-cache-dir six==1.17.0\n"
    )
    with built_image(docker, tmp_path) as tag:
        printed = output(docker, tag, "python", "-c", "import six; print(six.__file__)")
    assert printed == f"/usr/local/lib/python{version}/site-packages/six.py"


def test_uv_multistage_build_like_the_project_dockerfile(
    docker: str, standin_images: frozenset[str], tmp_path: Path
) -> None:
    """A builder stage installs uv and fills a venv; the runtime stage runs the copied venv."""
    image = require_image(standin_images, python_tag("3.12"))
    (tmp_path / "Dockerfile").write_text(
        textwrap.dedent(
            f"""\
            # syntax=docker/dockerfile:1
            ARG PYTHON_IMAGE={image}
            FROM ${{PYTHON_IMAGE}} AS builder
            LABEL org.taskapi.test=builder
            ENV UV_LINK_MODE=copy UV_NO_CACHE=1 UV_PYTHON_DOWNLOADS=never \\
                UV_PYTHON_PREFERENCE=only-system
            RUN pip install --no-cache-dir uv
            RUN uv venv /opt/venv && uv pip install --python /opt/venv/bin/python six==1.17.0

            FROM ${{PYTHON_IMAGE}} AS runtime
            ENV VIRTUAL_ENV=/opt/venv PATH="/opt/venv/bin:${{PATH}}"
            COPY --from=builder /opt/venv /opt/venv
            USER 10001:10001
            """
        )
    )
    script = "import sys, six; print(sys.prefix, sys.version_info[:2] == (3, 12), six.__version__)"
    with built_image(docker, tmp_path) as tag:
        assert output(docker, tag, "python", "-c", script) == "/opt/venv True 1.17.0"
        assert output(docker, tag, "sh", "-c", "command -v uv || echo absent") == "absent"


def test_postgres_image_accepts_the_password_from_another_container(
    docker: str, standin_images: frozenset[str]
) -> None:
    """POSTGRES_* create the user and database; other containers log in with the password only."""
    image = require_image(standin_images, POSTGRES)
    password = unique("pw")
    env = ("-e", "POSTGRES_USER=taskapi", "-e", f"POSTGRES_PASSWORD={password}")
    with (
        network(docker) as net,
        container(
            docker,
            image,
            options=(*env, "-e", "POSTGRES_DB=tasks", "--network", net, "--network-alias", "db"),
        ) as db,
    ):
        db.wait_until(
            lambda: db.exec("pg_isready", "-U", "taskapi", "-d", "tasks").returncode == 0,
            timeout=90,
            what="pg_isready",
        )
        query = ("psql", "-h", "db", "-U", "taskapi", "-d", "tasks", "-tAc")
        with container(docker, image, "sleep", "infinity", options=("--network", net)) as peer:
            right = peer.exec(
                "env", f"PGPASSWORD={password}", *query, "select current_user, current_database()"
            )
            wrong = peer.exec("env", "PGPASSWORD=wrong", *query, "select 1")
        server_uid = db.exec("sh", "-c", "awk '/^Uid:/ {print $2}' /proc/1/status").stdout.strip()
        postgres_uid = db.exec("id", "-u", "postgres").stdout.strip()
    assert (right.returncode, right.stdout.strip()) == (0, "taskapi|tasks")
    assert wrong.returncode != 0
    assert 'password authentication failed for user "taskapi"' in wrong.stderr
    assert server_uid == postgres_uid != "0"


def test_redis_image_answers_ping_from_another_container(
    docker: str, standin_images: frozenset[str]
) -> None:
    """Compose's `redis-server --appendonly yes` serves other containers and redis-cli pings it."""
    image = require_image(standin_images, REDIS)
    with (
        network(docker) as net,
        container(
            docker,
            image,
            "redis-server",
            "--appendonly",
            "yes",
            options=("--network", net, "--network-alias", "redis"),
        ) as redis,
    ):
        redis.wait_until(
            lambda: redis.exec("redis-cli", "ping").stdout.strip() == "PONG",
            timeout=30,
            what="redis-cli ping",
        )
        with container(docker, image, "sleep", "infinity", options=("--network", net)) as peer:
            ping = peer.exec("redis-cli", "-h", "redis", "ping")
        appendonly = redis.exec("redis-cli", "config", "get", "appendonly")
        server_user = redis.exec("sh", "-c", "stat -c %U /proc/1")
    assert (ping.returncode, ping.stdout.strip()) == (0, "PONG")
    assert appendonly.stdout.split() == ["appendonly", "yes"]
    assert server_user.stdout.strip() == "redis"


@pytest.mark.parametrize("tag", SERVICE_TAGS["nginx"])
def test_nginx_image_serves_a_mounted_config_read_only(
    docker: str, standin_images: frozenset[str], tag: str, tmp_path: Path
) -> None:
    """A conf.d file mounted as compose does is served, with compose's hardening, logs on stdout."""
    image = require_image(standin_images, tag)
    config = tmp_path / "default.conf"
    config.write_text(
        textwrap.dedent(
            """\
            server {
                listen 80 default_server;
                location = /nginx-health { return 200 "ok\\n"; }
                location / { return 200 "hello from conf.d\\n"; }
            }
            """
        )
    )
    port = free_port()
    hardening = ["--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges:true"]
    hardening += [f"--cap-add={cap}" for cap in ("CHOWN", "NET_BIND_SERVICE", "SETGID", "SETUID")]
    tmpfs = ("/var/cache/nginx", "/var/run", "/tmp")  # noqa: S108 - the container's, as compose has
    hardening += [f"--tmpfs={path}" for path in tmpfs]
    options = (
        *hardening,
        "-v",
        f"{config}:/etc/nginx/conf.d/default.conf:ro",
        "-p",
        f"127.0.0.1:{port}:80",
    )
    with container(docker, image, options=options) as nginx:
        nginx.wait_until(
            lambda: (
                nginx.exec(
                    "wget", "-q", "-O", "/dev/null", "http://127.0.0.1/nginx-health"
                ).returncode
                == 0
            ),
            timeout=30,
            what="nginx health check",
        )
        response = httpx.get(f"http://127.0.0.1:{port}/tasks", timeout=10)
        nginx.wait_until(
            lambda: '"GET /tasks HTTP/1.1" 200' in nginx.logs(), timeout=10, what="access log"
        )
    assert (response.status_code, response.text) == (200, "hello from conf.d\n")
