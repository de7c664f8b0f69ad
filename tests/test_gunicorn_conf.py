"""gunicorn.conf.py: every value comes from the environment, and its logs are JSON when asked."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from tests.support.tools import clean_env, run

if TYPE_CHECKING:
    from pathlib import Path

    from tests.support.render import Renderer


@pytest.fixture(scope="module")
def default_project(renderer: Renderer) -> Path:
    """Return the project rendered with every default answer."""
    return renderer.project({})


def _gunicorn_env(project: Path, **environment: str) -> dict[str, str]:
    """Return a clean environment: no variable gunicorn.conf.py reads, except `environment`.

    gunicorn.conf.py imports the project's formatters: the package comes from its `src`, as it
    comes from the installed package where gunicorn runs (that module needs no dependency).
    """
    read = ("GUNICORN_", "LOG_", "WEB_CONCURRENCY")
    env = {k: v for k, v in clean_env().items() if not k.startswith(read)}
    return env | {"PYTHONPATH": str(project / "src")} | environment


def _gunicorn_settings(project: Path, **environment: str) -> dict[str, object]:
    """Return the settings gunicorn.conf.py gives with exactly `environment` set."""
    keys = ["bind", "workers", "worker_class", "timeout", "graceful_timeout", "keepalive"]
    keys += ["forwarded_allow_ips", "accesslog", "errorlog", "loglevel", "control_socket"]
    script = (
        "import json, runpy\n"
        "settings = runpy.run_path('gunicorn.conf.py')\n"
        f"print(json.dumps({{key: settings[key] for key in {keys!r}}}))\n"
    )
    env = _gunicorn_env(project, **environment)
    result = run([sys.executable, "-c", script], cwd=project, env=env)
    settings: dict[str, object] = json.loads(result.stdout)
    return settings


def test_gunicorn_defaults(default_project: Path) -> None:
    """The package's draining uvicorn workers on 0.0.0.0:8000, logging to the container's output."""
    settings = _gunicorn_settings(default_project)
    workers = settings.pop("workers")
    assert isinstance(workers, int)
    assert workers % 2 == 1
    assert workers >= 3
    assert settings == {
        "bind": "0.0.0.0:8000",
        "worker_class": "taskapi.worker.DrainingUvicornWorker",
        "timeout": 60,
        "graceful_timeout": 30,
        "keepalive": 75,
        "forwarded_allow_ips": "127.0.0.1,::1",
        "accesslog": "-",
        "errorlog": "-",
        "loglevel": "info",
        "control_socket": "/tmp/gunicorn.ctl",  # noqa: S108 - the container's tmpfs
    }


def test_gunicorn_settings_come_from_the_environment(default_project: Path) -> None:
    """GUNICORN_* variables override every default; WEB_CONCURRENCY sets the workers."""
    overrides = {
        "GUNICORN_BIND": "127.0.0.1:9000",
        "GUNICORN_TIMEOUT": "5",
        "GUNICORN_GRACEFUL_TIMEOUT": "6",
        "GUNICORN_KEEPALIVE": "7",
        "GUNICORN_FORWARDED_ALLOW_IPS": "*",
        "GUNICORN_CONTROL_SOCKET": "/run/g.ctl",
        "LOG_LEVEL": "WARNING",
        "WEB_CONCURRENCY": "3",
    }
    settings = _gunicorn_settings(default_project, **overrides)
    assert settings["bind"] == "127.0.0.1:9000"
    assert (settings["timeout"], settings["graceful_timeout"], settings["keepalive"]) == (5, 6, 7)
    assert settings["forwarded_allow_ips"] == "*"
    assert settings["control_socket"] == "/run/g.ctl"
    assert settings["loglevel"] == "warning"
    assert settings["workers"] == 3
    both = _gunicorn_settings(default_project, WEB_CONCURRENCY="3", GUNICORN_WORKERS="4")
    assert both["workers"] == 4


def test_gunicorn_refuses_a_bad_number(default_project: Path) -> None:
    """A non-numeric GUNICORN_WORKERS stops gunicorn with the variable's name."""
    env = _gunicorn_env(default_project, GUNICORN_WORKERS="many")
    command = [sys.executable, "-c", "import runpy; runpy.run_path('gunicorn.conf.py')"]
    result = subprocess.run(
        command, cwd=default_project, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 1
    assert "GUNICORN_WORKERS must be a whole number, not 'many'" in result.stderr


#: Logs through gunicorn's logging config the way UvicornWorker does: uvicorn's access logger
#: takes gunicorn.access's handlers and level.
_LOG_SETUP = """
import logging, logging.config, runpy
logging.config.dictConfig(runpy.run_path("gunicorn.conf.py")["logconfig_dict"])
access = logging.getLogger("uvicorn.access")
access.handlers = logging.getLogger("gunicorn.access").handlers
access.setLevel(logging.getLogger("gunicorn.access").level)
access.propagate = False
"""
_LOG_SCRIPT = (
    _LOG_SETUP
    + """
access.info('%s - "%s %s HTTP/%s" %d', "10.0.0.1:5000", "GET", '/tasks?q="x\\\\y"', "1.1", 200)
try:
    1 / 0
except ZeroDivisionError:
    logging.getLogger("gunicorn.error").exception("worker %s failed", 7)
"""
)


def test_gunicorn_logs_one_json_object_per_line(default_project: Path) -> None:
    """By default, as with LOG_FORMAT=json, access lines and errors are valid JSON objects."""
    env = _gunicorn_env(default_project)
    result = run([sys.executable, "-c", _LOG_SCRIPT], cwd=default_project, env=env)
    access = [json.loads(line) for line in result.stdout.splitlines()]
    errors = [json.loads(line) for line in result.stderr.splitlines()]

    assert len(access) == 1
    assert {k: access[0][k] for k in ("logger", "client", "method", "path", "status")} == {
        "logger": "uvicorn.access",
        "client": "10.0.0.1:5000",
        "method": "GET",
        "path": '/tasks?q="x\\y"',
        "status": 200,
    }
    assert len(errors) == 1
    assert errors[0]["message"] == "worker 7 failed"
    assert errors[0]["level"] == "ERROR"
    assert "ZeroDivisionError" in errors[0]["exception"]


def test_gunicorn_logs_text_otherwise(default_project: Path) -> None:
    """With LOG_FORMAT=text, gunicorn writes readable lines, as the service does."""
    env = _gunicorn_env(default_project, LOG_FORMAT="text")
    result = run([sys.executable, "-c", _LOG_SCRIPT], cwd=default_project, env=env)
    assert result.stdout.startswith("20")
    access = 'uvicorn.access [-] 10.0.0.1:5000 - "GET /tasks?q="x\\y" HTTP/1.1" 200'
    assert access in result.stdout


#: Logs a request whose path carries line breaks, terminal escapes and Unicode separators, and
#: an error whose message does.
_HOSTILE_LOG_SCRIPT = (
    _LOG_SETUP
    + """
path = "/x\\n2025-01-01 00:00:00 INFO forged\\r\\x1b[31m\\x7f\\x85\\x9b\\u2028\\u2029"
access.info('%s - "%s %s HTTP/%s" %d', "10.0.0.1:5000", "GET", path, "1.1", 404)
try:
    raise ValueError(path)
except ValueError:
    logging.getLogger("gunicorn.error").exception("failed on %s", path)
"""
)
_HOSTILE_PATH = "/x\n2025-01-01 00:00:00 INFO forged\r\x1b[31m\x7f\x85\x9b\u2028\u2029"
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_gunicorn_escapes_control_characters_in_its_logs(
    default_project: Path, log_format: str
) -> None:
    """Line breaks, terminal escapes and separators are escaped: no record can be forged.

    A record is one line; in text, its traceback follows on indented lines.
    """
    env = _gunicorn_env(default_project, LOG_FORMAT=log_format)
    result = run([sys.executable, "-c", _HOSTILE_LOG_SCRIPT], cwd=default_project, env=env)
    access = result.stdout.removesuffix("\n").split("\n")
    first, *traceback = result.stderr.removesuffix("\n").split("\n")

    assert len(access) == 1
    assert not any(_UNSAFE.search(line) for line in [*access, first, *traceback])
    if log_format == "json":
        assert traceback == []
        assert json.loads(access[0])["path"] == _HOSTILE_PATH
        assert json.loads(first)["message"] == f"failed on {_HOSTILE_PATH}"
    else:
        assert "/x\\n2025-01-01 00:00:00 INFO forged\\r\\x1b[31m" in access[0]
        assert "\\u2028" in access[0]
        assert traceback
        assert all(line.startswith("    ") for line in traceback)


def test_deployment_docs_list_every_gunicorn_variable(default_project: Path) -> None:
    """docs/deployment.md documents each variable gunicorn.conf.py reads."""
    source = (default_project / "gunicorn.conf.py").read_text()
    docs = (default_project / "docs" / "deployment.md").read_text()
    names = set(re.findall(r'_env_(?:str|int)\("([A-Z_]+)"', source))
    assert {"GUNICORN_WORKERS", "WEB_CONCURRENCY", "LOG_FORMAT"} <= names
    assert sorted(name for name in names - {"LOG_FORMAT", "LOG_LEVEL"} if name not in docs) == []
