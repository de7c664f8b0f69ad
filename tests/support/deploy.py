"""Read a rendered project's deployment files, and find the tools that check them.

Dockerfiles are parsed by dockerfile-parse, and `.dockerignore` patterns are matched by the
Docker SDK's port of the engine's own matcher.
"""

from __future__ import annotations

import contextlib
import http.server
import io
import json
import os
import socket
import subprocess
import threading
import time
from typing import TYPE_CHECKING, Any

import yaml
from docker.utils.build import PatternMatcher  # type: ignore[import-untyped] # no py.typed
from dockerfile_parse import DockerfileParser  # type: ignore[import-untyped] # no py.typed

from tests.support.services import require

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

#: The nginx upstream as rendered, and the address `nginx -t` can resolve here instead.
UPSTREAM = "server app:8000;"
LOCAL_UPSTREAM = "server 127.0.0.1:8000;"
#: The HTTP server's address as rendered.
LISTEN = "listen 80 default_server;"
#: Where the rendered TLS server block reads its certificate and key.
CERT_DIR = "/etc/nginx/certs/"
TLS_LISTEN = "listen 443 ssl;"

Service = dict[str, Any]


def require_tool(name: str) -> str:
    """Return the path of the executable `name`; without it a test fails in CI, skips elsewhere."""
    return require(name, hint="apt-get install it; .ci/run does")


def compose_services(project: Path) -> dict[str, Service]:
    """Return the services of the rendered `compose.yaml`, with YAML merge keys resolved."""
    document = yaml.safe_load((project / "compose.yaml").read_text())
    services: dict[str, Service] = document["services"]
    return services


def compose_volumes(project: Path) -> set[str]:
    """Return the named volumes that the rendered `compose.yaml` declares."""
    document = yaml.safe_load((project / "compose.yaml").read_text())
    return set(document.get("volumes") or {})


def dockerfile_instructions(dockerfile: str) -> list[tuple[str, str]]:
    """Return a Dockerfile's instructions as (KEYWORD, arguments), whitespace runs made one space.

    Continuation lines are joined and comments left out, as by the build.
    """
    parser = DockerfileParser(fileobj=io.BytesIO(dockerfile.encode()))
    return [
        (str(entry["instruction"]), " ".join(str(entry["value"]).split()))
        for entry in parser.structure
        if entry["instruction"] != "COMMENT"
    ]


def copied_from_context(dockerfile: str) -> list[str]:
    """Return the build-context paths that COPY instructions read (not those from a stage)."""
    sources: list[str] = []
    for keyword, arguments in dockerfile_instructions(dockerfile):
        words = arguments.split()
        if keyword == "COPY" and not any(word.startswith("--from=") for word in words):
            sources.extend(word.rstrip("/") for word in words[:-1] if not word.startswith("--"))
    return sources


def dockerignore_excludes(patterns: list[str], path: str) -> bool:
    """Whether `.dockerignore`'s `patterns` leave `path` out of the build context."""
    return bool(PatternMatcher(patterns).matches(path))


def dockerignore_patterns(project: Path) -> list[str]:
    """Return the patterns of the rendered `.dockerignore`, without comments and blank lines."""
    lines = (project / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def nginx_test_config(
    project: Path,
    workdir: Path,
    *,
    cert_dir: Path | None = None,
    ports: tuple[int, int] | None = None,
    tls_port: int | None = None,
) -> Path:
    """Return a complete nginx.conf that includes the rendered server configuration.

    Everything nginx writes goes under `workdir`. `app` only resolves inside compose, so the
    upstream is 127.0.0.1 (at the second of `ports` when given, the first being where nginx
    listens). The TLS block is included when `cert_dir` holds its certificate, listening on
    `tls_port` of 127.0.0.1 when given.
    """
    server_conf = (project / "nginx" / "nginx.conf").read_text()
    tls_conf = (project / "nginx" / "tls.conf").read_text()
    assert UPSTREAM in server_conf
    assert LISTEN in server_conf
    assert CERT_DIR in tls_conf
    server_conf = server_conf.replace(UPSTREAM, LOCAL_UPSTREAM)
    if ports is not None:
        listen, upstream = ports
        server_conf = server_conf.replace(LOCAL_UPSTREAM, f"server 127.0.0.1:{upstream};")
        server_conf = server_conf.replace(LISTEN, f"listen 127.0.0.1:{listen} default_server;")
    (workdir / "default.conf").write_text(server_conf)
    includes = [workdir / "default.conf"]
    if cert_dir is not None:
        tls_conf = tls_conf.replace(CERT_DIR, f"{cert_dir}/")
        if tls_port is not None:
            assert TLS_LISTEN in tls_conf
            tls_conf = tls_conf.replace(TLS_LISTEN, f"listen 127.0.0.1:{tls_port} ssl;")
        (workdir / "tls.conf").write_text(tls_conf)
        includes.append(workdir / "tls.conf")
    temp_paths = "\n".join(
        f"    {kind}_temp_path {workdir / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    main = workdir / "nginx.conf"
    # Started by root, nginx runs its workers as `nobody`, who cannot enter the private `workdir`
    # where the request bodies it buffers go: keep them as the user that started it.
    user = "user root;\n" if os.geteuid() == 0 else ""
    main.write_text(
        user + "daemon off;\n"
        f"pid {workdir / 'nginx.pid'};\n"
        f"error_log {workdir / 'error.log'};\n"
        "events {}\n"
        "http {\n"
        f"    access_log {workdir / 'access.log'};\n"
        f"{temp_paths}\n" + "".join(f"    include {path};\n" for path in includes) + "}\n"
    )
    return main


class _EchoHandler(http.server.BaseHTTPRequestHandler):
    """Answers every request with a JSON echo of its path and headers, long enough to gzip."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        echo = {"path": self.path, "headers": dict(self.headers), "padding": "x" * 2048}
        body = json.dumps(echo).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        """Answer a POST as a GET."""
        self.do_GET()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base's name
        """Stay quiet."""


@contextlib.contextmanager
def echo_upstream() -> Iterator[int]:
    """Serve a stand-in for the app over HTTP on 127.0.0.1; yield its port."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _EchoHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def running_nginx(nginx: str, config: Path, port: int) -> Iterator[str]:
    """Run nginx in the foreground with `config` until the block ends; yield its base URL."""
    command = [nginx, "-p", str(config.parent), "-e", "stderr", "-c", str(config)]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                _, errors = process.communicate()
                raise AssertionError(f"nginx did not start:\n{errors}")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.communicate(timeout=10)


def self_signed_certificate(cert_dir: Path) -> Path:
    """Write a one-day certificate for 127.0.0.1 and localhost into `cert_dir`; return it.

    The files have the names nginx/tls.conf loads (fullchain.pem, privkey.pem); a client trusts
    the certificate by verifying against the returned file.
    """
    cert_dir.mkdir(parents=True, exist_ok=True)
    command = [require_tool("openssl"), "req", "-x509", "-newkey", "rsa:2048", "-nodes"]
    command += ["-days", "1", "-subj", "/CN=localhost"]
    command += ["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"]
    command += ["-keyout", "privkey.pem", "-out", "fullchain.pem"]
    subprocess.run(command, cwd=cert_dir, check=True, capture_output=True)
    return cert_dir / "fullchain.pem"
