"""The body of error responses, for the API documentation."""

from pydantic import BaseModel


class ErrorDetail(BaseModel):
    """An error answered by the service: `{"detail": "..."}`."""

    detail: str
