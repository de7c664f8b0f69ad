"""The floor the generated service is measured against: bare FastAPI, one route."""

from fastapi import FastAPI

app = FastAPI()


@app.get("/health")
async def health() -> dict[str, str]:
    """Answer like the generated service's liveness probe, touching nothing."""
    return {"status": "ok"}
