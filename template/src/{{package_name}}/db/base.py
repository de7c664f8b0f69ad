"""Declarative base of the models.

Constraint names follow one convention so that Alembic migrations name (and can later drop) them
the same way on every database.
"""

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

# Primary keys are 32-bit integers (SERIAL on PostgreSQL): anything larger names no row, and is
# refused before it reaches the database.
MAX_ID = 2**31 - 1

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Base class of every model; its metadata is what Alembic compares against."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
