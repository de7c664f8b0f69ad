"""Logging in: credentials and the access token."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class LoginRequest(BaseModel):
    """Credentials sent as JSON. No password policy here: the stored hash decides."""

    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1)
    password: str = Field(min_length=1)


class Token(BaseModel):
    """A bearer access token, for the `Authorization: Bearer <token>` header."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the token type, not a secret
