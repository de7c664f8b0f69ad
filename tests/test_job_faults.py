"""Fault tier of the background jobs: no job is lost when the worker or its database fails.

The PostgreSQL presets with background jobs run as in the fault tier (PostgreSQL, redis-server,
gunicorn, nginx), with the job worker (`python -m <package>.job_worker`) as a process of its
own. A user with a webhook pointing at a real receiver in this process completes tasks, under
API load, while the worker is killed (SIGKILL), stopped (SIGTERM) or loses its database. Every
completion enqueues one delivery of a `task.completed` event in its own transaction; in the end
every committed completion's event has arrived, under one event id (`webhook-id`) however many
times it was sent, so a receiver that drops duplicates counts each exactly once.

The stack runs with JOB_HEARTBEAT_TIMEOUT=2: a dead worker's jobs run again within seconds.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.support import report
from tests.support.flow import ApiFlow, User
from tests.support.jobs import (
    JobWorker,
    Receiver,
    job_worker,
    jobs_left,
    receiving,
    wait_until_drained,
)
from tests.support.load import Load
from tests.support.stack import Stack, running_stack
from tests.test_fault_tier import PRESETS as FAULT_PRESETS
from tests.test_fault_tier import read_and_write_requests, summary, wait_for_status, worker_pids

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.support.render import Renderer
    from tests.support.variants import Variant

pytestmark = pytest.mark.slow

#: The fault tier's presets that have background jobs; same xdist groups, so same render.
PRESETS = [v for v in FAULT_PRESETS if v.answers["background_jobs"]]
#: Jobs settings of the service and the worker: loopback receivers, quick re-pickup and retries.
JOB_SETTINGS = {
    "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
    "JOB_HEARTBEAT_TIMEOUT": "2",
    "WEBHOOK_MAX_ATTEMPTS": "50",
    "WEBHOOK_RETRY_INITIAL_SECONDS": "0.2",
    "WEBHOOK_RETRY_MAX_SECONDS": "1",
}
#: Connections of the API load (reads and writes) around the kills and the stop.
LOAD_CONNECTIONS = 2
#: Tasks completed per test, each one event.
COMPLETIONS = 40
#: Seconds the receiver takes to handle a delivery.
RECEIVER_DELAY = 0.3
#: Seconds between two completions.
PACE = 0.05
#: Seconds a stopped worker has before it is killed (`docker stop`'s default).
GRACE_SECONDS = 10.0
#: Seconds PostgreSQL stays down: more than JOB_HEARTBEAT_TIMEOUT and the worker's restart delay.
OUTAGE_SECONDS = 5.0
#: Seconds the committed jobs have to run once PostgreSQL is back: the worker retries its
#: connection every 2 s and looks for jobs at least every JOB_HEARTBEAT_TIMEOUT.
RECOVERY_SECONDS = 15.0
#: Seconds every event has to arrive once the completions are done.
ARRIVAL_SECONDS = 45.0


@pytest.fixture(
    scope="module",
    params=[
        pytest.param(v, id=v.id, marks=pytest.mark.xdist_group(f"{v.id}-faults")) for v in PRESETS
    ],
)
def preset(request: pytest.FixtureRequest) -> Variant:
    """One PostgreSQL preset with background jobs."""
    value: Variant = request.param
    return value


@pytest.fixture(scope="module")
def stack(renderer: Renderer, preset: Variant) -> Iterator[Stack]:
    """Yield the preset, serving with the jobs settings of these tests."""
    project = renderer.installed(preset.answers)
    with running_stack(project, preset.answers, settings=JOB_SETTINGS) as running:
        yield running


@pytest.fixture(scope="module")
def flow(stack: Stack) -> Iterator[ApiFlow]:
    """Yield an HTTP client on the service's front door."""
    client = ApiFlow(stack.base_url)
    client.wait_ready()
    yield client
    client.close()


@dataclass(frozen=True)
class Hooked:
    """A user with COMPLETIONS open tasks and one webhook: the receiver."""

    user: User
    tasks: list[int]
    receiver: Receiver


@pytest.fixture
def hooked(flow: ApiFlow) -> Iterator[Hooked]:
    """Return a new user, their open tasks, and the receiver their webhook points at."""
    user = flow.register("hooked")
    tasks = []
    for number in range(COMPLETIONS):
        created = flow.request(
            "POST", "/api/v1/tasks", json={"title": f"job {number}"}, headers=user.headers
        )
        assert created.status_code == 201, created.text
        tasks.append(created.json()["id"])
    with receiving(delay=RECEIVER_DELAY) as (receiver, url):
        webhook = flow.request("POST", "/api/v1/webhooks", json={"url": url}, headers=user.headers)
        assert webhook.status_code == 201, webhook.text
        receiver.secret = webhook.json()["secret"]
        yield Hooked(user, tasks, receiver)


@pytest.fixture
def worker(stack: Stack, tmp_path: Path) -> Iterator[JobWorker]:
    """Yield the project's job worker, started, with the service's settings."""
    with job_worker(stack.project, stack.env, tmp_path / "worker.log") as started:
        yield started


@dataclass(frozen=True)
class Completion:
    """One PATCH to done: when it was sent, and its status code or its transport error."""

    task: int
    sent: float
    answer: int | str


@dataclass
class Completer:
    """Completes tasks one after the other, PACE apart, in a thread; records each answer."""

    base_url: str
    user: User
    tasks: list[int]
    completions: list[Completion] = field(default_factory=list)
    thread: threading.Thread | None = None

    def start(self) -> Completer:
        """Start completing the tasks."""
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()
        return self

    def run(self) -> None:
        """PATCH each task to done."""
        with httpx.Client(base_url=self.base_url, timeout=10) as client:
            for task in self.tasks:
                sent = time.monotonic()
                self.completions.append(Completion(task, sent, complete(client, self.user, task)))
                time.sleep(PACE)

    def done(self) -> dict[int, int | str]:
        """Wait for the last completion; return each task's answer."""
        assert self.thread is not None
        self.thread.join(timeout=120)
        assert not self.thread.is_alive(), "the completions did not end within 120s"
        return {c.task: c.answer for c in self.completions}


def complete(client: httpx.Client, user: User, task: int) -> int | str:
    """PATCH `task` to done; return the status code, or the name of the transport error."""
    headers = {"X-Request-ID": secrets.token_hex(16), **user.headers}
    try:
        answer = client.patch(f"/api/v1/tasks/{task}", json={"status": "done"}, headers=headers)
    except httpx.TransportError as error:
        return type(error).__name__
    return answer.status_code


def assert_each_event_once(stack: Stack, hooked: Hooked) -> None:
    """One event per completed task, signed, under one id however many times it was sent.

    Nothing is left in the queue: no job of this test runs once it is over.
    """
    assert stack.database is not None
    wait_until_drained(stack.database, timeout=ARRIVAL_SECONDS)
    events_by_task: dict[int, set[str]] = {}
    for delivery in hooked.receiver.deliveries:
        events_by_task.setdefault(delivery.task_id, set()).add(delivery.event_id)
    assert all(d.signed for d in hooked.receiver.deliveries)
    assert set(events_by_task) == set(hooked.tasks)
    under_two_ids = {task: ids for task, ids in events_by_task.items() if len(ids) > 1}
    assert not under_two_ids, "an event was sent under two ids"
    assert len(hooked.receiver.counts()) == len(hooked.tasks), "two events had one id"


def halves(tasks: list[int]) -> tuple[list[int], list[int]]:
    """Split the tasks into the ones completed before a fault and the ones completed after."""
    return tasks[: len(tasks) // 2], tasks[len(tasks) // 2 :]


def test_a_killed_worker_loses_no_job(
    stack: Stack, hooked: Hooked, worker: JobWorker, preset: Variant
) -> None:
    """SIGKILL the worker mid-delivery under load: every event arrives, under one id each.

    Half the tasks are completed before the kill, the other half while the next worker starts.
    The deliveries the kill cut short never arrive (the receiver drops them). A killed worker
    never acknowledges the jobs it was running: once their heartbeat is older than
    JOB_HEARTBEAT_TIMEOUT the next worker runs them again; a job it had finished but not yet
    recorded as done runs again too, and its event arrives twice, under the same id.
    """
    receiver = hooked.receiver
    before, after = halves(hooked.tasks)
    with Load(stack.app_url, read_and_write_requests(hooked.user), LOAD_CONNECTIONS) as load:
        first = Completer(stack.base_url, hooked.user, before).start()
        receiver.wait_for_deliveries(5, timeout=60)
        with receiver.holding():
            in_flight_at_kill = receiver.wait_until_in_flight(timeout=30)
            worker.kill()
        killed = time.monotonic()
        second = Completer(stack.base_url, hooked.user, after).start()
        worker.start()
        answers = first.done() | second.done()
        receiver.wait_for_tasks(set(hooked.tasks), timeout=ARRIVAL_SECONDS)
        all_arrived = time.monotonic() - killed
    report.record(
        f"job worker killed {preset.id}",
        completions=COMPLETIONS,
        in_flight_at_kill=in_flight_at_kill,
        cut_short=receiver.abandoned,
        deliveries=len(receiver.deliveries),
        duplicates=receiver.duplicates(),
        all_arrived_after_kill_s=round(all_arrived, 1),
        api_requests=len(load.outcomes),
    )
    assert set(answers.values()) == {200}, answers
    assert not load.failures(), summary(load.failures())
    assert_each_event_once(stack, hooked)
    # The kill cut deliveries short (the receiver dropped them), and yet every event arrived.
    assert receiver.abandoned >= in_flight_at_kill > 0


def test_a_stopped_worker_finishes_its_jobs_and_exits_cleanly(
    stack: Stack, hooked: Hooked, worker: JobWorker, preset: Variant
) -> None:
    """SIGTERM mid-delivery under load: the worker finishes what it runs, records it, exits 0.

    The deliveries it was running get their answer (none is cut short) and, recorded as done,
    none is sent again. It takes no new job once it has the signal: the tasks completed from
    then on are delivered by the next worker.
    """
    receiver = hooked.receiver
    before, after = halves(hooked.tasks)
    with Load(stack.app_url, read_and_write_requests(hooked.user), LOAD_CONNECTIONS) as load:
        first = Completer(stack.base_url, hooked.user, before).start()
        receiver.wait_for_deliveries(5, timeout=60)
        second = Completer(stack.base_url, hooked.user, after)
        with receiver.holding():
            in_flight_at_signal = receiver.wait_until_in_flight(timeout=30)
            worker.signal()
        second.start()
        code, exit_seconds = worker.wait(grace=GRACE_SECONDS)
        exited = time.monotonic()
        by_the_stopped_worker = {d.task_id for d in receiver.deliveries if d.arrived < exited}
        worker.start()
        answers = first.done() | second.done()
        receiver.wait_for_tasks(set(hooked.tasks), timeout=ARRIVAL_SECONDS)
    report.record(
        f"job worker stopped {preset.id}",
        completions=COMPLETIONS,
        in_flight_at_signal=in_flight_at_signal,
        delivered_by_stopped_worker=len(by_the_stopped_worker),
        exit_s=round(exit_seconds, 2),
        duplicates=receiver.duplicates(),
    )
    assert code == 0
    assert exit_seconds < GRACE_SECONDS
    assert receiver.abandoned == 0, "a delivery was cut short"
    assert set(answers.values()) == {200}, answers
    assert not load.failures(), summary(load.failures())
    assert_each_event_once(stack, hooked)
    assert receiver.duplicates() == 0, "a job finished before the stop ran again"
    # The completions sent once the worker had the signal were left to the next worker.
    told = worker.signal_received()
    assert worker.signalled - 0.01 < told < exited  # the log stamps milliseconds
    enqueued_after_signal = {c.task for c in second.completions if c.sent > told}
    assert enqueued_after_signal
    assert not by_the_stopped_worker & enqueued_after_signal, "a job was taken after the signal"


def test_the_database_lost_and_back_runs_every_committed_job(
    stack: Stack, flow: ApiFlow, hooked: Hooked, worker: JobWorker, preset: Variant
) -> None:
    """PostgreSQL stops with jobs queued and completions going on, then starts: every job runs.

    The receiver first refuses every delivery (503), so the jobs of the first completions wait
    in the queue for their retry when PostgreSQL stops; none has been delivered. While it is
    down a completion answers 503 (the queue is the database) and readiness 503, and the worker
    keeps running. Once it is back the same worker reconnects by itself and runs every job that
    was committed, within RECOVERY_SECONDS; the API serves again without a restart, and the
    completions that were refused succeed when sent again, their events delivered as well.
    """
    assert stack.database is not None
    receiver = hooked.receiver
    before, after = halves(hooked.tasks)
    api_workers = worker_pids(stack)
    receiver.refusing = True
    first = Completer(stack.base_url, hooked.user, before).start()
    receiver.wait_for_refusals(len(before), timeout=60)
    first.done()
    queued_at_stop = jobs_left(stack.database)
    second = Completer(stack.base_url, hooked.user, after).start()
    stack.database.stop()
    stopped = time.monotonic()
    try:
        ready, _ = wait_for_status(flow, "/healthz/ready", 503, within=10)
        assert {"database", "jobs"} <= set(ready.json()["failing"])
        refused = flow.request(
            "PATCH",
            f"/api/v1/tasks/{after[-1]}",
            json={"status": "done"},
            headers=hooked.user.headers,
        )
        time.sleep(max(0.0, stopped + OUTAGE_SECONDS - time.monotonic()))
        assert worker.running(), "the worker exited when its database went away"
    finally:
        stack.database.start()
        receiver.refusing = False
    restarted = time.monotonic()
    delivered_before_restart = len(receiver.deliveries)
    answers = first.done() | second.done()
    committed = {t for t, answer in answers.items() if answer == 200}
    receiver.wait_for_tasks(committed, timeout=RECOVERY_SECONDS - (time.monotonic() - restarted))
    committed_arrived = time.monotonic() - restarted
    wait_for_status(flow, "/healthz/ready", 200, within=15)
    refused_during_outage = [t for t, answer in answers.items() if answer != 200]
    again = {t: complete(flow.client, hooked.user, t) for t in refused_during_outage}
    receiver.wait_for_tasks(set(hooked.tasks), timeout=RECOVERY_SECONDS)
    report.record(
        f"job database loss {preset.id}",
        completions=COMPLETIONS,
        queued_at_stop=queued_at_stop,
        refused_during_outage=len(refused_during_outage),
        outage_s=round(restarted - stopped, 1),
        committed_arrived_after_restart_s=round(committed_arrived, 1),
        duplicates=receiver.duplicates(),
    )
    assert queued_at_stop >= len(before)
    assert delivered_before_restart == 0
    assert refused.status_code == 503, refused.text
    assert refused.headers["Retry-After"] == "5"
    assert refused_during_outage, "no completion was refused during the outage"
    assert {answers[t] for t in refused_during_outage} == {503}, answers
    assert set(again.values()) == {200}, again
    assert len(worker.started) == 1, "the worker was restarted"
    assert worker.running()
    assert worker_pids(stack) == api_workers, "the API was restarted"
    assert_each_event_once(stack, hooked)
