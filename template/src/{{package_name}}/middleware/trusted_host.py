"""Refuse unknown Host headers with 400, except on the probes of orchestrators."""

from collections.abc import Collection, Sequence

from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

# Container and Kubernetes probes call the service by `localhost` or the pod's IP address.
PROBE_PATHS = frozenset({"/healthz/live", "/healthz/ready"})


class HostCheckMiddleware:
    """Starlette's TrustedHostMiddleware for every path but `exempt_paths`."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        allowed_hosts: Sequence[str],
        exempt_paths: Collection[str] = PROBE_PATHS,
    ) -> None:
        self.app = app
        self.checked = TrustedHostMiddleware(app, allowed_hosts=allowed_hosts)
        self.exempt_paths = frozenset(exempt_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Skip the check for the exempt paths; check every other HTTP request."""
        if scope["type"] == "http" and scope["path"] in self.exempt_paths:
            await self.app(scope, receive, send)
            return
        await self.checked(scope, receive, send)
