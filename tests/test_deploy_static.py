"""Every variant's deployment files pass their linters and say what its answers ask for.

Nothing here builds an image or starts a container: the Dockerfile goes through hadolint, the
compose file through `docker-compose config` and the Compose-spec schema, the nginx configuration
through `nginx -t`, shell scripts through shellcheck, and gunicorn.conf.py through ruff and mypy.
"""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING

import httpx
import pytest
import yaml

from tests.support.compose import interpolated
from tests.support.deploy import (
    compose_services,
    compose_volumes,
    copied_from_context,
    dockerfile_instructions,
    dockerignore_excludes,
    dockerignore_patterns,
    echo_upstream,
    nginx_test_config,
    require_tool,
    running_nginx,
)
from tests.support.expectations import expected_shell_scripts
from tests.support.services import free_port
from tests.support.source import settings_default
from tests.support.tools import run
from tests.support.variants import Variant, all_variants

if TYPE_CHECKING:
    from pathlib import Path

    from tests.support.render import Renderer

VARIANTS = all_variants()
NGINX_VARIANTS = [v for v in VARIANTS if v.answers["use_nginx"]]


def _params(variants: list[Variant]) -> list[object]:
    return [pytest.param(v, id=v.id, marks=pytest.mark.xdist_group(v.id)) for v in variants]


@pytest.fixture(params=_params(VARIANTS))
def variant(request: pytest.FixtureRequest) -> Variant:
    """One answer set of the test table."""
    value: Variant = request.param
    return value


@pytest.fixture
def project(renderer: Renderer, variant: Variant) -> Path:
    """Return the project rendered from the variant's answers."""
    return renderer.project(variant.answers)


@pytest.fixture(scope="module")
def default_project(renderer: Renderer) -> Path:
    """Return the project rendered with every default answer."""
    return renderer.project({})


# Dockerfile ------------------------------------------------------------------------------------


def test_dockerfile_passes_hadolint(project: Path) -> None:
    """`hadolint` finds nothing, down to style, and every inline ignore gives its reason."""
    dockerfile = project / "Dockerfile"
    run(["hadolint", "--no-color", "--failure-threshold", "style", str(dockerfile)], cwd=project)
    ignores = [line for line in dockerfile.read_text().splitlines() if "hadolint ignore" in line]
    assert [line for line in ignores if " - " not in line] == []


def test_dockerfile_builds_on_the_chosen_base(project: Path, variant: Variant) -> None:
    """The image is the chosen Python on slim or Alpine, and runs gunicorn as uid 10001."""
    python, base = variant.answers["python_version"], variant.answers["docker_base"]
    tag = {"slim": f"{python}-slim-bookworm", "alpine": f"{python}-alpine"}[base]
    instructions = dockerfile_instructions((project / "Dockerfile").read_text())
    package = variant.answers.get("package_name", "taskapi")

    assert instructions[0] == ("ARG", f"PYTHON_IMAGE=python:{tag}")
    assert [a for k, a in instructions if k == "FROM"] == [
        "${PYTHON_IMAGE} AS builder",
        "${PYTHON_IMAGE} AS runtime",
    ]
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    runtime = instructions[last_from:]
    assert ("USER", "10001:10001") in runtime
    assert ("EXPOSE", "8000") in runtime
    assert ("CMD", f'["gunicorn", "-c", "gunicorn.conf.py", "{package}.main:app"]') in runtime
    healthcheck = next(a for k, a in runtime if k == "HEALTHCHECK")
    assert "/healthz/live" in healthcheck
    assert "--start-period=" in healthcheck
    env = " ".join(a for k, a in runtime if k == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in env
    assert "PYTHONUNBUFFERED=1" in env


def test_dockerfile_documents_the_job_worker(project: Path, variant: Variant) -> None:
    """With background jobs, the Dockerfile says that its image runs the worker too, and how."""
    package = variant.answers.get("package_name", "taskapi")
    text = (project / "Dockerfile").read_text()
    documented = [
        f"`python -m {package}.job_worker`" in text,
        f"`python -m {package}.worker_alive`" in text,
    ]
    assert documented == [variant.answers["background_jobs"]] * 2


def test_dockerfile_installs_exactly_the_lock(project: Path) -> None:
    """Dependencies come from uv.lock alone, cached apart from the code, without dev tools."""
    runs = [
        a for k, a in dockerfile_instructions((project / "Dockerfile").read_text()) if k == "RUN"
    ]
    syncs = [command for command in runs if command.startswith("uv sync")]
    assert syncs == [
        "uv sync --locked --no-dev --no-install-project",
        "uv sync --locked --no-dev --no-editable",
    ]
    assert 'pip install --no-cache-dir "uv==${UV_VERSION}"' in runs


def test_dockerfile_labels_the_image(project: Path, variant: Variant) -> None:
    """The OCI labels name the project, its version, source and license."""
    text = (project / "Dockerfile").read_text()
    license_id = variant.answers["license"].replace("Proprietary", "LicenseRef-Proprietary")
    for label in ("title", "version", "source", "description"):
        assert f"org.opencontainers.image.{label}=" in text
    assert f'org.opencontainers.image.licenses="{license_id}"' in text


def test_dockerfile_copies_files_the_project_has(project: Path) -> None:
    """Every file the image copies exists in the render and is let into the build context."""
    sources = copied_from_context((project / "Dockerfile").read_text())
    patterns = dockerignore_patterns(project)
    assert {"pyproject.toml", "uv.lock", "src", "gunicorn.conf.py", "alembic.ini"} <= set(sources)
    assert [s for s in sources if dockerignore_excludes(patterns, s.split("/")[0])] == []
    assert [s for s in sources if not (project / s).exists()] == []


def test_dockerignore_keeps_secrets_and_state_out(project: Path) -> None:
    """.env, git, virtualenvs, caches, tests and data never reach the build context."""
    patterns = dockerignore_patterns(project)
    kept_out = [".env", ".git", ".venv", ".mypy_cache", ".pytest_cache", "tests", "data"]
    assert [path for path in kept_out if not dockerignore_excludes(patterns, path)] == []


# compose.yaml ---------------------------------------------------------------------------------


def test_compose_file_passes_docker_compose_config(project: Path) -> None:
    """docker-compose accepts the file, with .env's variables interpolated."""
    docker_compose = require_tool("docker-compose")
    run([docker_compose, "config", "-q"], cwd=project)


def test_compose_file_matches_the_compose_spec_schema(project: Path) -> None:
    """The file validates against the Compose-spec JSON schema."""
    command = ["check-jsonschema", "--builtin-schema", "vendor.compose-spec", "compose.yaml"]
    run(command, cwd=project)


def test_compose_runs_the_services_the_answers_ask_for(project: Path, variant: Variant) -> None:
    """The services are app and migrate; db, redis, worker and nginx when answers ask for them."""
    answers = variant.answers
    expected = {"app", "migrate"}
    expected |= {"db"} if answers["database"] == "postgresql" else set()
    expected |= {"worker"} if answers["background_jobs"] else set()
    expected |= {"redis"} if answers["use_redis"] else set()
    expected |= {"nginx"} if answers["use_nginx"] else set()
    assert set(compose_services(project)) == expected


def test_compose_uses_the_official_images_and_no_version_key(
    project: Path, variant: Variant
) -> None:
    """The stores and the proxy are the official images; the file is Compose-spec, unversioned."""
    compose = yaml.safe_load((project / "compose.yaml").read_text())
    images = {name: service.get("image") for name, service in compose["services"].items()}
    official = {"db": "postgres:16-alpine", "redis": "redis:7-alpine", "nginx": "nginx:alpine"}
    assert {n: images[n] for n in official if n in images} == {
        n: official[n] for n in official if n in images
    }
    assert "version" not in compose
    if variant.answers["use_nginx"]:
        mounts = compose["services"]["nginx"]["volumes"]
        config_mounts = [m for m in mounts if isinstance(m, str) and "nginx.conf" in m]
        assert config_mounts
        assert all(m.endswith(":ro") for m in config_mounts)


def test_compose_starts_services_in_order(project: Path, variant: Variant) -> None:
    """The app waits for a finished migration and healthy dependencies; nginx for the app."""
    services = compose_services(project)
    answers = variant.answers
    backing = {"condition": "service_healthy"}
    app_needs = {"migrate": {"condition": "service_completed_successfully"}}
    migrate_needs: dict[str, dict[str, str]] = {}
    if answers["database"] == "postgresql":
        app_needs["db"] = migrate_needs["db"] = backing
    if answers["use_redis"]:
        app_needs["redis"] = backing
    assert services["app"]["depends_on"] == app_needs
    assert services["migrate"].get("depends_on", {}) == migrate_needs
    assert services["migrate"]["command"] == ["alembic", "upgrade", "head"]
    assert services["migrate"]["restart"] == "no"
    if answers["use_nginx"]:
        assert services["nginx"]["depends_on"] == {"app": backing}


def app_services(variant: Variant) -> list[str]:
    """Return the compose services that run the app's image: app, migrate and the job worker."""
    return ["app", "migrate", *(["worker"] if variant.answers["background_jobs"] else [])]


def duration_seconds(duration: str) -> float:
    """Return the seconds of a compose duration such as `45s` or `1m30s`."""
    match = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", duration)
    assert duration, duration
    assert match is not None, duration
    hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def test_compose_runs_the_job_worker_with_background_jobs(project: Path, variant: Variant) -> None:
    """With background jobs, `worker` runs the job worker from the app's image, after migrations.

    Its health check is `worker_alive` (the heartbeat of the worker's loop), it restarts like
    the app, and it may take longer to stop than a webhook delivery can last (WEBHOOK_TIMEOUT).
    Without background jobs there is no worker.
    """
    services = compose_services(project)
    if not variant.answers["background_jobs"]:
        assert "worker" not in services
        return
    package = variant.answers.get("package_name", "taskapi")
    worker = services["worker"]
    entry_point = ["python", "-m", f"{package}.job_worker"]
    assert worker["command"] == entry_point
    assert worker["depends_on"] == {
        "migrate": {"condition": "service_completed_successfully"},
        "db": {"condition": "service_healthy"},
    }
    check = worker["healthcheck"]
    assert check["test"] == ["CMD", "python", "-m", f"{package}.worker_alive"]
    assert {"interval", "timeout", "retries", "start_period"} <= set(check)
    assert worker["restart"] == services["app"]["restart"] == "unless-stopped"
    settings = project / "src" / package / "jobs" / "settings.py"
    webhook_timeout = settings_default(settings, "WEBHOOK_TIMEOUT")
    assert isinstance(webhook_timeout, float)
    assert duration_seconds(worker["stop_grace_period"]) > 3 * webhook_timeout


def test_compose_hardens_the_app(project: Path, variant: Variant) -> None:
    """App, migrate (and worker): read-only, no capabilities, no new privileges, no root.

    They publish a port only when there is no nginx, and the app alone then.
    """
    services = compose_services(project)
    for name in app_services(variant):
        service = services[name]
        assert service["image"] == services["app"]["image"]
        assert service["build"] == "."
        assert service["env_file"] == ".env"
        assert service["read_only"] is True
        assert service["tmpfs"] == ["/tmp"]  # noqa: S108 - the container's tmpfs
        assert service["cap_drop"] == ["ALL"]
        assert service["security_opt"] == ["no-new-privileges:true"]
        # The image's own non-root user: nothing here runs the container as another one.
        assert "user" not in service
        assert "ports" not in service or name == "app"
    assert services["app"]["restart"] == "unless-stopped"
    if variant.answers["use_nginx"]:
        assert "ports" not in services["app"]
        assert services["nginx"]["ports"] == ["${HTTP_PORT:-80}:80"]
    else:
        assert services["app"]["ports"] == ["${APP_PORT:-8000}:8000"]
        assert "GUNICORN_FORWARDED_ALLOW_IPS" not in services["app"]["environment"]


def test_compose_runs_the_service_in_production(project: Path, variant: Variant) -> None:
    """Compose is the single-host production: its app containers run with ENVIRONMENT=production.

    Local runs stay in development: the generated .env says so, and compose's value wins there.
    """
    services = compose_services(project)
    for name in app_services(variant):
        assert services[name]["environment"]["ENVIRONMENT"] == "production", name
        assert services[name]["environment"] == services["app"]["environment"], name
    local = dict(
        line.split("=", 1) for line in (project / ".env").read_text().splitlines() if "=" in line
    )
    assert local["ENVIRONMENT"] == "development"


@pytest.mark.parametrize("variant", _params(NGINX_VARIANTS), indirect=True)
def test_compose_trusts_forwarded_headers_from_nginx_alone(project: Path) -> None:
    """The app trusts X-Forwarded-* from nginx's fixed address only, never from `*`.

    nginx has a static address on the stack's network; the addresses Docker hands out to the
    other containers come from a range that leaves it out, so no other container can take it.
    """
    document = yaml.safe_load((project / "compose.yaml").read_text())
    services = document["services"]
    trusted = interpolated(services["app"]["environment"]["GUNICORN_FORWARDED_ALLOW_IPS"])
    (network,) = services["nginx"]["networks"].values()
    nginx_address = ipaddress.ip_address(interpolated(network["ipv4_address"]))
    assert trusted == str(nginx_address)
    (pool,) = document["networks"]["default"]["ipam"]["config"]
    assert nginx_address in ipaddress.ip_network(interpolated(pool["subnet"]))
    assert nginx_address not in ipaddress.ip_network(interpolated(pool["ip_range"]))


def test_compose_connects_the_app_to_its_stores(project: Path, variant: Variant) -> None:
    """DATABASE_URL points at db (or a volume for SQLite), REDIS_URL at redis when it is used."""
    environment = compose_services(project)["app"]["environment"]
    volumes = compose_volumes(project)
    if variant.answers["database"] == "postgresql":
        url = "postgresql://${POSTGRES_USER}:${POSTGRES_PASSWORD}@db:5432/${POSTGRES_DB}"
        assert environment["DATABASE_URL"] == url
        assert "postgres-data" in volumes
        assert "app-data" not in volumes
    else:
        assert environment["DATABASE_URL"] == "sqlite+aiosqlite:////data/app.db"
        assert compose_services(project)["app"]["volumes"] == ["app-data:/data"]
        assert "app-data" in volumes
    if variant.answers["use_redis"]:
        assert environment["REDIS_URL"] == "redis://redis:6379/0"
        assert "redis-data" in volumes
    else:
        assert "REDIS_URL" not in environment
        assert "redis-data" not in volumes


def test_compose_checks_the_health_of_every_long_running_service(project: Path) -> None:
    """Each service but the one-shot migration has its own health check; stores keep volumes."""
    services = compose_services(project)
    probes = {
        "app": "/healthz/live",
        "worker": "worker_alive",
        "db": "pg_isready",
        "redis": "redis-cli ping",
        "nginx": "/nginx-health",
    }
    assert services["migrate"]["healthcheck"] == {"disable": True}
    checks = {name: s["healthcheck"] for name, s in services.items() if name != "migrate"}
    assert "app" in checks
    wrong = [
        name
        for name, check in checks.items()
        if probes[name] not in " ".join(check["test"])
        or not {"interval", "timeout", "retries"} <= set(check)
    ]
    assert wrong == []
    if "db" in services:
        assert services["db"]["image"] == "postgres:16-alpine"
        assert services["db"]["volumes"] == ["postgres-data:/var/lib/postgresql/data"]
    if "redis" in services:
        assert services["redis"]["command"] == ["redis-server", "--appendonly", "yes"]
        assert services["redis"]["volumes"] == ["redis-data:/data"]


# nginx ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", _params(NGINX_VARIANTS), indirect=True)
def test_nginx_config_passes_nginx_t(project: Path, tmp_path: Path) -> None:
    """Both server blocks, HTTP and TLS, load in nginx (upstream and certificate made local)."""
    nginx = require_tool("nginx")
    cert_dir = tmp_path / "certs"
    cert_dir.mkdir()
    openssl = [
        require_tool("openssl"),
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
    ]
    openssl += ["-subj", "/CN=localhost", "-keyout", "privkey.pem", "-out", "fullchain.pem"]
    run(openssl, cwd=cert_dir)
    config = nginx_test_config(project, tmp_path, cert_dir=cert_dir)
    result = run(
        [nginx, "-t", "-p", str(tmp_path), "-e", "stderr", "-c", str(config)], cwd=tmp_path
    )
    assert "test is successful" in result.stderr


@pytest.mark.parametrize("variant", _params(NGINX_VARIANTS), indirect=True)
def test_nginx_config_sets_headers_and_limits_login(project: Path) -> None:
    """The proxy names the client itself, forwards the request id, and limits every credential."""
    config = (project / "nginx" / "nginx.conf").read_text()
    tls = (project / "nginx" / "tls.conf").read_text()
    lines = {" ".join(line.split()) for line in config.splitlines()}
    credentials = {
        "location = /api/v1/auth/login {",
        "location = /api/v1/auth/token {",
        "limit_req zone=login burst=5 nodelay;",
        "location = /api/v1/auth/register {",
        "limit_req zone=register burst=5 nodelay;",
        "location = /api/v1/auth/refresh {",
        "limit_req zone=refresh burst=10 nodelay;",
        "location = /api/v1/users/me/password {",
        "location = /api/v1/auth/password-reset {",
        "location = /api/v1/auth/password-reset/confirm {",
        "location = /api/v1/auth/verify-email {",
        "location = /api/v1/users/me/verification {",
        "limit_req zone=reset burst=5 nodelay;",
    }
    expected = credentials | {
        "server_tokens off;",
        "proxy_set_header X-Forwarded-For $remote_addr;",
        "proxy_set_header X-Real-IP $remote_addr;",
        "# set_real_ip_from 10.0.0.0/8;",
        "# real_ip_header X-Forwarded-For;",
        "# real_ip_recursive on;",
        "proxy_set_header X-Forwarded-Proto $scheme;",
        "proxy_set_header Host $host;",
        "proxy_set_header X-Request-ID $forwarded_request_id;",
        '"" $request_id;',
        "limit_req_status 429;",
        "gzip_proxied any;",
        'add_header X-Content-Type-Options "nosniff" always;',
        'add_header X-Frame-Options "DENY" always;',
        "add_header Content-Security-Policy $content_security_policy always;",
        "add_header Strict-Transport-Security $strict_transport_security always;",
        "keepalive 32;",
        "client_max_body_size 1m;",
        'add_header Referrer-Policy "no-referrer" always;',
    }
    assert expected - lines == set()
    assert credentials - {" ".join(line.split()) for line in tls.splitlines()} == set()
    # The client's own X-Forwarded-For is never passed on (nor appended to).
    assert "$proxy_add_x_forwarded_for" not in config + tls
    assert "$http_x_forwarded_for" not in config + tls
    assert "default \"default-src 'none'; frame-ancestors 'none'" in config
    # Only http-level add_header lines: one in a server or location would drop all of these.
    server_part = config[config.index("server {") :]
    assert "add_header" not in server_part
    assert "add_header" not in (project / "nginx" / "tls.conf").read_text()


RESET_AND_VERIFY_PATHS = [
    "/api/v1/auth/password-reset",
    "/api/v1/auth/password-reset/confirm",
    "/api/v1/auth/verify-email",
    "/api/v1/users/me/verification",
]


def test_nginx_proxies_with_headers_request_id_and_login_limit(
    default_project: Path, tmp_path: Path
) -> None:
    """Through a real nginx: forwarded headers, request id, CSP per page, gzip, credential limits.

    A client's own X-Forwarded-For and X-Real-IP are replaced by its real address. Logins (both
    routes and password changes share one count) and registrations are refused with 429 after a
    burst of 5, refreshes after a burst of 10, resets and verifications (one count) after a burst
    of 5.
    """
    nginx = require_tool("nginx")
    port = free_port()
    spoofed = {"X-Forwarded-For": "203.0.113.50", "X-Real-IP": "203.0.113.51"}
    with echo_upstream() as upstream:
        config = nginx_test_config(default_project, tmp_path, ports=(port, upstream))
        with running_nginx(nginx, config, port) as url, httpx.Client(base_url=url) as client:
            api = client.get("/api/v1/tasks", headers=spoofed)
            given_id = client.get("/api/v1/tasks", headers={"X-Request-ID": "abc-123"})
            docs = client.get("/docs")
            logins = [client.post("/api/v1/auth/login").status_code for _ in range(4)]
            logins += [client.post("/api/v1/auth/token").status_code for _ in range(4)]
            # Password changes share the logins' count, which is used up by now.
            password = client.post("/api/v1/users/me/password")
            refreshes = [client.post("/api/v1/auth/refresh").status_code for _ in range(13)]
            registrations = [client.post("/api/v1/auth/register").status_code for _ in range(8)]
            # Password resets and verifications, which may send e-mails, share one count.
            resets = [client.post(path).status_code for path in RESET_AND_VERIFY_PATHS * 2]
            metrics = client.get("/metrics")

    assert api.status_code == 200
    assert api.headers["content-encoding"] == "gzip"
    assert api.headers["server"] == "nginx"
    assert api.headers["x-content-type-options"] == "nosniff"
    assert api.headers["x-frame-options"] == "DENY"
    assert "strict-transport-security" not in api.headers
    strict = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    assert api.headers["content-security-policy"] == strict
    assert "https://cdn.jsdelivr.net" in docs.headers["content-security-policy"]
    forwarded = api.json()["headers"]
    assert forwarded["X-Forwarded-For"] == "127.0.0.1"
    assert forwarded["X-Real-IP"] == "127.0.0.1"
    assert forwarded["X-Forwarded-Proto"] == "http"
    assert re.fullmatch(r"[0-9a-f]{32}", forwarded["X-Request-ID"])
    assert given_id.json()["headers"]["X-Request-ID"] == "abc-123"
    assert logins == [200] * 6 + [429] * 2
    assert password.status_code == 429
    assert refreshes == [200] * 11 + [429] * 2
    assert registrations == [200] * 6 + [429] * 2
    assert resets == [200] * 6 + [429] * 2
    assert metrics.status_code == 404


def test_nginx_files_come_only_with_nginx(project: Path, variant: Variant) -> None:
    """The nginx folder is rendered exactly when nginx is in front."""
    assert (project / "nginx").is_dir() == variant.answers["use_nginx"]


# Shell scripts --------------------------------------------------------------------------------


def test_shell_scripts_pass_shellcheck(project: Path, variant: Variant) -> None:
    """The render has exactly the shell scripts its answers ask for, and each passes shellcheck."""
    skip = {".venv", ".git"}
    scripts = [
        str(path.relative_to(project))
        for path in sorted(project.rglob("*.sh"))
        if not skip.intersection(path.relative_to(project).parts)
    ]
    assert scripts == expected_shell_scripts(variant.answers)
    if scripts:
        run([require_tool("shellcheck"), "--severity=style", *scripts], cwd=project)
