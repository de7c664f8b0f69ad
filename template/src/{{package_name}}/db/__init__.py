"""Database access: the async engine, sessions and the declarative base of the models."""
