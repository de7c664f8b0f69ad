"""Ids are never handed out twice, and every user has a token version.

Revision ID: 085ab5212856
Revises: 7c0a5e2d9f14
Create Date: 2026-12-06 09:00:00

On SQLite, a table without AUTOINCREMENT gives the id of its newest row, once that row is deleted,
to the next row: a deleted user's id went to the next registrant. SQLite cannot add AUTOINCREMENT
to a table, so both tables are rebuilt with it, their rows kept. PostgreSQL's sequences never hand
out an id twice: there the upgrade only adds the column.

The ids handed out before the upgrade and deleted since are known nowhere. So on SQLite the next
id of a table that holds rows is set ID_MARGIN past its largest id: none of them comes back.
Access tokens issued before the upgrade carry no token version and are refused: users sign in
again.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "085ab5212856"
down_revision: str | Sequence[str] | None = "7c0a5e2d9f14"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: How far past its largest id a populated table's next id starts on SQLite.
ID_MARGIN = 1_000_000


def upgrade() -> None:
    """Add users.token_version; on SQLite, rebuild both tables with AUTOINCREMENT."""
    token_version = sa.Column(
        "token_version", sa.Integer(), server_default=sa.text("0"), nullable=False
    )
    if op.get_context().dialect.name != "sqlite":
        op.add_column("users", token_version)
        return
    autoincrement = {"sqlite_autoincrement": True}
    with op.batch_alter_table(
        "users", recreate="always", copy_from=_users(), table_kwargs=autoincrement
    ) as batch:
        batch.add_column(token_version)
    with op.batch_alter_table(
        "tasks", recreate="always", copy_from=_tasks(), table_kwargs=autoincrement
    ):
        pass
    # Copying the rows recorded each table's largest id in sqlite_sequence.
    for table in ("users", "tasks"):
        op.execute(
            f"UPDATE sqlite_sequence SET seq = seq + {ID_MARGIN} "  # noqa: S608 - constants only
            f"WHERE name = '{table}' AND EXISTS (SELECT 1 FROM {table})"
        )


def downgrade() -> None:
    """Drop users.token_version; on SQLite, rebuild both tables without AUTOINCREMENT."""
    if op.get_context().dialect.name != "sqlite":
        op.drop_column("users", "token_version")
        return
    with op.batch_alter_table("tasks", recreate="always", copy_from=_tasks()):
        pass
    users = _users()
    users.append_column(sa.Column("token_version", sa.Integer(), nullable=False))
    with op.batch_alter_table("users", recreate="always", copy_from=users) as batch:
        batch.drop_column("token_version")


def _users() -> sa.Table:
    """Return the users table as the initial schema created it."""
    return sa.Table(
        "users",
        sa.MetaData(),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("username", sa.String(length=32), nullable=False),
        sa.Column("hashed_password", sa.String(length=255), nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("email", name="uq_users_email"),
        sa.UniqueConstraint("username", name="uq_users_username"),
    )


def _tasks() -> sa.Table:
    """Return the tasks table as the initial schema created it."""
    return sa.Table(
        "tasks",
        sa.MetaData(),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="todo", nullable=False),
        sa.Column("priority", sa.String(length=16), server_default="medium", nullable=False),
        sa.Column("due_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name="fk_tasks_owner_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_tasks"),
        sa.CheckConstraint(
            "status IN ('todo', 'in_progress', 'done')", name="ck_tasks_task_status"
        ),
        sa.CheckConstraint("priority IN ('low', 'medium', 'high')", name="ck_tasks_task_priority"),
        sa.Index("ix_tasks_owner_id_created_at", "owner_id", "created_at"),
        sa.Index("ix_tasks_owner_id_status", "owner_id", "status"),
        sa.Index("ix_tasks_owner_id_priority", "owner_id", "priority"),
        sa.Index("ix_tasks_owner_id_due_date", "owner_id", "due_date"),
    )
