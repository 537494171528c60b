"""Connect the official nats-py client over a Unix domain socket.

nats-py has pluggable transports (``nats.aio.transport``) but picks one from
the URL scheme and knows only TCP and WebSocket.  :class:`UnixTransport` is a
TCP transport whose ``connect`` opens ``asyncio.open_unix_connection`` instead,
and :class:`UnixSocketClient` is a ``nats.aio.client.Client`` that always uses
it; everything above the byte stream (INFO/CONNECT, auth, PING/PONG,
reconnects, drain) is nats-py's own code.  The client is handed a placeholder
``nats://`` URL because its server pool only accepts those.

Usage::

    nc = await connect_unix("/tmp/natskern.sock", user="a", password="b")
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import ParseResult, urlparse

from nats.aio.client import DEFAULT_BUFFER_SIZE, Client
from nats.aio.client import Srv as _Srv
from nats.aio.transport import TcpTransport

from natskern.cli.output import go_quote

__all__ = [
    "PLACEHOLDER_URL",
    "UnixSocketClient",
    "UnixTransport",
    "connect_unix",
    "is_unix_url",
    "unix_socket_path",
]

#: The URL nats-py's server pool is given; the host is never resolved.
PLACEHOLDER_URL = "nats://unix-socket:0"


def is_unix_url(url: str) -> bool:
    """Return whether ``url`` uses the ``unix://`` scheme."""
    return url.strip().lower().startswith("unix:")


def unix_socket_path(url: str) -> str:
    """Return the socket path of ``unix:///path/to/sock`` (also ``unix:/path``).

    Raises :class:`ValueError` when the URL has no path.
    """
    parsed = urlparse(url.strip())
    if parsed.scheme.lower() != "unix":
        raise ValueError(f"not a unix socket URL: {go_quote(url)}")
    path = (parsed.netloc or "") + (parsed.path or "")
    if not path:
        raise ValueError(f"unix socket URL without a path: {go_quote(url)}")
    return path


class UnixTransport(TcpTransport):
    """A nats-py transport that reads and writes a Unix domain socket.

    The server URI nats-py passes to :meth:`connect` is ignored; the socket
    path given at construction is used instead.  TLS upgrade (if a server
    asked for it) works as over TCP, via ``start_tls`` on the stream.
    """

    def __init__(self, path: str) -> None:
        """Remember the socket ``path`` to connect to."""
        super().__init__()
        self.path = path

    async def connect(self, uri: ParseResult, buffer_size: int, connect_timeout: int) -> None:
        """Open the Unix socket (``uri`` is the placeholder and is not used)."""
        reader, writer = await asyncio.wait_for(
            asyncio.open_unix_connection(self.path, limit=buffer_size), connect_timeout
        )
        self._bare_io_reader = self._io_reader = reader
        self._bare_io_writer = self._io_writer = writer


class UnixSocketClient(Client):
    """A nats-py ``Client`` whose every (re)connection goes to one Unix socket."""

    def __init__(self, path: str) -> None:
        """Create a client for the socket at ``path``; call ``connect`` as usual."""
        super().__init__()
        self.socket_path = path

    async def _connect_to_server(self, s: _Srv) -> None:
        """Open the transport to the socket (overrides nats-py's TCP/WS choice)."""
        s.last_attempt = time.monotonic()
        if not isinstance(self._transport, UnixTransport):
            self._transport = UnixTransport(self.socket_path)
        await self._transport.connect(
            s.uri,
            buffer_size=DEFAULT_BUFFER_SIZE,
            connect_timeout=self.options["connect_timeout"],
        )


async def connect_unix(path: str, **kwargs: Any) -> Client:
    """Connect nats-py to the broker's Unix socket at ``path`` and return the client.

    ``kwargs`` are ``nats.aio.client.Client.connect`` options (``user``,
    ``password``, ``token``, ``name``, callbacks...); ``servers`` is set here.
    """
    kwargs.pop("servers", None)
    client = UnixSocketClient(path)
    await client.connect(servers=[PLACEHOLDER_URL], **kwargs)
    return client
