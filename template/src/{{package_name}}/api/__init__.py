"""The HTTP layer: dependencies, routers and routes."""
