"""Errors: FastAPI's 4xx answers are kept, anything unexpected becomes a generic 500."""

import io

import httpx
import pytest
from fastapi import FastAPI, HTTPException, status

from .helpers import json_records


@pytest.fixture
def app_with_routes(app: FastAPI) -> FastAPI:
    """Add routes that validate, refuse and crash to the app."""

    @app.get("/items/{item_id}")
    async def read_item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    @app.get("/forbidden")
    async def forbidden() -> None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="not yours")

    @app.get("/crash")
    async def crash() -> None:
        msg = "db password=hunter2 leaked"
        raise RuntimeError(msg)

    return app


async def test_validation_error_answers_422(
    app_with_routes: FastAPI, client: httpx.AsyncClient
) -> None:
    """Invalid input answers 422 with FastAPI's usual `detail` list."""
    resp = await client.get("/items/abc")

    assert resp.status_code == 422
    [error] = resp.json()["detail"]
    assert (error["loc"], error["type"]) == (["path", "item_id"], "int_parsing")


async def test_http_exception_passes_through(
    app_with_routes: FastAPI, client: httpx.AsyncClient
) -> None:
    """An HTTPException keeps its status and detail."""
    resp = await client.get("/forbidden")

    assert resp.status_code == 403
    assert resp.json() == {"detail": "not yours"}


async def test_unknown_route_answers_404(client: httpx.AsyncClient) -> None:
    """An unknown path answers FastAPI's 404."""
    resp = await client.get("/nowhere")

    assert resp.status_code == 404
    assert resp.json() == {"detail": "Not Found"}


async def test_unexpected_error_answers_a_generic_500(
    app_with_routes: FastAPI, client: httpx.AsyncClient
) -> None:
    """An unhandled exception answers 500 with the request id and nothing about the error."""
    resp = await client.get("/crash", headers={"X-Request-ID": "req-500"})

    assert resp.status_code == 500
    assert resp.json() == {"detail": "Internal Server Error", "request_id": "req-500"}
    assert resp.headers["X-Request-ID"] == "req-500"
    assert "hunter2" not in resp.text
    assert "Traceback" not in resp.text


async def test_unexpected_error_is_logged_with_its_traceback(
    app_with_routes: FastAPI, client: httpx.AsyncClient, log_stream: io.StringIO
) -> None:
    """The 500 is logged with the traceback and the request id, for the people on call."""
    await client.get("/crash", headers={"X-Request-ID": "req-501"})

    [record] = [r for r in json_records(log_stream) if r["level"] == "ERROR"]
    assert record["request_id"] == "req-501"
    assert record["message"] == "unhandled exception on GET /crash"
    assert str(record["exception"]).endswith("RuntimeError: db password=hunter2 leaked")
