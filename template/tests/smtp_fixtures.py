"""A real SMTP server for the tests (aiosmtpd), and the mailbox that collects what it receives."""

import asyncio
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

#: A link of an e-mail, and the token in its fragment.
LINK = re.compile(r"(https?://\S+?)#token=([A-Za-z0-9_-]+)")


@dataclass
class Mailbox:
    """What the server received, in order; `port` is where it listens on 127.0.0.1."""

    port: int
    received: list[EmailMessage] = field(default_factory=list)

    async def wait_for(self, count: int, seconds: float = 10.0) -> list[EmailMessage]:
        """Return the first `count` e-mails, waiting up to `seconds` for them."""
        async with asyncio.timeout(seconds):
            # The server appends from its own thread and event loop: look, rather than be woken.
            while len(self.received) < count:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
        return self.received[:count]


@dataclass
class _Collect:
    """The aiosmtpd handler: every message it accepts goes to the mailbox, parsed."""

    mailbox: Mailbox

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802 - aiosmtpd's name
        """Keep the message; answer 250."""
        del server, session
        content = envelope.original_content or b""
        parsed = message_from_bytes(content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.mailbox.received.append(parsed)
        return "250 Message accepted for delivery"


def free_port() -> int:
    """Return a TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def smtp_server() -> Iterator[Mailbox]:
    """Run an SMTP server on 127.0.0.1 for the test, in its own thread; yield its mailbox."""
    mailbox = Mailbox(port=free_port())
    controller = Controller(_Collect(mailbox), hostname="127.0.0.1", port=mailbox.port)
    controller.start()
    try:
        yield mailbox
    finally:
        controller.stop()


def text_and_html(message: EmailMessage) -> tuple[str, str]:
    """Return the plain-text and the HTML body of a multipart/alternative e-mail."""
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None
    assert html is not None
    return str(text.get_content()), str(html.get_content())


def link_of(message: EmailMessage) -> tuple[str, str]:
    """Return the page a mail's text links to, and the token in the link's fragment."""
    text, _ = text_and_html(message)
    found = LINK.search(text)
    assert found is not None, text
    return found.group(1), found.group(2)
