"""Column types shared by the models."""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


def utc_now() -> datetime:
    """Return the current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime, stored in UTC and always read back as an aware UTC datetime.

    PostgreSQL stores `timestamp with time zone`, which asyncpg reads back as aware UTC
    datetimes already, so values read through it are handed over as they are; SQLite has no time
    zones and stores the UTC wall-clock time as text, which therefore sorts chronologically.
    Naive datetimes are refused on the way in: their zone would be a guess.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, _dialect: Dialect) -> datetime | None:
        """Convert an aware datetime to UTC before it is stored."""
        if value is None:
            return None
        if value.tzinfo is None:
            msg = "naive datetime: give it a time zone"
            raise ValueError(msg)
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, _dialect: Dialect) -> datetime | None:
        """Return an aware UTC datetime, whatever the database handed back."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def result_processor(
        self,
        dialect: Dialect,
        coltype: Any,  # noqa: ANN401 - SQLAlchemy's signature
    ) -> Callable[[Any], datetime | None] | None:
        """Read asyncpg's values as they are (aware, in UTC); convert other drivers' values."""
        if dialect.driver == "asyncpg":
            return None
        return super().result_processor(dialect, coltype)
