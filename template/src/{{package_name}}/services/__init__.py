"""Business logic: keyword-only async functions that take the session they work in."""
