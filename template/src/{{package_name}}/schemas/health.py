"""Responses of the health endpoints."""

from typing import Literal

from pydantic import BaseModel


class CheckResult(BaseModel):
    """Outcome of one dependency check."""

    status: Literal["ok", "error"]
    latency_ms: float
    error: str | None = None


class Health(BaseModel):
    """Overall health: degraded when any dependency check fails."""

    status: Literal["ok", "degraded"]
    uptime_seconds: float
    version: str
    checks: dict[str, CheckResult]


class Readiness(BaseModel):
    """Whether the instance can take traffic; the lists of checks are given when it cannot."""

    status: Literal["ready", "not_ready"]
    failing: list[str] | None = None
    ok: list[str] | None = None


class Status(BaseModel):
    """A bare status answer."""

    status: Literal["ok"] = "ok"
