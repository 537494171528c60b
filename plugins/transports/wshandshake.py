"""The WebSocket opening handshake (RFC 6455 §4.2), checked the way nats-server does.

:func:`parse_request` reads the HTTP request head; :func:`upgrade` validates it
(GET, Host, ``Upgrade: websocket``, ``Connection: Upgrade``, a key, version
13) and returns either the ``101 Switching Protocols`` response with the
negotiated options or the HTTP error to send before closing.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field

#: RFC 6455's GUID, appended to the client's key to compute Sec-WebSocket-Accept.
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#: The one extension nats-server accepts, with the parameters it always answers.
PMC_RESPONSE = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
#: nats-server's header by which a client (leafnodes, mostly) asks for unmasked frames.
NO_MASKING_HEADER = "nats-no-masking"

_REASONS = {
    400: "Bad Request",
    403: "Forbidden",
    405: "Method Not Allowed",
    431: "Request Header Fields Too Large",
}


@dataclass
class Request:
    """The head of an HTTP request: method, target, version and headers (names lower-case)."""

    method: str
    target: str
    version: str
    headers: dict[str, list[str]] = field(default_factory=dict)

    def get(self, name: str) -> str:
        """The first value of header ``name`` ('' when absent)."""
        values = self.headers.get(name.lower())
        return values[0] if values else ""

    def has_token(self, name: str, token: str) -> bool:
        """Whether a comma-separated header ``name`` contains ``token`` (case-insensitively)."""
        token = token.lower()
        return any(
            part.strip(" \t").lower() == token
            for value in self.headers.get(name.lower(), ())
            for part in value.split(",")
        )


@dataclass
class Upgrade:
    """A successful handshake: the response to send and what was negotiated."""

    response: bytes
    compress: bool
    no_masking: bool
    browser: bool


class HandshakeError(Exception):
    """The request cannot be upgraded; ``response`` is the HTTP error to send."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"websocket handshake error: {reason}")
        self.status = status
        self.response = http_error(status)


def http_error(status: int) -> bytes:
    """A small HTTP error response like Go's ``http.Error`` writes, closing the connection."""
    text = _REASONS.get(status, "Bad Request")
    body = f"{text}\n".encode()
    return (
        f"HTTP/1.1 {status} {text}\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Sec-Websocket-Version: 13\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        "Connection: close\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def parse_request(head: bytes) -> Request:
    """Parse the request line and headers (``head`` ends before the blank line)."""
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes anything
        raise HandshakeError(400, "malformed request") from None
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        raise HandshakeError(400, "malformed request line")
    request = Request(parts[0], parts[1], parts[2])
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise HandshakeError(400, "malformed header line")
        request.headers.setdefault(name.lower(), []).append(value.strip(" \t"))
    return request


def accept_key(key: str) -> str:
    """Sec-WebSocket-Accept for a client's Sec-WebSocket-Key."""
    digest = hashlib.sha1(key.encode() + WS_GUID).digest()  # SHA-1 is what RFC 6455 mandates
    return base64.b64encode(digest).decode()


def offers_deflate(request: Request) -> bool:
    """Whether the client offers permessage-deflate (its parameters are not needed)."""
    return any(
        param.strip(" \t").lower() == "permessage-deflate"
        for value in request.headers.get("sec-websocket-extensions", ())
        for extension in value.split(",")
        for param in extension.split(";")
    )


def upgrade(request: Request, *, compression: bool) -> Upgrade:
    """Validate ``request`` as nats-server does and build the 101 response.

    Raises :class:`HandshakeError` (405 for a method other than GET, 400 for
    a missing Host, Upgrade, Connection, key or version).
    """
    if request.method != "GET":
        raise HandshakeError(405, "request method must be GET")
    if not request.get("host"):
        raise HandshakeError(400, "'Host' missing in request")
    if not request.has_token("upgrade", "websocket"):
        raise HandshakeError(400, "invalid value for header 'Upgrade'")
    if not request.has_token("connection", "upgrade"):
        raise HandshakeError(400, "invalid value for header 'Connection'")
    key = request.get("sec-websocket-key")
    if not key:
        raise HandshakeError(400, "key missing")
    if not request.has_token("sec-websocket-version", "13"):
        raise HandshakeError(400, "invalid version")
    compress = compression and offers_deflate(request)
    no_masking = request.get(NO_MASKING_HEADER) == "true"
    lines = [
        "HTTP/1.1 101 Switching Protocols",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Accept: {accept_key(key)}",
    ]
    if compress:
        lines.append(f"Sec-WebSocket-Extensions: {PMC_RESPONSE}")
    if no_masking:
        lines.append("Nats-No-Masking: true")
    response = ("\r\n".join(lines) + "\r\n\r\n").encode()
    browser = request.get("user-agent").startswith("Mozilla/")
    return Upgrade(response, compress, no_masking, browser)
