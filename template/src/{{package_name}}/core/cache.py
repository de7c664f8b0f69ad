"""A small cache interface, so that routes and services read the same in every build.

The Redis feature contributes a `RedisCache`, which keeps entries for CACHE_TTL_SECONDS; without
it the cache of `Resources` is `NullCache`, which remembers nothing. A cache never fails a
request: an implementation logs its own errors and answers like a miss, and the caller then asks
the database.
"""

from typing import Protocol


class Cache(Protocol):
    """Text values under string keys, which expire after the time to live of the cache."""

    async def get(self, key: str) -> str | None:
        """Return the value under `key`, or None on a miss (or when the cache is down)."""
        ...

    async def set(self, key: str, value: str) -> None:
        """Store `value` under `key`, for the time to live the cache was configured with."""
        ...

    async def delete(self, key: str) -> None:
        """Forget `key`."""
        ...


class NullCache:
    """The cache of a service without Redis: every read is a miss, every write is dropped."""

    async def get(self, key: str) -> str | None:
        """Miss."""
        del key
        return None

    async def set(self, key: str, value: str) -> None:
        """Drop the value."""
        del key, value

    async def delete(self, key: str) -> None:
        """Nothing to forget."""
        del key
