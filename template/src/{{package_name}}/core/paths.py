"""The paths that code outside the routers compares requests against, each written once.

The routers are declared from these names (`api/router.py`, `api/routes/auth.py`), and the rate
limits, the liveness shortcut, the host check, the security headers, the token URL of the docs and
tracing compare against them, so a path changed here moves the route and every check of it.
"""

API_PREFIX = "/api/v1"

AUTH_PREFIX = "/auth"
LOGIN_ROUTE = "/login"
TOKEN_ROUTE = "/token"  # noqa: S105 - a path, not a secret
REGISTER_ROUTE = "/register"
REFRESH_ROUTE = "/refresh"
LOGOUT_ROUTE = "/logout"
LOGOUT_ALL_ROUTE = "/logout-all"
PASSWORD_RESET_ROUTE = "/password-reset"  # noqa: S105 - a path, not a password
PASSWORD_RESET_CONFIRM_ROUTE = f"{PASSWORD_RESET_ROUTE}/confirm"
VERIFY_EMAIL_ROUTE = "/verify-email"
USERS_PREFIX = "/users"
ME_ROUTE = "/me"
PASSWORD_ROUTE = f"{ME_ROUTE}/password"
VERIFICATION_ROUTE = f"{ME_ROUTE}/verification"
ADMIN_PREFIX = "/admin"
ADMIN_USERS_ROUTE = "/users"
ADMIN_USER_ROUTE = "/users/{user_id}"

LOGIN_PATH = f"{API_PREFIX}{AUTH_PREFIX}{LOGIN_ROUTE}"
TOKEN_PATH = f"{API_PREFIX}{AUTH_PREFIX}{TOKEN_ROUTE}"
REGISTER_PATH = f"{API_PREFIX}{AUTH_PREFIX}{REGISTER_ROUTE}"
REFRESH_PATH = f"{API_PREFIX}{AUTH_PREFIX}{REFRESH_ROUTE}"
PASSWORD_PATH = f"{API_PREFIX}{USERS_PREFIX}{PASSWORD_ROUTE}"
PASSWORD_RESET_PATH = f"{API_PREFIX}{AUTH_PREFIX}{PASSWORD_RESET_ROUTE}"
PASSWORD_RESET_CONFIRM_PATH = f"{API_PREFIX}{AUTH_PREFIX}{PASSWORD_RESET_CONFIRM_ROUTE}"
VERIFY_EMAIL_PATH = f"{API_PREFIX}{AUTH_PREFIX}{VERIFY_EMAIL_ROUTE}"
VERIFICATION_PATH = f"{API_PREFIX}{USERS_PREFIX}{VERIFICATION_ROUTE}"
#: Where browsers send the refresh cookie back: the refresh and logout routes, nothing else.
REFRESH_COOKIE_PATH = f"{API_PREFIX}{AUTH_PREFIX}"

LIVENESS_PATH = "/healthz/live"
READINESS_PATH = "/healthz/ready"
#: The orchestrators' probes: they call by `localhost` or a pod address, never the public name.
PROBE_PATHS = frozenset({LIVENESS_PATH, READINESS_PATH})

METRICS_PATH = "/metrics"

DOCS_PATH = "/docs"
DOCS_OAUTH2_REDIRECT_PATH = f"{DOCS_PATH}/oauth2-redirect"
REDOC_PATH = "/redoc"
OPENAPI_PATH = "/openapi.json"
#: The HTML pages of the API documentation, which load scripts and styles.
DOCS_PAGES = frozenset({DOCS_PATH, DOCS_OAUTH2_REDIRECT_PATH, REDOC_PATH})

#: Pages of the team's web front end that the e-mails link to, under PUBLIC_BASE_URL. The token
#: follows in the fragment (`#token=...`), which browsers never send to a server or in a Referer.
RESET_PASSWORD_PAGE = "/reset-password"  # noqa: S105 - a path, not a password
VERIFY_EMAIL_PAGE = "/verify-email"
