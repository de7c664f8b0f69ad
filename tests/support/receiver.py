"""A webhook receiver inside a compose stack, and the Standard Webhooks check of what it got.

The receiver is a service that a test's compose override adds: the app's own image running a
few lines of `http.server`, which answer every POST with 204 and print it (headers and base64
body) as one JSON line. The test reads the deliveries back from the container's log. The
override also lets the app and the worker reach it: its address is private, which the service
refuses unless WEBHOOK_ALLOW_PRIVATE_TARGETS is on (set here only, never in the render).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

import yaml

#: The service name, and the URL the app and the worker reach it at on the compose network.
RECEIVER = "receiver"
RECEIVER_PORT = 8080
RECEIVER_URL = f"http://{RECEIVER}:{RECEIVER_PORT}/hooks/tasks"
#: Compose's file name of the override, written into the project under test.
OVERRIDE_FILE = "compose.receiver.yaml"
#: What Standard Webhooks puts before the base64 secret, and before each signature.
SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
SIGNATURE_VERSION = "v1,"

_SERVER = f"""
import base64, http.server, json

class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        headers = {{name.lower(): value for name, value in self.headers.items()}}
        record = {{"path": self.path, "headers": headers, "body": base64.b64encode(body).decode()}}
        print(json.dumps(record), flush=True)
        self.send_response(204)
        self.end_headers()

    def log_message(self, format, *args):
        pass

http.server.ThreadingHTTPServer(("", {RECEIVER_PORT}), Receiver).serve_forever()
"""


def receiver_override(*, services: list[str]) -> str:
    """Return a compose override: the receiver, and `services` allowed to deliver to it."""
    overrides: dict[str, Any] = {}
    for name in services:  # a mapping each: one shared object would be dumped as a YAML alias
        overrides[name] = {"environment": {"WEBHOOK_ALLOW_PRIVATE_TARGETS": "true"}}
    document: dict[str, Any] = {
        "services": {
            **overrides,
            RECEIVER: {
                # The app's image: built by `up --build` for the app, which starts first.
                "image": "${APP_IMAGE}",
                "command": ["python", "-c", _SERVER],
                "depends_on": {"app": {"condition": "service_started"}},
                "healthcheck": {"disable": True},
                "read_only": True,
                "cap_drop": ["ALL"],
                "security_opt": ["no-new-privileges:true"],
            },
        }
    }
    assert "$" not in _SERVER  # compose would read it as a variable
    return yaml.safe_dump(document, sort_keys=False)


@dataclass(frozen=True)
class Delivery:
    """One POST the receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        """The JSON body."""
        value: dict[str, Any] = json.loads(self.body)
        return value


def deliveries(log: str) -> list[Delivery]:
    """Return the deliveries that the receiver printed in `log`, oldest first."""
    found: list[Delivery] = []
    for line in log.splitlines():
        if not line.startswith("{"):
            continue
        record = json.loads(line)
        body = base64.b64decode(record["body"])
        found.append(Delivery(path=record["path"], headers=record["headers"], body=body))
    return found


def expected_signature(*, secret: str, message_id: str, timestamp: str, body: bytes) -> str:
    """Return the Standard Webhooks `webhook-signature` of a delivery, computed independently."""
    assert secret.startswith(SECRET_PREFIX), secret
    key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return SIGNATURE_VERSION + base64.b64encode(digest).decode()
