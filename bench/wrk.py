"""Load an HTTP endpoint with wrk and read its figures."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Final

HERE: Final = Path(__file__).resolve().parent
_UNITS: Final = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass(frozen=True)
class Load:
    """How hard and how long wrk loads an endpoint."""

    seconds: int
    connections: int = 32
    threads: int = 2


@dataclass(frozen=True)
class Sample:
    """One wrk run: throughput, latency percentiles and failures."""

    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    failed: int


def wrk_path() -> str:
    """Return the wrk executable (Debian's `wrk` package)."""
    found = shutil.which("wrk")
    if found is None:
        msg = "wrk is not installed: apt-get install wrk"
        raise SystemExit(msg)
    return found


def run_wrk(
    url: str,
    load: Load,
    *,
    token: str | None = None,
    script: str | None = None,
    env: dict[str, str] | None = None,
) -> Sample:
    """Load `url` for `load.seconds`; fail when wrk itself fails."""
    command = [wrk_path(), "--latency", f"-t{load.threads}", f"-c{load.connections}"]
    command += [f"-d{load.seconds}s", "--timeout", "10s"]
    if token:
        command += ["-H", f"Authorization: Bearer {token}"]
    if script:
        command += ["-s", str(HERE / script)]
    result = subprocess.run(
        [*command, url],
        capture_output=True,
        text=True,
        env=os.environ | (env or {}),
        check=False,
        timeout=load.seconds + 60,
    )
    if result.returncode != 0:
        raise SystemExit(f"wrk failed on {url}:\n{result.stdout}\n{result.stderr}")
    return parse(result.stdout)


def parse(output: str) -> Sample:
    """Read wrk's `--latency` report."""
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    if rps is None or total is None:
        raise SystemExit(f"unexpected wrk output:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    failed = int(non_2xx.group(1)) if non_2xx else 0
    # A read error is how wrk counts a keep-alive connection the server closed: not a failure.
    if socket_errors:
        connect, _read, write, timeout = (int(n) for n in socket_errors.groups())
        failed += connect + write + timeout
    return Sample(
        rps=float(rps.group(1)),
        p50_ms=_percentile(output, "50"),
        p99_ms=_percentile(output, "99"),
        requests=int(total.group(1)),
        failed=failed,
    )


def _percentile(output: str, percent: str) -> float:
    """Return a latency percentile of wrk's distribution, in milliseconds."""
    found = re.search(rf"^\s+{percent}(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
    if found is None:
        raise SystemExit(f"wrk printed no {percent}% latency:\n{output}")
    return float(found.group(1)) * _UNITS[found.group(2)]
