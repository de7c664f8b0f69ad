"""Background jobs of a running service: its job worker as a process, and a webhook receiver.

The receiver is a real HTTP server on loopback, in the test process. A delivery takes it `delay`
seconds to handle (and waits while the test `holds` the deliveries, so that a signal lands
mid-delivery for sure); it then keeps the delivery only if the sender is still connected, as a
receiver that drops a request whose client went away: a worker killed meanwhile delivered
nothing. It checks each delivery's Standard Webhooks signature, answers 204 (or 503 while it is
`refusing`: the worker retries later), and counts the deliveries by event id (`webhook-id`): a
receiver drops the duplicates of an event.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import select
import signal
import socket
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
    from collections.abc import Iterator
    from pathlib import Path

    from tests.support.services import PostgresServer


@dataclass(frozen=True)
class Delivery:
    """One delivery the receiver kept: the event's id, its task, whether it was signed."""

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


def peer_gone(connection: socket.socket) -> bool:
    """Whether the other end closed `connection` (it sends nothing while it awaits the answer)."""
    readable, _, _ = select.select([connection], [], [], 0)
    if not readable:
        return False
    try:
        return connection.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


@dataclass
class Receiver:
    """What a webhook receiver got; `secret` is the webhook's, set once it is registered."""

    delay: float = 0.0
    secret: str = ""
    deliveries: list[Delivery] = field(default_factory=list, repr=False)
    #: Deliveries being handled: their body arrived, they are neither kept nor dropped yet.
    in_flight: int = 0
    #: Deliveries dropped because their sender went away before they were handled.
    abandoned: int = 0
    #: While set, every delivery is answered 503 (and not kept): the worker retries it later.
    refusing: bool = False
    #: The ids of the events refused so far.
    refused: set[str] = field(default_factory=set, repr=False)
    changed: threading.Condition = field(default_factory=threading.Condition, repr=False)
    #: Cleared while the test holds the deliveries in flight.
    flowing: threading.Event = field(default_factory=threading.Event, repr=False)

    def __post_init__(self) -> None:
        self.flowing.set()

    @contextlib.contextmanager
    def holding(self) -> Iterator[None]:
        """Hold every delivery in flight (unanswered) until the `with` block ends."""
        self.flowing.clear()
        try:
            yield
        finally:
            self.flowing.set()

    def begin(self) -> None:
        """Count one more delivery in flight."""
        with self.changed:
            self.in_flight += 1
            self.changed.notify_all()

    def keep(self, headers: dict[str, str], body: bytes) -> None:
        """Keep a delivery whose sender waited for its answer."""
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
            self.in_flight -= 1
            self.changed.notify_all()

    def refuse(self, headers: dict[str, str]) -> None:
        """Refuse a delivery: it is not kept."""
        with self.changed:
            self.refused.add(headers["webhook-id"])
            self.in_flight -= 1
            self.changed.notify_all()

    def wait_for_refusals(self, count: int, *, timeout: float) -> None:
        """Wait until `count` events have been refused at least once each."""
        with self.changed:
            done = self.changed.wait_for(lambda: len(self.refused) >= count, timeout)
        assert done, f"{len(self.refused)} of {count} events refused"

    def drop(self) -> None:
        """Drop a delivery whose sender went away."""
        with self.changed:
            self.abandoned += 1
            self.in_flight -= 1
            self.changed.notify_all()

    def counts(self) -> Counter[str]:
        """Return how many times each event id arrived."""
        with self.changed:
            return Counter(d.event_id for d in self.deliveries)

    def duplicates(self) -> int:
        """Return how many deliveries repeated an event that had arrived before."""
        counts = self.counts()
        return sum(counts.values()) - len(counts)

    def wait_for_deliveries(self, count: int, *, timeout: float) -> None:
        """Wait until `count` deliveries arrived."""
        with self.changed:
            done = self.changed.wait_for(lambda: len(self.deliveries) >= count, timeout)
        assert done, f"{len(self.deliveries)} of {count} deliveries arrived"

    def wait_until_in_flight(self, *, timeout: float) -> int:
        """Wait until a delivery is being handled; return how many are."""
        with self.changed:
            done = self.changed.wait_for(lambda: self.in_flight > 0, timeout)
            assert done, f"no delivery in flight within {timeout:.0f}s"
            return self.in_flight

    def wait_for_tasks(self, tasks: set[int], *, timeout: float) -> None:
        """Wait until an event about each of `tasks` arrived."""
        with self.changed:
            done = self.changed.wait_for(
                lambda: tasks <= {d.task_id for d in self.deliveries}, timeout
            )
            missing = tasks - {d.task_id for d in self.deliveries}
        assert done, f"no event for {len(missing)} of {len(tasks)} tasks: {sorted(missing)}"


@contextlib.contextmanager
def receiving(delay: float = 0.0) -> Iterator[tuple[Receiver, str]]:
    """Serve a receiver on loopback; yield it and the URL to register."""
    state = Receiver(delay=delay)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a real receiver

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length)
            if len(body) < length:  # the sender went away mid-request
                self.close_connection = True
                return
            state.begin()
            time.sleep(state.delay)
            state.flowing.wait()
            if peer_gone(self.connection):
                state.drop()
                self.close_connection = True
                return
            headers = {k.lower(): v for k, v in self.headers.items()}
            status = 503 if state.refusing else 204
            if state.refusing:
                state.refuse(headers)
            else:
                state.keep(headers, body)
            with contextlib.suppress(OSError):
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

        def log_message(self, *_args: object) -> None:
            """Keep the test output quiet."""

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        #: The worker opens a connection per concurrent delivery: take them all at once.
        request_queue_size = 128

        def handle_error(self, request: object, client_address: object) -> None:
            """Say nothing of a connection that a killed worker left: it is expected."""

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
    env: dict[str, str] = field(repr=False)
    log: Path
    process: subprocess.Popen[bytes] | None = None
    started: list[int] = field(default_factory=list)
    #: When (monotonic seconds) the last SIGTERM was sent.
    signalled: float = 0.0

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

    def signal(self) -> None:
        """SIGTERM the worker: it stops taking jobs, finishes the running ones and exits."""
        assert self.process is not None
        self.signalled = time.monotonic()
        self.process.send_signal(signal.SIGTERM)

    def wait(self, *, grace: float) -> tuple[int, float]:
        """Wait for the signalled worker; return its exit code and the seconds since the signal.

        A worker still running `grace` seconds after the signal is killed, and the test fails.
        """
        assert self.process is not None
        try:
            code = self.process.wait(timeout=max(0.0, self.signalled + grace - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.kill()
            msg = f"the worker did not exit within {grace:.0f}s of SIGTERM"
            raise AssertionError(msg) from None
        return code, time.monotonic() - self.signalled

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
            self.signal()
            with contextlib.suppress(AssertionError):
                self.wait(grace=30)


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
