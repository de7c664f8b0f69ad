"""Settings read from the environment and from `.env`.

Every variable is documented in `.env.example`. Build `Settings` through `get_settings()`, which
reads them once per process; tests pass their own `Settings` to `create_app()` instead.
"""

import json
import logging
import secrets
from functools import lru_cache
from typing import Annotated, Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

logger = logging.getLogger(__name__)

_PACKAGE = __name__.partition(".")[0]

MIN_SECRET_KEY_LENGTH = 32

# The placeholder that `.env.example` ships with: it must never reach production.
SECRET_KEY_PLACEHOLDER = "change-me-to-a-long-random-string"  # noqa: S105 - a placeholder, not a secret

# Values that people paste into SECRET_KEY and that an attacker tries first.
KNOWN_WEAK_SECRET_KEYS = frozenset(
    {
        SECRET_KEY_PLACEHOLDER,
        "changeme",
        "change-me",
        "secret",
        "secret-key",
        "secretkey",
        "password",
        "development",
        "dev",
        "test",
    }
)

_DRIVERS = {
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
}

# Lists come from the environment as `a,b,c`: NoDecode stops pydantic-settings parsing them as JSON.
CommaSeparated = Annotated[list[str], NoDecode]


class Settings(BaseSettings):
    """Configuration of the service; unsafe production values are refused."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        # Validation errors must not print the values: SECRET_KEY is one of them.
        hide_input_in_errors=True,
    )

    ENVIRONMENT: Literal["development", "production"] = "development"
    DEBUG: bool = False
    DOCS_ENABLED: bool = True

    DATABASE_URL: str = f"sqlite+aiosqlite:///./data/{_PACKAGE}.db"
    DB_POOL_SIZE: int = Field(default=10, ge=1)
    DB_MAX_OVERFLOW: int = Field(default=20, ge=0)
    DB_POOL_TIMEOUT: float = Field(default=30.0, gt=0)

    SECRET_KEY: SecretStr = SecretStr("")
    ACCESS_TOKEN_EXPIRE_MINUTES: int = Field(default=30, ge=1)

    ALLOWED_HOSTS: CommaSeparated = ["*"]
    CORS_ORIGINS: CommaSeparated = []

    LOG_LEVEL: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    LOG_FORMAT: Literal["json", "text"] = "json"

    HEALTH_CHECK_TIMEOUT: float = Field(default=2.0, gt=0)

    @field_validator("ALLOWED_HOSTS", "CORS_ORIGINS", mode="before")
    @classmethod
    def _split_list(cls, value: object) -> object:
        """Accept `a,b,c` (and a JSON array) for the list variables."""
        if not isinstance(value, str):
            return value
        if value.lstrip().startswith("["):
            return json.loads(value)
        return [item.strip() for item in value.split(",") if item.strip()]

    @field_validator("LOG_LEVEL", mode="before")
    @classmethod
    def _upper_case(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("ENVIRONMENT", "LOG_FORMAT", mode="before")
    @classmethod
    def _lower_case(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("DATABASE_URL")
    @classmethod
    def _use_async_driver(cls, value: str) -> str:
        """Point `postgres://`, `postgresql://` and `sqlite://` at their async drivers."""
        scheme, separator, rest = value.partition("://")
        if not separator:
            msg = "DATABASE_URL must look like postgresql://user:password@host:5432/name"
            raise ValueError(msg)
        return f"{_DRIVERS.get(scheme, scheme)}://{rest}"

    @model_validator(mode="after")
    def _check_secrets(self) -> Self:
        if self.ENVIRONMENT == "production":
            problems = self._production_problems()
            if problems:
                msg = "refusing to start in production: " + "; ".join(problems)
                raise ValueError(msg)
        elif not self.SECRET_KEY.get_secret_value():
            logger.warning(
                "SECRET_KEY is not set: using a random key for this process only; "
                "tokens will not survive a restart"
            )
            self.SECRET_KEY = SecretStr(secrets.token_urlsafe(48))
        return self

    def _production_problems(self) -> list[str]:
        problems = []
        secret_key = self.SECRET_KEY.get_secret_value()
        if not secret_key:
            problems.append("SECRET_KEY is not set")
        elif secret_key.strip().lower() in KNOWN_WEAK_SECRET_KEYS:
            problems.append("SECRET_KEY is a known default value")
        elif len(secret_key) < MIN_SECRET_KEY_LENGTH:
            problems.append(f"SECRET_KEY must be at least {MIN_SECRET_KEY_LENGTH} characters")
        if self.DEBUG:
            problems.append("DEBUG must be false")
        return problems

    @property
    def is_production(self) -> bool:
        """Whether the service runs in production."""
        return self.ENVIRONMENT == "production"


@lru_cache
def get_settings() -> Settings:
    """Return the process-wide settings, read on first use."""
    return Settings()
