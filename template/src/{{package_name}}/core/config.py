"""Settings read from the environment and from `.env`.

Every variable is documented in `.env.example`. Build `Settings` through `get_settings()`, which
reads them once per process; tests pass their own `Settings` to `create_app()` instead.
"""

import json
import logging
import secrets
from collections import Counter
from functools import lru_cache
from typing import Annotated, Any, Literal, Self, TypeVar
from urllib.parse import urlsplit

from limits import parse
from pydantic import (
    BeforeValidator,
    Field,
    IPvAnyNetwork,
    PrivateAttr,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pydantic_settings.sources import DotenvType

logger = logging.getLogger(__name__)

_PACKAGE = __name__.partition(".")[0]

MIN_SECRET_KEY_LENGTH = 32

# A key drawn at random uses many characters, none of them much more than the others: a 64-character
# hex key has about 16 distinct characters, the most frequent under 15% of the key.
MIN_SECRET_KEY_DISTINCT_CHARACTERS = 10
MAX_SECRET_KEY_CHARACTER_SHARE = 0.25
NEW_KEY_COMMAND = 'python -c "import secrets; print(secrets.token_urlsafe(48))"'

# The settings file read from the working directory. It holds SECRET_KEY: keep it mode 0600.
ENV_FILE = ".env"

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


MEBIBYTE = 1024 * 1024

# Where every settings class reads from: the environment, then `.env`.
_SOURCES = SettingsConfigDict(
    env_file=ENV_FILE,
    env_file_encoding="utf-8",
    extra="ignore",
    # Validation errors must not print the values: SECRET_KEY is one of them.
    hide_input_in_errors=True,
)


def split_list(value: object) -> object:
    """Accept `a,b,c` (and a JSON array) for a list variable."""
    if not isinstance(value, str):
        return value
    if value.lstrip().startswith("["):
        return json.loads(value)
    return [item.strip() for item in value.split(",") if item.strip()]


# Lists come from the environment as `a,b,c`: NoDecode stops pydantic-settings parsing them as JSON.
CommaSeparated = Annotated[list[str], NoDecode, BeforeValidator(split_list)]
# Addresses and networks, e.g. `10.0.0.0/8,192.168.1.7`: a bare address is a network of one.
Networks = Annotated[list[IPvAnyNetwork], NoDecode, BeforeValidator(split_list)]


class FeatureSettings(BaseSettings):
    """The settings of one optional feature, declared in the feature's own module.

    A render has a feature's settings only when it has the feature, so it reads (and
    `.env.example` lists) only what it uses. Read them with `Settings.of()`.
    """

    model_config = _SOURCES


FeatureSettingsT = TypeVar("FeatureSettingsT", bound=FeatureSettings)


class Settings(BaseSettings):
    """Configuration of the service; unsafe production values are refused."""

    model_config = _SOURCES
    _env_file_read: DotenvType | None = PrivateAttr(default=ENV_FILE)

    def __init__(self, **values: Any) -> None:  # noqa: ANN401 - pydantic-settings' arguments
        """Read the settings; `_env_file=None` (as tests pass) reads the environment only."""
        super().__init__(**values)
        self._env_file_read = values.get("_env_file", ENV_FILE)

    def of(self, feature: type[FeatureSettingsT]) -> FeatureSettingsT:
        """Read an optional feature's settings from the sources these were read from."""
        return feature(_env_file=self._env_file_read)

    ENVIRONMENT: Literal["development", "production"] = "development"
    DEBUG: bool = False
    # /docs, /redoc and /openapi.json. Unset: on in development, off in production.
    DOCS_ENABLED: bool | None = None

    # Left out of the settings' repr: it holds the database password.
    DATABASE_URL: str = Field(default=f"sqlite+aiosqlite:///./data/{_PACKAGE}.db", repr=False)
    # Per worker: 5 workers (2 CPUs) x 10 leave room in PostgreSQL's 100 connections. No overflow:
    # the pool closes an overflow connection as soon as it is returned, so under steady load each
    # request above the pool size would open a new connection (a new PostgreSQL backend).
    DB_POOL_SIZE: int = Field(default=10, ge=1)
    DB_MAX_OVERFLOW: int = Field(default=0, ge=0)
    DB_POOL_TIMEOUT: float = Field(default=30.0, gt=0)
    DB_CONNECT_TIMEOUT: float = Field(default=5.0, gt=0)

    SECRET_KEY: SecretStr = SecretStr("")
    # Access tokens are short-lived; a session lives on through refresh tokens (docs/accounts.md).
    ACCESS_TOKEN_EXPIRE_MINUTES: int = Field(default=15, ge=1)
    # A refresh token not exchanged within this many days expires; its session then ends.
    REFRESH_TOKEN_EXPIRE_DAYS: int = Field(default=14, ge=1)
    # A session ends this many days after its login, however often it is refreshed.
    SESSION_MAX_AGE_DAYS: int = Field(default=90, ge=1)
    # Password hashes that run at once in a worker (each holds 64 MiB), and how long a caller
    # waits for a free slot before the answer is 503.
    PASSWORD_HASH_CONCURRENCY: int = Field(default=2, ge=1)
    PASSWORD_HASH_WAIT_SECONDS: float = Field(default=5.0, gt=0)

    ALLOWED_HOSTS: CommaSeparated = ["*"]
    CORS_ORIGINS: CommaSeparated = []
    CORS_ALLOW_CREDENTIALS: bool = True

    LOG_LEVEL: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    LOG_FORMAT: Literal["json", "text"] = "json"

    HEALTH_CHECK_TIMEOUT: float = Field(default=2.0, gt=0)

    # Requests: body size, compression, rate limits, and the proxies whose X-Forwarded-For counts.
    MAX_BODY_SIZE: int = Field(default=MEBIBYTE, ge=1)
    GZIP_ENABLED: bool = True
    RATE_LIMIT_ENABLED: bool = True
    RATE_LIMIT_DEFAULT: str = "100/minute"
    RATE_LIMIT_LOGIN: str = "5/minute"
    RATE_LIMIT_REGISTER: str = "5/hour"
    RATE_LIMIT_REFRESH: str = "30/minute"
    RATE_LIMIT_PASSWORD: str = "5/minute"  # noqa: S105 - a rate, not a password
    # Per account, whatever the client: failed logins per username, refreshes and failed password
    # changes per user. It stops guessing spread over many addresses (docs/accounts.md).
    RATE_LIMIT_ACCOUNT: str = "30/hour"
    # Password-reset requests and confirmations, and address verifications, per client.
    RATE_LIMIT_RESET: str = "5/minute"
    # E-mails per address (reset links) or per user (verification links), whatever the client.
    RATE_LIMIT_MAIL: str = "5/hour"
    TRUSTED_PROXIES: Networks = []

    # Where users reach the service: links in e-mails start with it, never with a request's Host.
    PUBLIC_BASE_URL: str = "http://localhost:8000"
    # Unverified users may log in and read, but not create or change tasks (docs/accounts.md).
    EMAIL_VERIFICATION: bool = False
    PASSWORD_RESET_EXPIRE_MINUTES: int = Field(default=30, ge=1, le=24 * 60)
    EMAIL_VERIFICATION_EXPIRE_HOURS: int = Field(default=48, ge=1)
    # `console` writes each e-mail to the log (development only); `smtp` sends it.
    EMAIL_BACKEND: Literal["console", "smtp"] = "console"
    EMAIL_FROM: str = f"{_PACKAGE} <no-reply@localhost>"
    SMTP_HOST: str = "localhost"
    SMTP_PORT: int = Field(default=587, ge=1, le=65535)
    # `starttls` upgrades a plain connection (port 587), `tls` starts with TLS (465), `none` is
    # for a relay on the same host or network only.
    SMTP_SECURITY: Literal["starttls", "tls", "none"] = "starttls"
    SMTP_USERNAME: str = ""
    SMTP_PASSWORD: SecretStr = SecretStr("")
    SMTP_TIMEOUT: float = Field(default=10.0, gt=0)

    @field_validator(
        "RATE_LIMIT_DEFAULT",
        "RATE_LIMIT_LOGIN",
        "RATE_LIMIT_REGISTER",
        "RATE_LIMIT_REFRESH",
        "RATE_LIMIT_PASSWORD",
        "RATE_LIMIT_ACCOUNT",
        "RATE_LIMIT_RESET",
        "RATE_LIMIT_MAIL",
    )
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        """Accept one limit in the notation of `limits`: `5/minute`, `100 per hour`, `2/second`."""
        try:
            parse(value)
        except ValueError as exc:
            msg = 'must look like "5/minute" or "100 per hour"'
            raise ValueError(msg) from exc
        return value

    @field_validator("LOG_LEVEL", mode="before")
    @classmethod
    def _upper_case(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("ENVIRONMENT", "LOG_FORMAT", mode="before")
    @classmethod
    def _lower_case(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("PUBLIC_BASE_URL")
    @classmethod
    def _base_url(cls, value: str) -> str:
        """Accept an http(s) URL without query or fragment; drop a trailing slash."""
        url = urlsplit(value.strip())
        if url.scheme not in {"http", "https"} or not url.hostname or url.query or url.fragment:
            msg = "PUBLIC_BASE_URL must look like https://tasks.example.com (a path may follow)"
            raise ValueError(msg)
        return value.strip().rstrip("/")

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
        elif not looks_random(self.SECRET_KEY.get_secret_value()):
            logger.warning(
                "INSECURE: %s. Anyone who guesses the key can forge a token for any user; "
                "production refuses to start with it",
                _NOT_RANDOM,
            )
        return self

    @model_validator(mode="after")
    def _check_cors(self) -> Self:
        """Refuse to let every origin send the user's credentials (cookies, HTTP auth)."""
        if "*" in self.CORS_ORIGINS and self.CORS_ALLOW_CREDENTIALS:
            msg = (
                "CORS_ORIGINS=* cannot be combined with credentials: list the origins that may "
                "call the API (CORS_ORIGINS=https://app.example.com), or set "
                "CORS_ALLOW_CREDENTIALS=false for a public API"
            )
            raise ValueError(msg)
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
        elif not looks_random(secret_key):
            problems.append(_NOT_RANDOM)
        if self.DEBUG:
            problems.append("DEBUG must be false")
        return problems

    @property
    def is_production(self) -> bool:
        """Whether the service runs in production."""
        return self.ENVIRONMENT == "production"

    def mail_problems(self) -> list[str]:
        """Say what keeps e-mails, in production, from reaching users or linking to them safely.

        The service still starts (the lifespan logs each one): accounts work without e-mail.
        """
        if not self.is_production:
            return []
        problems = []
        if self.EMAIL_BACKEND == "console":
            problems.append(
                "EMAIL_BACKEND=console in production: no e-mail is sent (no password reset, no "
                "verification); set EMAIL_BACKEND=smtp and the SMTP_* settings"
            )
        if not self.PUBLIC_BASE_URL.startswith("https://"):
            problems.append(
                f"PUBLIC_BASE_URL is {self.PUBLIC_BASE_URL}: e-mailed links should use the "
                "https:// address users open"
            )
        return problems

    @property
    def docs_enabled(self) -> bool:
        """Whether /docs, /redoc and /openapi.json are served: DOCS_ENABLED, else development."""
        return not self.is_production if self.DOCS_ENABLED is None else self.DOCS_ENABLED


_NOT_RANDOM = (
    f"SECRET_KEY is not random (fewer than {MIN_SECRET_KEY_DISTINCT_CHARACTERS} distinct "
    f"characters, or one character over {MAX_SECRET_KEY_CHARACTER_SHARE:.0%} of it): generate "
    f"a new one with `{NEW_KEY_COMMAND}`, put it in .env and restart; tokens signed with "
    "the old key stop working"
)


def looks_random(key: str) -> bool:
    """Whether `key` has the character variety of a random draw (see the constants above)."""
    counts = Counter(key)
    varied = len(counts) >= MIN_SECRET_KEY_DISTINCT_CHARACTERS
    even = max(counts.values(), default=0) <= MAX_SECRET_KEY_CHARACTER_SHARE * len(key)
    return varied and even


@lru_cache
def get_settings() -> Settings:
    """Return the process-wide settings, read on first use."""
    return Settings()
