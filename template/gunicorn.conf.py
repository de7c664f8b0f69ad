"""Gunicorn settings for the container: every value can be overridden from the environment.

    GUNICORN_BIND                  address to listen on                 0.0.0.0:8000
    GUNICORN_WORKERS               worker processes                     WEB_CONCURRENCY, else
    WEB_CONCURRENCY                (the name most platforms set)        2 x CPUs + 1
    GUNICORN_TIMEOUT               seconds a silent worker lives        60
    GUNICORN_GRACEFUL_TIMEOUT      seconds to finish requests on stop   30
    GUNICORN_KEEPALIVE             seconds an idle connection is kept   75 (above nginx's 60)
    GUNICORN_MAX_REQUESTS          recycle a worker after N requests    0 (never)
    GUNICORN_MAX_REQUESTS_JITTER   random spread of that limit          0
    GUNICORN_FORWARDED_ALLOW_IPS   proxies trusted for X-Forwarded-*    127.0.0.1,::1
    GUNICORN_LOG_LEVEL             gunicorn's own log level             LOG_LEVEL, else info
    GUNICORN_WORKER_TMP_DIR        heartbeat files (tmpfs)              /dev/shm when it exists
    GUNICORN_CONTROL_SOCKET        gunicornc's socket                   /tmp/gunicorn.ctl
    LOG_FORMAT                     json (one object per line) | text    json, as the service
    PROMETHEUS_MULTIPROC_DIR       metrics files shared by the workers  a fresh temporary dir

PROMETHEUS_MULTIPROC_DIR matters only when prometheus_client is installed (the metrics feature):
every worker then writes its metrics to files in that directory, which /metrics adds up. The
master empties the directory at start, and marks each worker that exits as dead.

Gunicorn's own GUNICORN_CMD_ARGS (command-line flags) wins over all of these. Workers write no
file outside the temporary directories, so the container runs with a read-only root file system.
"""

import importlib
import json
import logging
import math
import os
import tempfile
from datetime import UTC, datetime
from importlib.util import find_spec
from pathlib import Path
from typing import Protocol


def _env_str(name: str, default: str) -> str:
    """Return the variable `name`, or `default` when it is unset or blank."""
    return os.environ.get(name, "").strip() or default


def _env_int(name: str, default: int) -> int:
    """Return the variable `name` as an integer, or `default` when it is unset or blank."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        msg = f"{name} must be a whole number, not {value!r}"
        raise SystemExit(msg) from None


def available_cpus() -> int:
    """Count the CPUs this process may use: its CPU affinity, capped by a cgroup v2 CPU quota."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cpus = cpus or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
    except (OSError, ValueError):
        return cpus
    if quota == "max":
        return cpus
    return max(1, min(cpus, math.ceil(int(quota) / int(period))))


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON object on one line, with the fields the service's logs use."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as JSON; uvicorn's access records get their fields split out."""
        entry: dict[str, object] = {
            "timestamp": datetime.fromtimestamp(record.created, tz=UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.name == "uvicorn.access" and isinstance(record.args, tuple):
            keys = ("client", "method", "path", "http_version", "status")
            entry.update(zip(keys, record.args, strict=False))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def log_config(log_format: str, level: str) -> dict[str, object]:
    """Return gunicorn's logging: errors to stderr and access lines to stdout, in `log_format`.

    The root logger is left without handlers: the service installs its own in each worker.
    """
    formatter: dict[str, object] = (
        {"()": JsonFormatter}
        if log_format == "json"
        else {"format": "%(asctime)s %(levelname)-8s %(name)s %(message)s"}
    )

    def handler(stream: str) -> dict[str, object]:
        return {"class": "logging.StreamHandler", "formatter": "default", "stream": stream}

    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "handlers": {"error": handler("ext://sys.stderr"), "access": handler("ext://sys.stdout")},
        "root": {"handlers": []},
        "loggers": {
            "gunicorn.error": {"level": level.upper(), "handlers": ["error"], "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": ["access"], "propagate": False},
        },
    }


bind = _env_str("GUNICORN_BIND", "0.0.0.0:8000")
workers = _env_int("GUNICORN_WORKERS", _env_int("WEB_CONCURRENCY", 2 * available_cpus() + 1))
worker_class = "uvicorn_worker.UvicornWorker"
timeout = _env_int("GUNICORN_TIMEOUT", 60)
graceful_timeout = _env_int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = _env_int("GUNICORN_KEEPALIVE", 75)
max_requests = _env_int("GUNICORN_MAX_REQUESTS", 0)
max_requests_jitter = _env_int("GUNICORN_MAX_REQUESTS_JITTER", 0)
forwarded_allow_ips = _env_str("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# Heartbeat files and the control socket live on tmpfs, so the root file system can be read-only.
_SHM = Path("/dev/shm")  # noqa: S108 - a tmpfs on purpose
worker_tmp_dir = _env_str("GUNICORN_WORKER_TMP_DIR", str(_SHM) if _SHM.is_dir() else "") or None
control_socket = _env_str("GUNICORN_CONTROL_SOCKET", "/tmp/gunicorn.ctl")  # noqa: S108 - a tmpfs

loglevel = _env_str("GUNICORN_LOG_LEVEL", _env_str("LOG_LEVEL", "info")).lower()
accesslog = "-"
errorlog = "-"
logconfig_dict = log_config(_env_str("LOG_FORMAT", "json").lower(), loglevel)


class _Worker(Protocol):
    pid: int


def prometheus_multiprocess_dir() -> Path | None:
    """Return the metrics directory of the workers, or None without prometheus_client."""
    if find_spec("prometheus_client") is None:
        return None
    configured = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "").strip()
    return Path(configured) if configured else None


def on_starting(_server: object) -> None:
    """Before the workers start: give them an empty metrics directory (prometheus_client only).

    The workers inherit PROMETHEUS_MULTIPROC_DIR from the master: a fresh temporary directory
    unless it is set. Files of a previous run are removed, or their counts would add up again.
    """
    if find_spec("prometheus_client") is None:
        return
    directory = prometheus_multiprocess_dir()
    if directory is None:
        directory = Path(tempfile.mkdtemp(prefix="prometheus-"))
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()


def child_exit(_server: object, worker: _Worker) -> None:
    """When a worker exits, drop its live gauges from the metrics (prometheus_client only)."""
    if prometheus_multiprocess_dir() is None:
        return
    multiprocess = importlib.import_module("prometheus_client.multiprocess")
    multiprocess.mark_process_dead(worker.pid)
