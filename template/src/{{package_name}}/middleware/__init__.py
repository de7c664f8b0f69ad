"""Pure ASGI middleware: request ids and the access log."""
