"""SQLAlchemy models, all derived from `db.base.Base`.

Every model is imported here, so that importing this package fills `Base.metadata`: Alembic
compares the database against it.
"""

from .task import Task, TaskPriority, TaskStatus
from .user import User

__all__ = ["Task", "TaskPriority", "TaskStatus", "User"]
