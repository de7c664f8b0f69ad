"""The lean reference: the service's task list and task creation, written by hand.

Plain FastAPI with no ORM and no middleware: asyncpg (one pool per worker, made in the lifespan),
PyJWT and orjson. It serves the service's own database and does the work the service does for
these two endpoints, and no more:

- the bearer token is checked as the service checks it (an HS256 signature with SECRET_KEY, the
  expiry, the `sub`, `ver`, `exp` and `iat` claims, a decimal user id in range, an integer
  version), then the user's row is read: it must exist, be active and carry the token's version;
- `GET /api/v1/tasks` counts the user's tasks and reads one page of them in the service's default
  order (newest first, ties by id), and answers the service's JSON;
- `POST /api/v1/tasks` validates the body with the service's limits, inserts the task and
  answers 201 with it.

Each statement runs on its own (no BEGIN and COMMIT around them, no ping of the connection):
whatever the service spends beyond the same statements counts against it.
"""

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Final

import asyncpg
import jwt
import orjson
from fastapi import FastAPI, Header, Query, Request, Response, status
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

#: Ids are 32-bit integers (SERIAL): a token naming a larger one names no user.
MAX_ID: Final = 2**31 - 1
REQUIRED_CLAIMS: Final = ["sub", "ver", "exp", "iat"]
MAX_PAGE_SIZE: Final = 100
MAX_OFFSET: Final = 1_000_000
TITLE_MAX_LENGTH: Final = 200
DESCRIPTION_MAX_LENGTH: Final = 10_000
#: The service's pool: DB_POOL_SIZE (10) connections per worker, no overflow.
POOL_MIN_SIZE: Final = 10
POOL_MAX_SIZE: Final = 10

USER_QUERY: Final = (
    "SELECT id, email, username, hashed_password, is_active, token_version, created_at"
    " FROM users WHERE id = $1"
)
COUNT_QUERY: Final = "SELECT count(*) FROM tasks WHERE owner_id = $1"
PAGE_QUERY: Final = (
    "SELECT id, title, description, status, priority, due_date, created_at, updated_at, owner_id"
    " FROM tasks WHERE owner_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3"
)
INSERT_QUERY: Final = (
    "INSERT INTO tasks"
    " (title, description, status, priority, due_date, created_at, updated_at, owner_id)"
    " VALUES ($1, $2, $3, $4, $5, $6, $6, $7)"
    " RETURNING id, title, description, status, priority, due_date, created_at, updated_at,"
    " owner_id"
)


class TaskStatus(StrEnum):
    """Where a task stands."""

    TODO = "todo"
    IN_PROGRESS = "in_progress"
    DONE = "done"


class TaskPriority(StrEnum):
    """How urgent a task is."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


def _without_nul(text: str) -> str:
    """Refuse NUL characters, which PostgreSQL cannot store in text."""
    if "\x00" in text:
        msg = "must not contain NUL characters"
        raise ValueError(msg)
    return text


def _in_utc(moment: datetime) -> datetime:
    """Return `moment` in UTC."""
    try:
        return moment.astimezone(UTC)
    except OverflowError as exc:
        msg = "is out of range once converted to UTC"
        raise ValueError(msg) from exc


class TaskCreate(BaseModel):
    """A new task, with the service's limits: only the title is required."""

    model_config = ConfigDict(extra="forbid")

    title: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=TITLE_MAX_LENGTH),
        AfterValidator(_without_nul),
    ]
    description: (
        Annotated[str, Field(max_length=DESCRIPTION_MAX_LENGTH), AfterValidator(_without_nul)]
        | None
    ) = None
    status: TaskStatus = TaskStatus.TODO
    priority: TaskPriority = TaskPriority.MEDIUM
    due_date: Annotated[AwareDatetime, AfterValidator(_in_utc)] | None = None


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[dict[str, Any]]:
    """Open this worker's connection pool to the service's database; close it at the end."""
    pool = await asyncpg.create_pool(
        os.environ["DATABASE_URL"], min_size=POOL_MIN_SIZE, max_size=POOL_MAX_SIZE
    )
    try:
        yield {"pool": pool, "secret_key": os.environ["SECRET_KEY"]}
    finally:
        await pool.close()


app = FastAPI(lifespan=lifespan)


def _json(content: object, status_code: int = status.HTTP_200_OK) -> Response:
    """Answer `content` as JSON, times in UTC with a `Z`, as pydantic writes them."""
    body = orjson.dumps(content, option=orjson.OPT_UTC_Z)
    return Response(body, status_code=status_code, media_type="application/json")


def _unauthorized() -> Response:
    """Answer a missing, bad or revoked token as the service does."""
    response = _json({"detail": "Could not validate credentials"}, status.HTTP_401_UNAUTHORIZED)
    response.headers["WWW-Authenticate"] = "Bearer"
    return response


def _claims(authorization: str | None, secret_key: str) -> tuple[int, int] | None:
    """Return the user id and token version a valid bearer token carries; None for any other."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    try:
        claims = jwt.decode(
            token, secret_key, algorithms=["HS256"], options={"require": REQUIRED_CLAIMS}
        )
    except jwt.InvalidTokenError:
        return None
    subject: str = claims["sub"]
    if not (subject.isascii() and subject.isdecimal()) or not 1 <= int(subject) <= MAX_ID:
        return None
    version = claims["ver"]
    if type(version) is not int:
        return None
    return int(subject), version


async def _current_user(
    connection: asyncpg.Connection, authorization: str | None, secret_key: str
) -> asyncpg.Record | None:
    """Return the active user a valid token of their current version names; else None."""
    claims = _claims(authorization, secret_key)
    if claims is None:
        return None
    user_id, version = claims
    user = await connection.fetchrow(USER_QUERY, user_id)
    if user is None or not user["is_active"] or user["token_version"] != version:
        return None
    return user


@app.get("/api/v1/tasks")
async def list_tasks(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 20,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    authorization: Annotated[str | None, Header()] = None,
) -> Response:
    """One page of the user's tasks, newest first, and how many they have."""
    async with request.state.pool.acquire() as connection:
        user = await _current_user(connection, authorization, request.state.secret_key)
        if user is None:
            return _unauthorized()
        total = await connection.fetchval(COUNT_QUERY, user["id"])
        rows = await connection.fetch(PAGE_QUERY, user["id"], limit, offset)
    items = [dict(row) for row in rows]
    return _json({"items": items, "total": total, "limit": limit, "offset": offset})


@app.post("/api/v1/tasks", status_code=status.HTTP_201_CREATED)
async def create_task(
    request: Request, data: TaskCreate, authorization: Annotated[str | None, Header()] = None
) -> Response:
    """Create a task for the user; it was last updated when it was created."""
    async with request.state.pool.acquire() as connection:
        user = await _current_user(connection, authorization, request.state.secret_key)
        if user is None:
            return _unauthorized()
        task = await connection.fetchrow(
            INSERT_QUERY,
            data.title,
            data.description,
            data.status.value,
            data.priority.value,
            data.due_date,
            datetime.now(UTC),
            user["id"],
        )
    return _json(dict(task), status.HTTP_201_CREATED)
