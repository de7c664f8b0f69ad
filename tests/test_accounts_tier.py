"""Run tier: accounts and sessions over real HTTPS, through nginx and its tls.conf.

The default preset served for real (PostgreSQL, Redis, gunicorn with 2 workers) behind Debian's
nginx with both rendered server blocks, TLS on a self-signed certificate that the clients verify.
A browser keeps its refresh token in the `Secure` cookie, which is only sent back over HTTPS, so
that flow is driven here through the real TLS front door; a non-browser client keeps it itself.
"""

from __future__ import annotations

import secrets
import ssl
from http.cookies import SimpleCookie
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.support.stack import Stack, package_of, running_stack
from tests.support.tools import run
from tests.support.variants import presets

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.support.render import Renderer

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("accounts-tier")]

PRESET = next(v for v in presets() if v.id == "default")
REGISTER = "/api/v1/auth/register"
LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"
PASSWORD = "/api/v1/users/me/password"  # noqa: S105 - a path
ME = "/api/v1/users/me"
COOKIE = "__Secure-refresh_token"
BROWSER = {"X-Refresh-Token": "cookie"}
PASS = "Tidal-Orchard-58"  # noqa: S105 - a test account's password
NEW_PASS = "Granite-Kettle-93"  # noqa: S105 - a test account's password


@pytest.fixture(scope="module")
def stack(renderer: Renderer) -> Iterator[Stack]:
    """Yield the default preset serving behind nginx on HTTP and HTTPS."""
    project = renderer.installed(PRESET.answers)
    with running_stack(project, PRESET.answers, tls=True) as running:
        yield running


def https(stack: Stack, address: str) -> httpx.Client:
    """Return a client of nginx's HTTPS server that verifies its certificate.

    Its connections come from `address` (of 127.0.0.0/8): each test is a client of its own, with
    its own per-client limits.
    """
    assert stack.secure_url is not None
    assert stack.certificate is not None
    trusted = ssl.create_default_context(cafile=stack.certificate)
    transport = httpx.HTTPTransport(verify=trusted, local_address=address)
    return httpx.Client(base_url=stack.secure_url, transport=transport, timeout=30)


def register(client: httpx.Client) -> str:
    """Register a new user; return the username."""
    name = f"u{secrets.token_hex(6)}"
    body = {"email": f"{name}@example.com", "username": name, "password": PASS}
    resp = client.post(REGISTER, json=body)
    assert resp.status_code == 201, resp.text
    return name


def bearer(resp: httpx.Response) -> dict[str, str]:
    """Return the Authorization header of the access token in `resp`."""
    return {"Authorization": f"Bearer {resp.json()['access_token']}"}


def refresh_cookie(resp: httpx.Response) -> SimpleCookie:
    """Return the refresh cookie that `resp` sets."""
    cookie = SimpleCookie()
    cookie.load(resp.headers["set-cookie"])
    return cookie


def test_a_browser_session_lives_in_a_secure_cookie_over_https(stack: Stack) -> None:
    """Login sets the cookie through nginx's TLS; refreshes spend it; a replay kills the session."""
    with https(stack, "127.0.0.21") as browser:
        name = register(browser)
        login = browser.post(LOGIN, json={"username": name, "password": PASS}, headers=BROWSER)
        first = refresh_cookie(login)[COOKIE]
        refreshed = browser.post(REFRESH, headers=BROWSER)
        second = refresh_cookie(refreshed)[COOKIE]
        me = browser.get(ME, headers=bearer(refreshed))
        with https(stack, "127.0.0.22") as thief:
            thief.cookies.set(COOKIE, first.value, domain="127.0.0.1", path="/api/v1/auth")
            replay = thief.post(REFRESH, headers=BROWSER)
        after_replay = browser.post(REFRESH, headers=BROWSER)
        still = browser.get(ME, headers=bearer(refreshed))

    assert login.status_code == 200, login.text
    assert (first["secure"], first["httponly"], first["samesite"]) == (True, True, "strict")
    assert login.json()["refresh_token"] is None
    assert first.value not in login.text
    assert refreshed.status_code == 200, refreshed.text
    assert second.value != first.value
    assert me.json()["username"] == name
    assert replay.status_code == 401
    assert after_replay.status_code == 401
    assert still.status_code == 401


def test_a_client_session_rotates_and_a_password_change_ends_it(stack: Stack) -> None:
    """Body tokens: refresh, reuse kills the family, a password change kills every token."""
    with https(stack, "127.0.0.23") as client:
        name = register(client)
        credentials = {"username": name, "password": PASS}
        stolen = client.post(LOGIN, json=credentials).json()
        rotated = client.post(REFRESH, json={"refresh_token": stolen["refresh_token"]})
        reuse = client.post(REFRESH, json={"refresh_token": stolen["refresh_token"]})
        family = client.post(REFRESH, json={"refresh_token": rotated.json()["refresh_token"]})

        second = client.post(LOGIN, json=credentials)
        change = {"current_password": PASS, "new_password": NEW_PASS}
        changed = client.post(PASSWORD, json=change, headers=bearer(second))
        old_access = client.get(ME, headers=bearer(second))
        old_refresh = client.post(REFRESH, json={"refresh_token": second.json()["refresh_token"]})
        old_password = client.post(LOGIN, json=credentials)
        new_login = client.post(LOGIN, json={"username": name, "password": NEW_PASS})
        logout = client.post(LOGOUT, headers=bearer(new_login))
        after_logout = client.get(ME, headers=bearer(new_login))

    assert rotated.status_code == 200, rotated.text
    assert (reuse.status_code, family.status_code) == (401, 401)
    assert changed.status_code == 204, changed.text
    assert (old_access.status_code, old_refresh.status_code) == (401, 401)
    assert old_password.status_code == 401
    assert new_login.status_code == 200, new_login.text
    assert (logout.status_code, after_logout.status_code) == (204, 401)


def test_hsts_is_sent_over_https_only(stack: Stack) -> None:
    """The TLS server sends Strict-Transport-Security; nginx's plain HTTP server never does."""
    with https(stack, "127.0.0.24") as secure, httpx.Client(base_url=stack.base_url) as plain:
        over_tls = secure.get("/health")
        over_http = plain.get("/health")

    assert over_tls.headers["strict-transport-security"].startswith("max-age=")
    assert "strict-transport-security" not in over_http.headers


def test_the_first_admin_from_the_command_deactivates_a_user_everywhere(stack: Stack) -> None:
    """`manage make-admin` on the server; that admin's deactivation refuses every token at once."""
    with https(stack, "127.0.0.25") as client:
        admin_name, user_name = register(client), register(client)
        made = run(
            [
                str(stack.project / ".venv" / "bin" / "python"),
                "-m",
                f"{package_of(stack.project)}.manage",
                "make-admin",
                admin_name,
            ],
            cwd=stack.project,
            env=stack.env,
        )
        admin = client.post(LOGIN, json={"username": admin_name, "password": PASS})
        user = client.post(LOGIN, json={"username": user_name, "password": PASS})
        found = client.get(
            "/api/v1/admin/users", params={"q": user_name}, headers=bearer(admin)
        ).json()["items"]
        deactivated = client.patch(
            f"/api/v1/admin/users/{found[0]['id']}",
            json={"is_active": False},
            headers=bearer(admin),
        )
        access = client.get(ME, headers=bearer(user))
        refresh = client.post(REFRESH, json={"refresh_token": user.json()["refresh_token"]})
        login = client.post(LOGIN, json={"username": user_name, "password": PASS})

    assert f"{admin_name} is an administrator" in made.stdout
    assert deactivated.status_code == 200, deactivated.text
    assert (access.status_code, refresh.status_code, login.status_code) == (401, 401, 401)
