"""Helpers shared by the tests."""

import io
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI


@asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Run the app's lifespan and yield a client that talks to it in-process.

    Unhandled exceptions come back as the 500 response the app sends, as a server would see it.
    """
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


def json_records(stream: io.StringIO) -> list[dict[str, object]]:
    """Parse the JSON log lines written to `stream`."""
    return [json.loads(line) for line in stream.getvalue().splitlines()]
