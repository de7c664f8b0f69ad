"""Background jobs of a running service: its job worker as a process, and a webhook receiver.

The receiver is a real HTTP server on loopback, in the test process. It checks each delivery's
Standard Webhooks signature, records it (when its body has arrived, before it answers) and
answers 204 after `delay` seconds, so that a worker stopped meanwhile never sees the answer. It
counts deliveries by event id (`webhook-id`): a receiver drops the duplicates of an event.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import signal
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

from tests.support.stack import package_of
from tests.support.tools import run

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from tests.support.services import PostgresServer


@dataclass(frozen=True)
class Delivery:
    """One POST the receiver got: the event's id, the task it is about, whether it was signed."""

    event_id: str
    task_id: int
    signed: bool
    arrived: float


def signature_valid(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """Whether `headers` carry the Standard Webhooks signature of `body` under `secret`."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return hmac.compare_digest(expected, headers.get("webhook-signature", ""))


@dataclass
class Receiver:
    """What a webhook receiver got; `secret` is the webhook's, set once it is registered."""

    delay: float = 0.0
    secret: str = ""
    deliveries: list[Delivery] = field(default_factory=list)
    #: Deliveries whose body arrived and whose answer is not sent yet.
    in_flight: int = 0
    #: Answers that could not be written: the worker had gone.
    unanswered: int = 0
    changed: threading.Condition = field(default_factory=threading.Condition)

    def arrive(self, headers: dict[str, str], body: bytes) -> None:
        """Record one delivery, in flight until `answered`."""
        event = json.loads(body)
        delivery = Delivery(
            event_id=headers["webhook-id"],
            task_id=int(event["data"]["task"]["id"]),
            signed=event["id"] == headers["webhook-id"]
            and signature_valid(self.secret, headers, body),
            arrived=time.monotonic(),
        )
        with self.changed:
            self.deliveries.append(delivery)
            self.in_flight += 1
            self.changed.notify_all()

    def answered(self, *, written: bool) -> None:
        """Record that an answer went out (or could not)."""
        with self.changed:
            self.in_flight -= 1
            self.unanswered += not written
            self.changed.notify_all()

    def counts(self) -> Counter[str]:
        """How many times each event id arrived."""
        with self.changed:
            return Counter(d.event_id for d in self.deliveries)

    def tasks_by_event(self) -> dict[str, set[int]]:
        """Return the tasks each event id was about (one each, unless an id was reused)."""
        tasks: dict[str, set[int]] = {}
        with self.changed:
            for d in self.deliveries:
                tasks.setdefault(d.event_id, set()).add(d.task_id)
        return tasks

    def duplicates(self) -> int:
        """Deliveries of an event that had arrived before."""
        counts = self.counts()
        return sum(counts.values()) - len(counts)

    def wait_until_in_flight(self, *, arrived: int, timeout: float) -> None:
        """Wait until `arrived` deliveries arrived and at least one is waiting for its answer."""
        with self.changed:
            done = self.changed.wait_for(
                lambda: len(self.deliveries) >= arrived and self.in_flight > 0, timeout
            )
        assert done, f"{len(self.deliveries)} deliveries, {self.in_flight} in flight"

    def wait_for_tasks(self, tasks: set[int], *, timeout: float) -> float:
        """Wait until an event about each of `tasks` arrived; return the seconds it took."""
        started = time.monotonic()
        with self.changed:
            done = self.changed.wait_for(
                lambda: tasks <= {d.task_id for d in self.deliveries}, timeout
            )
            missing = tasks - {d.task_id for d in self.deliveries}
        assert done, f"no event for {len(missing)} of {len(tasks)} tasks: {sorted(missing)}"
        return time.monotonic() - started


@contextlib.contextmanager
def receiving(delay: float = 0.0) -> Iterator[tuple[Receiver, str]]:
    """Serve a receiver on loopback; yield it and the URL to register."""
    state = Receiver(delay=delay)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a real receiver

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length)
            if len(body) < length:  # the sender went away mid-request: nothing was delivered
                self.close_connection = True
                return
            state.arrive({k.lower(): v for k, v in self.headers.items()}, body)
            written = True
            try:
                time.sleep(state.delay)
                self.send_response(204)
                self.send_header("content-length", "0")
                self.end_headers()
                self.wfile.flush()
            except OSError:
                written = False
                self.close_connection = True
            state.answered(written=written)

        def log_message(self, *_args: object) -> None:
            """Keep the test output quiet."""

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        #: The worker opens a connection per concurrent delivery: take them all at once.
        request_queue_size = 128

    server = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}/hooks/tasks"
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class JobWorker:
    """The project's job worker (`python -m <package>.job_worker`), started and stopped by pid.

    Every process it starts appends its output to `log`.
    """

    project: Path
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    started: list[int] = field(default_factory=list)

    def start(self) -> None:
        """Start a worker process."""
        assert self.process is None or self.process.poll() is not None, "a worker runs already"
        command = [str(self.project / ".venv" / "bin" / "python")]
        command += ["-m", f"{package_of(self.project)}.job_worker"]
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(
                command, cwd=self.project, env=self.env, stdout=output, stderr=subprocess.STDOUT
            )
        self.started.append(self.process.pid)

    def kill(self) -> None:
        """SIGKILL the worker: it stops at once, in the middle of whatever it was doing."""
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def terminate(
        self, *, grace: float, then: Callable[[], object] | None = None
    ) -> tuple[int, float]:
        """SIGTERM the worker, call `then`; return its exit code and the seconds it took to exit."""
        assert self.process is not None
        signalled = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        if then is not None:
            then()
        try:
            code = self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.kill()
            msg = f"the worker did not exit within {grace:.0f}s of SIGTERM"
            raise AssertionError(msg) from None
        return code, time.monotonic() - signalled

    def signal_received(self) -> float:
        """Return when (monotonic seconds) the worker logged that a signal told it to stop."""
        for record in self.records():
            if str(record.get("message", "")).startswith("Signal 15 received"):
                stamp = datetime.fromisoformat(str(record["timestamp"])).timestamp()
                return time.monotonic() - (time.time() - stamp)
        msg = "the worker did not log the signal"
        raise AssertionError(msg)

    def running(self) -> bool:
        """Whether the last worker started still runs."""
        return self.process is not None and self.process.poll() is None

    def records(self) -> list[dict[str, object]]:
        """Return the JSON log records of every worker so far (other lines skipped)."""
        found = []
        for line in self.log.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if isinstance(record, dict):
                    found.append(record)
        return found

    def stop(self) -> None:
        """Stop the running worker, if any: SIGTERM, then SIGKILL after 30 s."""
        if self.running():
            with contextlib.suppress(AssertionError):
                self.terminate(grace=30)


@contextlib.contextmanager
def job_worker(project: Path, env: dict[str, str], log: Path) -> Iterator[JobWorker]:
    """Yield a started job worker; stop whichever one runs at the end."""
    worker = JobWorker(project, env, log)
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()


def jobs_left(database: PostgresServer) -> int:
    """Return how many jobs PGQueuer's table holds: queued, running, or held as failed."""
    query = "SELECT count(*) FROM pgqueuer"
    return int(run([str(database.bindir / "psql"), "-Atc", query, database.url], None).stdout)


def wait_until_drained(database: PostgresServer, *, timeout: float) -> None:
    """Wait until every job is done and acknowledged: none left in the queue."""
    deadline = time.monotonic() + timeout
    while (left := jobs_left(database)) > 0:
        assert time.monotonic() < deadline, f"{left} jobs left after {timeout:.0f}s"
        time.sleep(0.2)
