"""Helpers shared by the tests."""

import io
import json
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

TEST_SECRET_KEY = "test-secret-key-that-is-long-enough-0123456789"


@asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Run the app's lifespan and yield a client that talks to it in-process.

    Unhandled exceptions come back as the 500 response the app sends, as a server would see it.
    """
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client
    join_sqlite_workers()


def join_sqlite_workers(timeout: float = 5.0) -> None:
    """Wait for aiosqlite's worker threads to end while the test's event loop is still open.

    Each aiosqlite connection hands its last result to the loop from its own thread; after a
    failed or cancelled connect that can happen once the loop is closed (omnilib/aiosqlite#241),
    and pytest reports the thread's error against whichever test runs then.
    """
    for thread in threading.enumerate():
        if thread.name.endswith("(_connection_worker_thread)"):
            thread.join(timeout)


def json_records(stream: io.StringIO) -> list[dict[str, object]]:
    """Parse the JSON log lines written to `stream`."""
    return [json.loads(line) for line in stream.getvalue().splitlines()]
