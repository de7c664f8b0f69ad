"""Errors: FastAPI's 4xx answers are kept, anything unexpected becomes a generic 500."""

import io
from typing import Annotated

import httpx
import pytest
from fastapi import FastAPI, HTTPException, Query, status

from .helpers import json_records


@pytest.fixture
def app_with_routes(app: FastAPI) -> FastAPI:
    """Add routes that validate, refuse and crash to the app."""

    @app.get("/items/{item_id}")
    async def read_item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    @app.get("/numbers")
    async def numbers(n: Annotated[list[int], Query()]) -> list[int]:
        return n

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


async def test_validation_errors_repeat_no_input(
    app_with_routes: FastAPI, client: httpx.AsyncClient
) -> None:
    """Each error names its place, type and reason, and leaves out the value that was refused."""
    resp = await client.get("/items/secret-value-42")

    [error] = resp.json()["detail"]
    assert error == {
        "type": "int_parsing",
        "loc": ["path", "item_id"],
        "msg": "Input should be a valid integer, unable to parse string as an integer",
    }
    assert "secret-value-42" not in resp.text


async def test_only_the_first_validation_errors_are_listed(
    app_with_routes: FastAPI, client: httpx.AsyncClient
) -> None:
    """Past 20 errors, the 422 lists the first 20 and counts the others."""
    resp = await client.get("/numbers", params={"n": [f"x{i}" for i in range(50)]})

    body = resp.json()
    assert resp.status_code == 422
    assert [error["loc"] for error in body["detail"]] == [["query", "n", i] for i in range(20)]
    assert body["errors_omitted"] == 30


async def test_a_few_validation_errors_are_all_listed(
    app_with_routes: FastAPI, client: httpx.AsyncClient
) -> None:
    """Under the cap, every error is listed and nothing is said to be left out."""
    resp = await client.get("/numbers", params={"n": ["a", "b"]})

    assert len(resp.json()["detail"]) == 2
    assert "errors_omitted" not in resp.json()


async def test_long_names_in_an_error_location_are_shortened(client: httpx.AsyncClient) -> None:
    """A client's own key, however long, comes back cut to a few dozen characters."""
    key = "k" * 100_000

    resp = await client.post("/api/v1/auth/login", json={key: 1})

    extra = [e for e in resp.json()["detail"] if e["type"] == "extra_forbidden"]
    assert resp.status_code == 422
    assert len(extra[0]["loc"][1]) <= 64
    assert len(resp.content) < 4096


async def test_long_errors_are_listed_up_to_a_bounded_size(client: httpx.AsyncClient) -> None:
    """Errors as long as they can be (long non-ASCII keys) are listed up to a few KiB, no more."""
    body = {f"{i:02}" + "\U0001f600" * 1000: 1 for i in range(20)}

    resp = await client.post("/api/v1/auth/login", json=body)

    listed = resp.json()["detail"]
    assert resp.status_code == 422
    assert len(resp.content) < 4096
    assert 1 <= len(listed) < 20
    assert len(listed) + resp.json()["errors_omitted"] == 20 + 2  # and the 2 missing fields


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
