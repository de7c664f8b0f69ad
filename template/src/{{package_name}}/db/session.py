"""One database session per request."""

from collections.abc import AsyncIterator

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """Yield a session inside a transaction: committed on success, rolled back on any error.

    Services `flush()` when they need generated ids but never commit: the request owns the
    transaction. Use it through `SessionDep`, which ends it before the response is sent.
    """
    factory: async_sessionmaker[AsyncSession] = request.app.state.session_factory
    async with factory() as session, session.begin():
        yield session
