"""A third-party transport: NATS connections over an in-memory pipe, no sockets at all.

It proves the transport seam the way ``ColourAuth`` proves the auth hook: it is
written as an outside package would write it, with public names only
(``natskern.hookimpl``, :mod:`natskern.kernel.core.transport`), registered
through ``register_transports`` and configured by its own ``[pipe]`` section::

    from natskern import Broker
    from tests.plugins import pipe_transport

    async with Broker({"pipe": {"name": "demo"}}, plugins=[pipe_transport]) as broker:
        reader, writer = await pipe_transport.open_pipe("pipe://demo")  # a raw stream
        nc = await pipe_transport.connect("pipe://demo")  # the official nats-py client

Each connection is a pair of :class:`PipeEnd` objects, asyncio transports
joined back to back.  The broker's end gets the kernel's
:class:`~natskern.kernel.core.transport.SessionProtocol` (so the session
sees exactly what a socket session sees); the client's end gets an asyncio
stream protocol.  The pipe behaves like a socket where it matters to the
kernel: reads arrive in chunks of at most ``read_size`` bytes, one chunk per
event-loop callback; a reader that pauses leaves the bytes with the writer,
where ``capacity`` bytes are "in the kernel" and the rest count as the
writer's write buffer, with asyncio's high/low-water flow control on top.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from typing import Any
from urllib.parse import ParseResult

from nats.aio.client import DEFAULT_BUFFER_SIZE, Srv
from nats.aio.client import Client as NatsClient
from nats.aio.transport import TcpTransport
from nats.errors import ProtocolError
from natskern.kernel.core.transport import Listener, SessionProtocol

from natskern import Broker, ConfigError, hookimpl

SCHEME = "pipe://"
#: The URL nats-py's server pool is given; it is never resolved.
PLACEHOLDER_URL = "nats://in-memory-pipe:4222"

SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "In-memory pipe listener (a test transport; clients in the same process).",
    "additionalProperties": False,
    "properties": {
        "enabled": {"type": "boolean", "default": True},
        "name": {
            "type": "string",
            "default": "",
            "description": "the listener's URL is pipe://<name> (default: the server id)",
        },
        "read_size": {"type": "integer", "minimum": 1, "default": 64 * 1024},
        "capacity": {
            "type": "integer",
            "minimum": 0,
            "default": 64 * 1024,
            "description": "bytes in flight that do not count as the writer's buffer",
        },
    },
}

#: The running pipe listeners of this process, by URL.
_LISTENERS: dict[str, PipeListener] = {}


class PipeEnd(asyncio.Transport):
    """One end of an in-memory duplex pipe: an asyncio transport for one protocol.

    What is written waits here until the other end's protocol reads it;
    ``pause_reading`` on the other end leaves it waiting.  ``close`` ends the
    pipe once this end's bytes are delivered; ``abort`` drops them.  Either way
    the other end sees EOF after what it already got, and both protocols get
    ``connection_lost`` from the event loop.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        protocol: asyncio.Protocol,
        *,
        read_size: int,
        capacity: int,
        extra: dict[str, Any],
    ) -> None:
        super().__init__(extra)
        self._loop = loop
        self._protocol = protocol
        self._read_size = read_size
        self._capacity = capacity
        self.peer: PipeEnd | None = None
        self._queue: deque[bytes] = deque()
        self._queued = 0
        self._delivering = False
        self.reading_paused = False
        self._write_paused = False
        self._high = 64 * 1024
        self._low = 16 * 1024
        self._closing = False
        self._lost = False
        #: How often this end's reading was paused and resumed (for tests).
        self.pauses = 0
        self.resumes = 0

    # -- asyncio.WriteTransport -------------------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Queue ``data`` for the other end (dropped once this end is closing)."""
        if self._closing or not data:
            return
        self._queue.append(bytes(data))
        self._queued += len(data)
        self._schedule()
        if not self._write_paused and self.get_write_buffer_size() > self._high:
            self._write_paused = True
            self._protocol.pause_writing()

    def get_write_buffer_size(self) -> int:
        """Undelivered bytes beyond the pipe's capacity."""
        return max(0, self._queued - self._capacity)

    def get_write_buffer_limits(self) -> tuple[int, int]:
        """The (low, high) water marks of the write flow control."""
        return self._low, self._high

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        """Set the water marks (asyncio's defaults: 64 KiB high, a quarter of it low)."""
        self._high = 64 * 1024 if high is None else high
        self._low = self._high // 4 if low is None else low

    def can_write_eof(self) -> bool:
        """The pipe has no half-close."""
        return False

    def write_eof(self) -> None:
        """Half-closing is not supported: close instead."""
        raise NotImplementedError("the pipe has no half-close")

    def abort(self) -> None:
        """End the pipe now; what this end had not delivered is dropped."""
        self._queue.clear()
        self._queued = 0
        self._end()

    # -- asyncio.ReadTransport --------------------------------------------------------------

    def pause_reading(self) -> None:
        """Stop handing the other end's bytes to this end's protocol."""
        if not self.reading_paused:
            self.reading_paused = True
            self.pauses += 1

    def resume_reading(self) -> None:
        """Hand the other end's bytes to this end's protocol again."""
        if self.reading_paused:
            self.reading_paused = False
            self.resumes += 1
            if self.peer is not None:
                self.peer._schedule()

    def is_reading(self) -> bool:
        """Whether this end's protocol gets the other end's bytes."""
        return not self.reading_paused and not self._lost

    # -- asyncio.BaseTransport --------------------------------------------------------------

    def close(self) -> None:
        """End the pipe once this end's bytes are delivered."""
        if self._closing:
            return
        self._closing = True
        if not self._queue:
            self._end()

    def is_closing(self) -> bool:
        """Whether :meth:`close` or :meth:`abort` was called (on either end)."""
        return self._closing or self._lost

    def get_protocol(self) -> asyncio.BaseProtocol:
        """The protocol this end reports to."""
        return self._protocol

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        """Report to ``protocol`` from now on."""
        assert isinstance(protocol, asyncio.Protocol)
        self._protocol = protocol

    # -- the pipe ---------------------------------------------------------------------------

    def _schedule(self) -> None:
        peer = self.peer
        if self._delivering or not self._queue or peer is None or peer._lost:
            return
        if peer.reading_paused:
            return
        self._delivering = True
        self._loop.call_soon(self._deliver)

    def _deliver(self) -> None:
        """One read of the other end: at most ``read_size`` bytes, then the next callback."""
        self._delivering = False
        peer = self.peer
        if peer is None or peer._lost or self._lost or peer.reading_paused or not self._queue:
            return
        queue, room = self._queue, self._read_size
        parts = []
        while queue and room > 0:
            part = queue.popleft()
            if len(part) > room:
                queue.appendleft(part[room:])
                part = part[:room]
            parts.append(part)
            room -= len(part)
        chunk = parts[0] if len(parts) == 1 else b"".join(parts)
        self._queued -= len(chunk)
        if self._write_paused and self.get_write_buffer_size() <= self._low:
            self._write_paused = False
            self._protocol.resume_writing()
        peer._protocol.data_received(chunk)
        if self._queue:
            self._schedule()
        elif self._closing:
            self._end()

    def _end(self) -> None:
        """Both ends are done: EOF to the other end, then ``connection_lost`` on both."""
        self._closing = True
        peer = self.peer
        ends = [self] if peer is None else [self, peer]
        for end in ends:
            if end._lost:
                continue
            end._lost = True
            end._closing = True
            if end is not self:
                self._loop.call_soon(end._protocol.eof_received)
            self._loop.call_soon(end._protocol.connection_lost, None)


class PipeListener:
    """The ``pipe`` transport's listener: connections are made in memory by :func:`open_pipe`."""

    name = "pipe"

    def __init__(self, broker: Broker, section: dict[str, Any]) -> None:
        self.broker = broker
        self.pipe_name: str = section.get("name") or broker.server_id
        self.read_size: int = section.get("read_size", 64 * 1024)
        self.capacity: int = section.get("capacity", 64 * 1024)
        self.connections = 0
        self.accepting = False

    @property
    def listen_url(self) -> str:
        """``pipe://<name>``."""
        return SCHEME + self.pipe_name

    async def start(self) -> None:
        """Make the name reachable by :func:`open_pipe`."""
        url = self.listen_url
        if url in _LISTENERS:
            raise ConfigError(f"pipe.name: {url} is already listening in this process")
        _LISTENERS[url] = self
        self.accepting = True

    async def close(self) -> None:
        """Stop accepting new connections (open ones stay the broker's)."""
        if _LISTENERS.get(self.listen_url) is self:
            del _LISTENERS[self.listen_url]
        self.accepting = False

    def open(self, client_protocol: asyncio.Protocol) -> PipeEnd:
        """Connect ``client_protocol`` to a new session; return the client's end."""
        if not self.accepting:
            raise ConnectionRefusedError(f"{self.listen_url} is not accepting connections")
        loop = asyncio.get_running_loop()
        self.connections += 1
        n = self.connections
        server_protocol = SessionProtocol(self.broker, "STANDARD")
        options = {"read_size": self.read_size, "capacity": self.capacity}
        server_end = PipeEnd(
            loop,
            server_protocol,
            extra={"peername": ("pipe", n), "sockname": self.listen_url},
            **options,
        )
        client_end = PipeEnd(
            loop,
            client_protocol,
            extra={"peername": self.listen_url, "sockname": ("pipe", n)},
            **options,
        )
        server_end.peer, client_end.peer = client_end, server_end
        client_protocol.connection_made(client_end)
        server_protocol.connection_made(server_end)
        return client_end


def listener_for(url: str) -> PipeListener:
    """The running pipe listener at ``url`` (``pipe://name``)."""
    listener = _LISTENERS.get(url)
    if listener is None:
        raise ConnectionRefusedError(f"no pipe listener at {url}")
    return listener


async def open_pipe(
    url: str, *, limit: int = 2**16
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A raw stream to the pipe listener at ``url``, like ``asyncio.open_connection``."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=limit, loop=loop)
    protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
    end = listener_for(url).open(protocol)
    return reader, asyncio.StreamWriter(end, protocol, reader, loop)


class PipeNatsTransport(TcpTransport):
    """A nats-py transport over the pipe (nats-py's TCP transport on an in-memory stream)."""

    def __init__(self, url: str) -> None:
        """Remember the pipe ``url`` to connect to."""
        super().__init__()
        self.url = url

    async def connect(self, uri: ParseResult, buffer_size: int, connect_timeout: int) -> None:
        """Open a pipe connection (``uri`` is nats-py's placeholder and is not used)."""
        reader, writer = await open_pipe(self.url, limit=buffer_size)
        self._bare_io_reader = self._io_reader = reader
        self._bare_io_writer = self._io_writer = writer

    async def connect_tls(self, *args: Any, **kwargs: Any) -> None:
        """The pipe has no TLS."""
        raise ProtocolError("nats: the in-memory pipe has no TLS")


class PipeNatsClient(NatsClient):
    """A nats-py client whose every (re)connection is a new pipe to one listener."""

    def __init__(self, url: str) -> None:
        """Create a client for the pipe listener at ``url``; call ``connect`` as usual."""
        super().__init__()
        self.pipe_url = url

    async def _connect_to_server(self, s: Srv) -> None:
        """Open the pipe (overrides nats-py's choice of TCP or WebSocket)."""
        s.last_attempt = time.monotonic()
        if not isinstance(self._transport, PipeNatsTransport):
            self._transport = PipeNatsTransport(self.pipe_url)
        await self._transport.connect(
            s.uri, buffer_size=DEFAULT_BUFFER_SIZE, connect_timeout=self.options["connect_timeout"]
        )


async def connect(url: str, **kwargs: Any) -> NatsClient:
    """The official nats-py client, connected over the pipe; ``kwargs`` as ``nats.connect``."""
    kwargs.pop("servers", None)
    client = PipeNatsClient(url)
    await client.connect(servers=[PLACEHOLDER_URL], **kwargs)
    return client


def make_transport(broker: Broker, section: dict[str, Any]) -> Listener | None:
    """The factory registered under ``pipe``; None when ``[pipe] enabled = false``."""
    if not section.get("enabled", True):
        return None
    return PipeListener(broker, section)


@hookimpl
def config_schema() -> dict[str, Any]:
    """The ``[pipe]`` section."""
    return {"pipe": SCHEMA}


@hookimpl
def register_transports(register: Callable[[str, Any], None]) -> None:
    """Register the pipe transport, as any third-party transport does."""
    register("pipe", make_transport)
