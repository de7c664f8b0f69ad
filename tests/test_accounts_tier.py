"""Run tier: accounts and sessions over real HTTPS, through nginx and its tls.conf.

The default preset served for real (PostgreSQL, Redis, gunicorn with 2 workers, the job worker)
behind Debian's nginx with both rendered server blocks, TLS on a self-signed certificate that the
clients verify, with e-mail verification on and e-mails sent to a real SMTP server (aiosmtpd) in
this process. A browser keeps its refresh token in the `Secure` cookie, which is only sent back
over HTTPS, so that flow is driven here through the real TLS front door; a non-browser client
keeps it itself.
"""

from __future__ import annotations

import re
import secrets
import ssl
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.cookies import SimpleCookie
from typing import TYPE_CHECKING

import httpx
import pytest
from aiosmtpd.controller import Controller

from tests.support.jobs import JobWorker
from tests.support.services import free_port
from tests.support.stack import Stack, package_of, running_stack
from tests.support.tools import run
from tests.support.variants import presets

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from aiosmtpd.smtp import SMTP, Envelope, Session

    from tests.support.render import Renderer

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("accounts-tier")]

PRESET = next(v for v in presets() if v.id == "default")
REGISTER = "/api/v1/auth/register"
LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"
PASSWORD = "/api/v1/users/me/password"  # noqa: S105 - a path
ME = "/api/v1/users/me"
TASKS = "/api/v1/tasks"
COOKIE = "__Secure-refresh_token"
BROWSER = {"X-Refresh-Token": "cookie"}
PASS = "Tidal-Orchard-58"  # noqa: S105 - a test account's password
NEW_PASS = "Granite-Kettle-93"  # noqa: S105 - a test account's password


#: Where the e-mails' links point: a page of the team's front end, not this service.
PUBLIC_BASE_URL = "https://tasks.example.com"


@dataclass
class Mailbox:
    """What the SMTP server received, from every process of the stack, in order."""

    received: list[EmailMessage] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802 - aiosmtpd's name
        """Keep the message; answer 250."""
        del server, session
        message = message_from_bytes(envelope.original_content or b"", policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.received.append(message)
        return "250 Message accepted for delivery"

    def token_for(self, address: str, page: str, *, timeout: float = 30.0) -> str:
        """Wait for the e-mail to `address` that links to `page`; return its link's token."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in self.received:
                body = message.get_body(("plain",))
                text = "" if body is None else str(body.get_content())
                found = re.search(rf"{re.escape(PUBLIC_BASE_URL + page)}#token=([\w-]+)", text)
                if message["To"] == address and found:
                    self.received.remove(message)
                    return found.group(1)
            time.sleep(0.1)
        msg = f"no e-mail to {address} linking to {page} within {timeout:.0f}s"
        raise AssertionError(msg)


@pytest.fixture(scope="module")
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    """Run a real SMTP server on 127.0.0.1; yield its mailbox and port."""
    mailbox, port = Mailbox(), free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def stack(
    renderer: Renderer, mailbox: tuple[Mailbox, int], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """Yield the default preset serving behind nginx on HTTP and HTTPS, with its job worker."""
    project = renderer.installed(PRESET.answers)
    settings = {
        "EMAIL_VERIFICATION": "true",
        "EMAIL_BACKEND": "smtp",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(mailbox[1]),
        "SMTP_SECURITY": "none",
        "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
    }
    with running_stack(project, PRESET.answers, settings=settings, tls=True) as running:
        log: Path = tmp_path_factory.mktemp("worker") / "worker.log"
        worker = JobWorker(project=project, env=running.env, log=log)
        worker.start()
        try:
            yield running
        finally:
            worker.signal()
            worker.wait(grace=30)


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
    """Register a new user (its address unverified: it only reads); return the username."""
    name = f"u{secrets.token_hex(6)}"
    body = {"email": f"{name}@example.com", "username": name, "password": PASS}
    resp = client.post(REGISTER, json=body)
    assert resp.status_code == 202, resp.text
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


def test_the_whole_account_lifecycle_over_https_with_real_e_mail(
    stack: Stack, mailbox: tuple[Mailbox, int]
) -> None:
    """Every step of an account's life, over HTTPS through nginx, with the real job worker.

    Register, verify by e-mail, log in, refresh, reuse (the family dies), change the password
    (its tokens die), reset it by e-mail, and an admin's deactivation refuses every token.
    """
    inbox = mailbox[0]
    with https(stack, "127.0.0.26") as client:
        name = register(client)
        address = f"{name}@example.com"
        unverified = client.post(LOGIN, json={"username": name, "password": PASS})
        write_refused = client.post(TASKS, json={"title": "x"}, headers=bearer(unverified))
        verified = client.post(
            "/api/v1/auth/verify-email", json={"token": inbox.token_for(address, "/verify-email")}
        )
        written = client.post(TASKS, json={"title": "x"}, headers=bearer(unverified))

        login = client.post(LOGIN, json={"username": name, "password": PASS})
        rotated = client.post(REFRESH, json={"refresh_token": login.json()["refresh_token"]})
        reused = client.post(REFRESH, json={"refresh_token": login.json()["refresh_token"]})
        family = client.post(REFRESH, json={"refresh_token": rotated.json()["refresh_token"]})

        session = client.post(LOGIN, json={"username": name, "password": PASS})
        change = {"current_password": PASS, "new_password": NEW_PASS}
        changed = client.post(PASSWORD, json=change, headers=bearer(session))
        after_change = client.get(ME, headers=bearer(session))

        asked = client.post("/api/v1/auth/password-reset", json={"email": address})
        unknown = client.post("/api/v1/auth/password-reset", json={"email": "x" + address})
        reset_token = inbox.token_for(address, "/reset-password")
        reset = client.post(
            "/api/v1/auth/password-reset/confirm",
            json={"token": reset_token, "new_password": "Quartz-Meadow-71"},
        )
        replayed = client.post(
            "/api/v1/auth/password-reset/confirm",
            json={"token": reset_token, "new_password": "Quartz-Meadow-72"},
        )
        final = client.post(LOGIN, json={"username": name, "password": "Quartz-Meadow-71"})

    # The administrator works from a client of its own: the user's used up its login limit.
    with https(stack, "127.0.0.27") as client:
        admin_name = register(client)
        run(
            [
                str(stack.project / ".venv" / "bin" / "python"),
                *("-m", f"{package_of(stack.project)}.manage", "make-admin", admin_name),
            ],
            cwd=stack.project,
            env=stack.env,
        )
        admin = client.post(LOGIN, json={"username": admin_name, "password": PASS})
        [user] = client.get(
            "/api/v1/admin/users", params={"q": name}, headers=bearer(admin)
        ).json()["items"]
        deactivated = client.patch(
            f"/api/v1/admin/users/{user['id']}", json={"is_active": False}, headers=bearer(admin)
        )
        refused = [
            client.get(ME, headers=bearer(final)).status_code,
            client.post(REFRESH, json={"refresh_token": final.json()["refresh_token"]}).status_code,
            client.post(LOGIN, json={"username": name, "password": "Quartz-Meadow-71"}).status_code,
        ]

    assert (unverified.status_code, write_refused.status_code) == (200, 403)
    assert (verified.status_code, written.status_code) == (204, 201)
    assert rotated.status_code == 200, rotated.text
    assert (reused.status_code, family.status_code) == (401, 401)
    assert (changed.status_code, after_change.status_code) == (204, 401)
    assert (asked.status_code, unknown.status_code) == (202, 202)
    assert asked.json() == unknown.json()
    assert all(message["To"] != "x" + address for message in inbox.received)
    assert (reset.status_code, replayed.status_code, final.status_code) == (204, 400, 200)
    assert deactivated.status_code == 200, deactivated.text
    assert refused == [401, 401, 401]
