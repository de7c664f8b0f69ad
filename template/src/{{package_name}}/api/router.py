"""The versioned API: every resource router is included here."""

from fastapi import APIRouter

api_router = APIRouter(prefix="/api/v1")

# Resource routers: one module per resource under `api/routes/`, each with its own prefix and tags,
# e.g. `router = APIRouter(prefix="/tasks", tags=["tasks"])`, included below:
#
#     api_router.include_router(tasks.router)
