"""Run tier: a burst of registrations cannot take a worker's memory past its hashing bound.

Each registration hashes a password with Argon2 (64 MiB). The default preset runs for real
(gunicorn with 2 workers); 50 clients, each from its own loopback address so that no per-client
limit is what stops them, register at once, straight to gunicorn. Every worker runs at most
PASSWORD_HASH_CONCURRENCY hashes at once, so its memory stays within its idle size plus that
many hashes; the callers beyond the bound wait, then get 503 with Retry-After.
"""

from __future__ import annotations

import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.support import report
from tests.support.stack import Stack, running_stack
from tests.support.variants import presets
from tests.test_fault_tier import resident_mib, settled_mib, worker_pids

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.support.render import Renderer

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("default-registrations")]

DEFAULT = next(v for v in presets() if v.id == "default")
CLIENTS = 50
#: The service's default PASSWORD_HASH_CONCURRENCY.
HASH_BOUND = 2
#: What one running Argon2 hash may add to a worker: its 64 MiB, and some room.
MIB_PER_HASH = 70
#: A worker's memory is its lowest reading over this many seconds (of readings every 0.1 s).
WINDOW_SECONDS = 3.0
SAMPLE_INTERVAL = 0.1


@pytest.fixture(scope="module")
def stack(renderer: Renderer) -> Iterator[Stack]:
    """Yield the default preset, serving with its default limits (5 registrations/client/hour)."""
    project = renderer.installed(DEFAULT.answers)
    with running_stack(project, DEFAULT.answers) as running:
        yield running


def register(app_url: str, client_number: int) -> httpx.Response:
    """Register a new user from loopback address 127.0.0.<client_number + 10>."""
    return register_from(app_url, f"127.0.0.{client_number + 10}")


def register_from(app_url: str, address: str) -> httpx.Response:
    """Register a new user from the loopback address `address`."""
    username = f"burst_{address.rsplit('.', 1)[1]}_{secrets.token_hex(4)}"
    body = {
        "email": f"{username}@example.com",
        "username": username,
        "password": f"Burst-{secrets.token_hex(8)}",
    }
    transport = httpx.HTTPTransport(local_address=address)
    with httpx.Client(base_url=app_url, transport=transport, timeout=60) as client:
        return client.post("/api/v1/auth/register", json=body)


def windowed_peak(readings: list[float]) -> float:
    """Return the highest of a worker's lowest readings over any WINDOW_SECONDS of the burst."""
    window = round(WINDOW_SECONDS / SAMPLE_INTERVAL)
    if len(readings) <= window:
        return min(readings)
    return max(min(readings[i : i + window]) for i in range(len(readings) - window + 1))


def test_a_registration_burst_keeps_each_worker_within_its_hashing_bound(stack: Stack) -> None:
    """50 registrations at once: each worker stays within idle RSS + bound x 70 MiB."""
    for n in range(4):  # warm: each worker has hashed a password once
        assert register(stack.app_url, CLIENTS + n).status_code == 201
    workers = worker_pids(stack)
    idle = settled_mib(workers)
    readings: dict[int, list[float]] = {pid: [] for pid in workers}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            for pid in workers:
                readings[pid].append(resident_mib(pid))
            time.sleep(SAMPLE_INTERVAL)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        with ThreadPoolExecutor(CLIENTS) as pool:
            responses = list(pool.map(lambda n: register(stack.app_url, n), range(CLIENTS)))
    finally:
        done.set()
        sampler.join()

    peaks = {pid: windowed_peak(values) for pid, values in readings.items()}
    statuses = sorted(r.status_code for r in responses)
    report.record(
        "registration burst",
        clients=CLIENTS,
        created=statuses.count(201),
        busy=statuses.count(503),
        idle_mib=sorted(round(v, 1) for v in idle.values()),
        peak_mib=sorted(round(v, 1) for v in peaks.values()),
    )
    assert set(statuses) <= {201, 503}, statuses
    assert 201 in statuses
    assert all(r.headers["Retry-After"].isdecimal() for r in responses if r.status_code == 503)
    over = {
        pid: (round(idle[pid]), round(peaks[pid]))
        for pid in workers
        if peaks[pid] > idle[pid] + HASH_BOUND * MIB_PER_HASH
    }
    assert over == {}, f"workers over idle + {HASH_BOUND} x {MIB_PER_HASH} MiB: {over}"


def test_one_client_registering_fifty_times_at_once_meets_the_limit(stack: Stack) -> None:
    """50 registrations at once from one address: 5 are taken (RATE_LIMIT_REGISTER), 45 get 429."""
    with ThreadPoolExecutor(CLIENTS) as pool:
        responses = list(pool.map(lambda _: register_from(stack.app_url, "127.0.0.200"), range(50)))
    statuses = [r.status_code for r in responses]
    assert statuses.count(429) == CLIENTS - 5, sorted(statuses)
    assert set(statuses) <= {201, 429, 503}, statuses
    assert all(r.headers["Retry-After"].isdecimal() for r in responses if r.status_code == 429)
