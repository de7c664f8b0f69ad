"""The versioned API: every resource router is included here."""

from fastapi import APIRouter

api_router = APIRouter(prefix="/api/v1")

# Resource routers are included here, one per resource: each lives in its own module under
# `api/routes/`, declares `router = APIRouter(prefix="/tasks", tags=["tasks"])` and is added below
# with `api_router.include_router(tasks.router)`.
