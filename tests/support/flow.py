"""The HTTP journey every tier runs against a started service: real requests, precise answers."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class User:
    """A registered user and their bearer token."""

    username: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        """The Authorization header of this user."""
        return {"Authorization": f"Bearer {self.token}"}


#: The liveness probe: the service answers it before its middleware.
LIVENESS_PROBE = "/healthz/live"


@dataclass
class ApiFlow:
    """Drives a running service through its public API and records the request ids it used."""

    base_url: str
    request_ids: list[str] = field(default_factory=list)
    refused_ids: list[str] = field(default_factory=list)
    #: Requests that got no answer (refused connection, time-out): they may or may not be logged.
    unanswered_ids: list[str] = field(default_factory=list)
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.client = httpx.Client(base_url=self.base_url, timeout=10.0)

    def close(self) -> None:
        """Close the HTTP client."""
        self.client.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:  # noqa: ANN401
        """Send a request with a fresh X-Request-ID and remember the id."""
        return self.send(self.client, method, path, **kwargs)

    def fresh(self, method: str, url: str, **kwargs: Any) -> httpx.Response:  # noqa: ANN401
        """Send a request to `url` on a new connection (any worker may take it), as `request`."""
        with httpx.Client(timeout=10.0) as client:
            return self.send(client, method, url, **kwargs)

    def send(
        self,
        client: httpx.Client,
        method: str,
        url: str,
        **kwargs: Any,  # noqa: ANN401
    ) -> httpx.Response:
        """Send a request on `client` with a fresh X-Request-ID and remember the id."""
        if httpx.URL(url).path == LIVENESS_PROBE:
            # Answered before the service's middleware: no request id, no log line.
            return client.request(method, url, **kwargs)
        request_id = secrets.token_hex(16)
        headers = {"X-Request-ID": request_id, **kwargs.pop("headers", {})}
        # Remembered before sending: a request that times out here may still reach the app.
        self.request_ids.append(request_id)
        try:
            response = client.request(method, url, headers=headers, **kwargs)
        except httpx.TransportError:
            self.unanswered_ids.append(request_id)
            raise
        if response.headers.get("x-request-id") != request_id:
            # Only a proxy's refusal may come back without the app's echo of the id.
            assert response.status_code == httpx.codes.TOO_MANY_REQUESTS, response.headers
            self.refused_ids.append(request_id)
        return response

    def wait_ready(self, timeout: float = 60) -> None:
        """Poll readiness until it answers 200."""
        deadline = time.monotonic() + timeout
        last: str = "no answer"
        while time.monotonic() < deadline:
            try:
                response = self.request("GET", "/healthz/ready")
            except httpx.TransportError as error:
                last = repr(error)
            else:
                if response.status_code == httpx.codes.OK:
                    return
                last = f"{response.status_code} {response.text}"
            time.sleep(0.2)
        msg = f"{self.base_url} not ready within {timeout:.0f}s: {last}"
        raise AssertionError(msg)

    def register(self, name: str) -> User:
        """Register a user and log in."""
        username = f"{name}_{secrets.token_hex(4)}"
        password = "Sup3r-" + secrets.token_hex(8)
        body = {"email": f"{username}@example.com", "username": username, "password": password}
        created = self.request("POST", "/api/v1/auth/register", json=body)
        assert created.status_code == httpx.codes.CREATED, created.text
        assert {"password", "hashed_password"}.isdisjoint(created.json())
        login = self.request(
            "POST", "/api/v1/auth/login", json={"username": username, "password": password}
        )
        assert login.status_code == httpx.codes.OK, login.text
        assert login.json()["token_type"] == "bearer"  # noqa: S105 - the OAuth2 token type
        return User(username, login.json()["access_token"])

    def check_health(self, expected_checks: set[str]) -> None:
        """`/health` reports every expected check as ok, and readiness answers 200."""
        health = self.request("GET", "/health")
        assert health.status_code == httpx.codes.OK
        body = health.json()
        assert body["status"] == "ok", body
        assert {name: check["status"] for name, check in body["checks"].items()} == dict.fromkeys(
            expected_checks, "ok"
        )
        ready = self.request("GET", "/healthz/ready")
        assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
        live = self.request("GET", "/healthz/live")
        assert (live.status_code, live.json()) == (200, {"status": "ok"})

    def task_lifecycle(self) -> None:
        """Check a user creates, lists with filters, updates, deletes tasks; another sees none."""
        owner, stranger = self.register("owner"), self.register("stranger")
        created = self.request(
            "POST",
            "/api/v1/tasks",
            json={"title": "  Ship the release  ", "priority": "high"},
            headers=owner.headers,
        )
        assert created.status_code == httpx.codes.CREATED, created.text
        task = created.json()
        assert (task["title"], task["priority"], task["status"]) == (
            "Ship the release",
            "high",
            "todo",
        )
        other = self.request(
            "POST", "/api/v1/tasks", json={"title": "Write notes"}, headers=owner.headers
        )
        assert other.status_code == httpx.codes.CREATED

        listed = self.request(
            "GET",
            "/api/v1/tasks",
            params={"priority": "high", "q": "release"},
            headers=owner.headers,
        )
        assert listed.status_code == httpx.codes.OK
        assert [t["id"] for t in listed.json()["items"]] == [task["id"]]
        assert listed.json()["total"] == 1

        updated = self.request(
            "PATCH", f"/api/v1/tasks/{task['id']}", json={"status": "done"}, headers=owner.headers
        )
        assert updated.status_code == httpx.codes.OK
        assert updated.json()["status"] == "done"

        path = f"/api/v1/tasks/{task['id']}"
        assert self.request("GET", path, headers=stranger.headers).status_code == 404
        assert (
            self.request("PATCH", path, json={"title": "x"}, headers=stranger.headers).status_code
            == 404
        )
        assert self.request("DELETE", path, headers=stranger.headers).status_code == 404
        strangers_view = self.request("GET", "/api/v1/tasks", headers=stranger.headers)
        assert strangers_view.json()["total"] == 0

        assert self.request("DELETE", path, headers=owner.headers).status_code == 204
        assert self.request("GET", path, headers=owner.headers).status_code == 404
        remaining = self.request("GET", "/api/v1/tasks", headers=owner.headers).json()
        assert [t["title"] for t in remaining["items"]] == ["Write notes"]

    def check_task_stats_follow_changes(self) -> None:
        """`/tasks/stats` counts the user's tasks, and a new task is counted at once."""
        user = self.register("stats")
        first = self.request("GET", "/api/v1/tasks/stats", headers=user.headers)
        assert first.status_code == httpx.codes.OK, first.text
        assert first.json()["total"] == 0
        again = self.request("GET", "/api/v1/tasks/stats", headers=user.headers)
        assert again.json() == first.json()
        body = {"title": "Counted", "priority": "high"}
        assert self.request("POST", "/api/v1/tasks", json=body, headers=user.headers).is_success
        after = self.request("GET", "/api/v1/tasks/stats", headers=user.headers).json()
        assert after["total"] == 1
        assert after["by_priority"]["high"] == 1

    def check_security_headers(self) -> None:
        """Responses carry the security headers."""
        for path in ("/info/status", LIVENESS_PROBE):
            headers = self.request("GET", path).headers
            assert headers["x-content-type-options"] == "nosniff", path
            assert headers["x-frame-options"] == "DENY", path
            assert headers["referrer-policy"] == "no-referrer", path
            assert "default-src 'none'" in headers["content-security-policy"], path

    def check_large_list_is_gzipped(self) -> None:
        """Check a large JSON list comes back gzip-encoded to a client that accepts it."""
        user = self.register("bulk")
        for number in range(60):
            body = {"title": f"Task {number}", "description": "lorem ipsum " * 40}
            response = self.request("POST", "/api/v1/tasks", json=body, headers=user.headers)
            assert response.status_code == httpx.codes.CREATED
        listed = self.request(
            "GET",
            "/api/v1/tasks",
            params={"limit": 100},
            headers={**user.headers, "Accept-Encoding": "gzip"},
        )
        assert listed.status_code == httpx.codes.OK
        assert listed.headers.get("content-encoding") == "gzip"
        assert len(listed.json()["items"]) == 60

    def check_login_is_rate_limited(self, attempts: int = 40) -> None:
        """Hammering the login endpoint is answered with 429 before the attempts run out."""
        statuses = [
            self.request(
                "POST", "/api/v1/auth/login", json={"username": "nobody", "password": "Wr0ngpass"}
            ).status_code
            for _ in range(attempts)
        ]
        assert httpx.codes.TOO_MANY_REQUESTS in statuses, statuses
        assert set(statuses) <= {httpx.codes.UNAUTHORIZED, httpx.codes.TOO_MANY_REQUESTS}
