"""Security headers on every response: no sniffing, no framing, no referrer, a strict CSP.

The API serves JSON only, so its pages may load nothing (`default-src 'none'`). The docs pages
(Swagger UI and ReDoc) load their scripts and styles from jsDelivr and get a CSP that allows it.
HSTS is sent only on HTTPS requests: the scheme comes from the server, which takes it from
X-Forwarded-Proto when the proxy is trusted (GUNICORN_FORWARDED_ALLOW_IPS).
"""

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
DOCS_CSP = (
    "default-src 'none'; "
    "script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "font-src https://fonts.gstatic.com; "
    "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; "
    "connect-src 'self'; worker-src blob:; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'"
)
DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})
HSTS = "max-age=63072000; includeSubDomains"

_COMMON = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def security_headers(*, path: str, scheme: str) -> dict[str, str]:
    """Return the security headers of a response to a request for `path` over `scheme`."""
    headers = {
        **_COMMON,
        "Content-Security-Policy": DOCS_CSP if path in DOCS_PATHS else API_CSP,
    }
    if scheme == "https":
        headers["Strict-Transport-Security"] = HSTS
    return headers


class SecurityHeadersMiddleware:
    """Add the security headers to every HTTP response that passes through.

    The generic 500 is sent by Starlette outside every middleware: `core.errors` adds the same
    headers to it.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI call; lifespan and websocket calls pass through untouched."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = security_headers(path=scope["path"], scheme=scope["scheme"])

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in extra.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
