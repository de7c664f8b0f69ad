"""Cross-cutting pieces: settings, logging, request context and error handling."""
