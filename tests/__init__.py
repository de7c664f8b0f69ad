"""The template's tests: renders of every answer set, checked by their own tools and run."""
