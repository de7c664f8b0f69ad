"""SQLAlchemy models, all derived from `db.base.Base`."""
