"""Run tier: behind nginx, a client cannot choose its address, and the credential limits hold.

The default preset served for real: PostgreSQL, Redis, gunicorn with the rendered config and the
app environment of the rendered compose.yaml (`tests.support.stack`), Debian's nginx with the
rendered nginx.conf. Each test is a client of its own: loopback is all of 127.0.0.0/8, so a
client connecting from 127.0.0.N is a different address to nginx and to the app. Every request
carries a new, forged X-Forwarded-For (and X-Real-IP), as an attacker's script would.
"""

from __future__ import annotations

import itertools
import secrets
import time
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.support.compose import app_environment, nginx_address
from tests.support.services import wait_until
from tests.support.stack import NGINX_HERE, Stack, running_stack
from tests.support.variants import presets

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from tests.support.render import Renderer

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("client-address")]

PRESET = next(v for v in presets() if v.id == "default")
LOGIN = "/api/v1/auth/login"
TOKEN = "/api/v1/auth/token"  # noqa: S105 - a path
REGISTER = "/api/v1/auth/register"
WRONG = {"username": "nobody", "password": "Wr0ngpass"}
#: The service's default RATE_LIMIT_LOGIN and RATE_LIMIT_REGISTER: 5 a minute, 5 an hour.
APP_LIMIT = 5
#: Forged addresses come from here (TEST-NET-2): none of them may reach a log or a limit key.
FORGED_NETWORK = "198.51.100."
_forged = itertools.count(1)


@pytest.fixture(scope="module")
def stack(renderer: Renderer) -> Iterator[Stack]:
    """Yield the default preset, rendered, installed, migrated and serving behind nginx."""
    project = renderer.installed(PRESET.answers)
    with running_stack(project, PRESET.answers) as running:
        yield running


def client_from(address: str, base_url: str) -> httpx.Client:
    """Return an HTTP client whose connections come from `address` (a 127.0.0.0/8 address)."""
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=base_url, transport=transport, timeout=30)


def forged() -> dict[str, str]:
    """Headers that name a new, made-up client on every call."""
    n = next(_forged)
    fake = f"{FORGED_NETWORK}{n % 250 + 1}"
    return {"X-Forwarded-For": f"{fake}, 10.0.0.{n % 250 + 1}", "X-Real-IP": fake}


def is_app_refusal(response: httpx.Response) -> bool:
    """Tell whether `response` is the service's own 429 (JSON with Retry-After), not nginx's."""
    return (
        response.status_code == httpx.codes.TOO_MANY_REQUESTS
        and response.headers.get("content-type") == "application/json"
        and response.json()["detail"].startswith("Too many requests")
        and int(response.headers["Retry-After"]) >= 1
    )


def is_nginx_refusal(response: httpx.Response) -> bool:
    """Tell whether `response` is nginx's own 429 (an HTML page), never seen by the service."""
    return response.status_code == httpx.codes.TOO_MANY_REQUESTS and not is_app_refusal(response)


def hammer(attempt: Callable[[dict[str, str]], httpx.Response], *, at_most: int = 30) -> list[str]:
    """Make attempts, each with new forged headers, until nginx itself refuses one.

    Returns what answered each: its status, or `app-429` / `nginx-429` for a refusal.
    """
    answers: list[str] = []
    while len(answers) < at_most:
        response = attempt(forged())
        if is_nginx_refusal(response):
            answers.append("nginx-429")
            break
        answers.append("app-429" if is_app_refusal(response) else str(response.status_code))
    return answers


def test_compose_trusts_only_nginx_and_the_stack_applies_it(stack: Stack) -> None:
    """The gunicorn here trusts X-Forwarded-* from nginx alone, as compose's settings say."""
    compose = app_environment(stack.project)
    assert compose["GUNICORN_FORWARDED_ALLOW_IPS"] == nginx_address(stack.project)
    assert stack.env["GUNICORN_FORWARDED_ALLOW_IPS"] == NGINX_HERE
    assert stack.env["ENVIRONMENT"] == compose["ENVIRONMENT"] == "production"


@pytest.mark.parametrize(
    ("path", "address"),
    [
        pytest.param(TOKEN, "127.0.0.21", id="token"),
        pytest.param(LOGIN, "127.0.0.22", id="login"),
    ],
)
def test_forged_forwarded_for_still_meets_the_login_limits(
    stack: Stack, path: str, address: str
) -> None:
    """A new forged X-Forwarded-For on every guess: the service refuses the 6th, then nginx.

    Both count the real client: the service's limit (5 a minute) answers first, with its JSON
    429; nginx's own (a burst of 5, then 10 a minute) refuses the guesses that follow.
    """
    with client_from(address, stack.base_url) as client:
        if path == TOKEN:
            answers = hammer(lambda headers: client.post(path, headers=headers, data=WRONG))
        else:
            answers = hammer(lambda headers: client.post(path, headers=headers, json=WRONG))

    assert answers[:APP_LIMIT] == ["401"] * APP_LIMIT, answers
    assert answers[APP_LIMIT] == "app-429", answers
    assert answers[-1] == "nginx-429", answers
    assert set(answers[APP_LIMIT:]) == {"app-429", "nginx-429"}, answers


def test_the_access_log_names_the_real_client(stack: Stack) -> None:
    """The service logs the address that connected to nginx, never a forged one."""
    address = "127.0.0.31"
    with client_from(address, stack.base_url) as client:
        sent = client.get("/info/status", headers={**forged(), "X-Request-ID": uuid()})
        assert sent.status_code == httpx.codes.OK

    def access_lines() -> list[str]:
        request_id = sent.headers["X-Request-ID"]
        return [line for line in stack.log_lines() if request_id in line and "http_request" in line]

    # The access line is written once the response has gone: give the worker a moment.
    wait_until(lambda: bool(access_lines()), timeout=10, what="the access log line", log=stack.log)
    (record,) = access_lines()
    lines = stack.log_lines()
    assert f'"client": "{address}:' in record
    assert [line for line in lines if FORGED_NETWORK in line] == []


def test_registrations_are_limited_per_client_in_the_service_and_in_nginx(stack: Stack) -> None:
    """The 6th registration from one client is refused by the service (5 an hour), then nginx."""
    with client_from("127.0.0.41", stack.base_url) as client:
        answers = hammer(lambda headers: client.post(REGISTER, headers=headers, json=new_user()))

    assert answers[:APP_LIMIT] == ["201"] * APP_LIMIT, answers
    assert answers[APP_LIMIT] == "app-429", answers
    assert answers[-1] == "nginx-429", answers


def test_login_limit_holds_in_memory_while_redis_is_down(stack: Stack) -> None:
    """With Redis stopped, each worker counts on its own: a client still meets 429 after 5.

    The guesses share one connection straight to gunicorn, so one worker counts them all. Once
    Redis is back, the counts are in Redis again.
    """
    assert stack.cache is not None
    stack.cache.stop()
    try:
        with client_from("127.0.0.51", stack.app_url) as client:
            ready = client.get("/healthz/ready")
            during = [client.post(LOGIN, json=WRONG).status_code for _ in range(APP_LIMIT + 1)]
    finally:
        stack.cache.start()

    with client_from("127.0.0.52", stack.app_url) as client:
        wait_ready(client)  # this worker has reconnected to Redis
        after = [client.post(LOGIN, json=WRONG).status_code for _ in range(APP_LIMIT + 1)]

    assert ready.status_code == httpx.codes.SERVICE_UNAVAILABLE
    assert during == [401] * APP_LIMIT + [429]
    assert after == [401] * APP_LIMIT + [429]
    assert [key for key in stack.cache.scan_keys() if "127.0.0.52" in key]
    assert not [key for key in stack.cache.scan_keys() if "127.0.0.51" in key]


def wait_ready(client: httpx.Client, timeout: float = 30) -> None:
    """Poll readiness on `client`'s connection until it answers 200."""
    deadline = time.monotonic() + timeout
    while client.get("/healthz/ready").status_code != httpx.codes.OK:
        assert time.monotonic() < deadline, "not ready again after Redis came back"
        time.sleep(0.2)


def new_user() -> dict[str, str]:
    """Return a registration body for a user nobody has taken."""
    name = f"u{secrets.token_hex(6)}"
    return {
        "email": f"{name}@example.com",
        "username": name,
        "password": "Sup3r-" + secrets.token_hex(6),
    }


def uuid() -> str:
    """Return a fresh request id."""
    return secrets.token_hex(16)
