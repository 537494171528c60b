"""A small HTTP/1.1 server on asyncio for the monitoring endpoints.

Only what a monitoring port needs: ``GET``/``HEAD`` (any method is served, like
nats-server's mux), keep-alive and pipelining, ``Content-Length`` bodies read and
ignored, query strings, JSONP (``?callback=fn``).  Handlers are plain functions
``handler(request) -> Response`` run on the event loop; they read broker state
directly, which is safe because the broker lives on the same loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import parse_qs, unquote

log = logging.getLogger("natskern.monitoring")

#: Largest request head (request line + headers) accepted.
MAX_HEAD = 64 * 1024

_JSON = "application/json"
_TEXT = "text/plain; charset=utf-8"


class HttpError(Exception):
    """Raised by a handler: answer ``status`` with ``text`` as a plain-text body."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


@dataclass
class Request:
    """One parsed HTTP request."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    version: str = "HTTP/1.1"

    def arg(self, name: str) -> str:
        """The first value of query parameter ``name`` ("" when absent), like Go's ``Get``."""
        values = self.query.get(name)
        return values[0] if values else ""

    def has(self, name: str) -> bool:
        """Whether query parameter ``name`` is present (even empty)."""
        return name in self.query


@dataclass
class Response:
    """What a handler returns."""

    status: int = 200
    body: bytes = b""
    content_type: str = _JSON
    headers: list[tuple[str, str]] = field(default_factory=list)


Handler = Callable[[Request], Response]


def json_response(body: bytes, request: Request, status: int = 200) -> Response:
    """A JSON body, wrapped as JSONP when the request names a ``callback``."""
    callback = request.arg("callback")
    if callback:
        return Response(status, callback.encode() + b"(" + body + b")", "application/javascript")
    return Response(status, body)


def _date() -> str:
    return time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime())


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _render(version: str, resp: Response, *, head: bool, close: bool) -> bytes:
    lines = [f"{version} {resp.status} {_reason(resp.status)}"]
    lines.append(f"Content-Type: {resp.content_type}")
    lines.extend(f"{k}: {v}" for k, v in resp.headers)
    lines.append(f"Date: {_date()}")
    lines.append(f"Content-Length: {len(resp.body)}")
    if close:
        lines.append("Connection: close")
    out = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return out if head else out + resp.body


def _bad_request(text: str = "") -> bytes:
    status = "400 Bad Request" + (f": {text}" if text else "")
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: {_TEXT}\r\nConnection: close\r\n\r\n{status}"
    ).encode("latin-1")


class _HttpProtocol(asyncio.Protocol):
    """One HTTP connection: parse requests as they arrive and answer them in order."""

    def __init__(self, server: HttpServer) -> None:
        self.server = server
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None
        self.closing = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.server.connections.add(self)

    def connection_lost(self, exc: BaseException | None) -> None:
        self.server.connections.discard(self)
        self.transport = None

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        self.buf += data
        while not self.closing:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buf) > MAX_HEAD:
                    self._fail(
                        b"HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n"
                    )
                return
            head = bytes(self.buf[:end]).decode("latin-1")
            request = self._parse(head)
            if request is None:
                return
            length = request.headers.get("content-length", "0")
            if not length.isdigit():
                self._fail(_bad_request("invalid Content-Length"))
                return
            total = end + 4 + int(length)
            if len(self.buf) < total:
                return
            del self.buf[:total]
            self._answer(request)

    def _parse(self, head: str) -> Request | None:
        lines = head.split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            self._fail(_bad_request())
            return None
        method, target, version = parts
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep or not name or name != name.strip():
                self._fail(_bad_request("malformed MIME header line"))
                return None
            headers[name.lower()] = value.strip()
        if version == "HTTP/1.1" and "host" not in headers:
            self._fail(_bad_request("missing required Host header"))
            return None
        raw_path, _, raw_query = target.partition("?")
        query = parse_qs(raw_query, keep_blank_values=True)
        return Request(method.upper(), unquote(raw_path), query, headers, version)

    def _answer(self, request: Request) -> None:
        conn = request.headers.get("connection", "").lower()
        close = conn == "close" or (request.version == "HTTP/1.0" and conn != "keep-alive")
        resp = self.server.dispatch(request)
        out = _render(request.version, resp, head=request.method == "HEAD", close=close)
        if self.transport is not None:
            self.transport.write(out)
            if close:
                self.closing = True
                self.transport.close()

    def _fail(self, data: bytes) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.write(data)
            self.transport.close()


class HttpServer:
    """Serves ``routes`` (exact path -> handler); other paths get Go's 404 text."""

    def __init__(
        self,
        routes: dict[str, Handler],
        *,
        on_request: Callable[[str], None] | None = None,
    ) -> None:
        #: Kept by reference: endpoints added later are served at once.
        self.routes = routes
        self.on_request = on_request
        self.connections: set[_HttpProtocol] = set()
        self.server: asyncio.Server | None = None
        self.host = ""
        self.port = 0

    def dispatch(self, request: Request) -> Response:
        """Run the handler for ``request.path`` and turn its errors into responses."""
        handler = self.routes.get(request.path)
        if handler is None:
            return Response(
                404, b"404 page not found\n", _TEXT, [("X-Content-Type-Options", "nosniff")]
            )
        if self.on_request is not None:
            self.on_request(request.path)
        try:
            return handler(request)
        except HttpError as exc:
            return Response(exc.status, exc.text.encode(), _TEXT)
        except Exception:  # a bug in a handler must not take the monitor down
            log.exception("monitoring handler for %s failed", request.path)
            return Response(500, b"internal error", _TEXT)

    async def start(self, host: str, port: int) -> None:
        """Bind ``host:port`` (port 0: any free port) and start serving."""
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(
            lambda: _HttpProtocol(self), host, port, reuse_address=True
        )
        self.host = host
        self.port = self.server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        """Stop listening and drop open connections."""
        if self.server is not None:
            self.server.close()
            self.server = None
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.close()
        self.connections.clear()
