"""The transport seam: what a session needs from its byte pipe, what a transport gives the broker.

A transport plugin moves bytes; the kernel does everything else (parsing,
routing, liveness, limits).  The seam has four parts:

:class:`Connection`
    The byte pipe one session writes to and controls.  Every
    :class:`asyncio.Transport` is one as it is; a transport that frames or
    wraps the stream (WebSocket, a TLS handshake in progress, an in-memory
    pipe) implements these seven methods.
:class:`ConnectionEvents`
    What the transport tells the session in return: bytes arrived, the write
    buffer crossed its high-water mark or drained, the connection is gone.
:class:`Listener` and :class:`TransportFactory`
    What a ``register_transports`` factory returns: something the broker
    starts at start-up and closes at shutdown, with the URL clients reach it at.
:class:`SessionProtocol`
    The kernel's adapter between any stream-oriented asyncio transport and a
    session: a listener built on ``loop.create_server`` (or anything that
    produces asyncio transports) passes ``lambda: SessionProtocol(broker)`` as
    its protocol factory and is done.

The life of one connection, as the kernel expects it:

1. The transport calls ``broker.accept(connection, conn_type, info)``, which
   returns the session (a :class:`ConnectionEvents`) or None when the broker
   refuses the connection (it has then written INFO and the reason and
   called ``connection.close()``).  ``accept`` reads
   ``get_extra_info("peername")`` for the client's address and queues INFO;
   a session's output is written once per event-loop iteration.
2. Every chunk read from the peer goes to ``session.data_received(data)``;
   chunk boundaries do not matter.
3. When the connection's write buffer goes over its high-water mark the
   transport calls ``session.pause_writing()``, and ``resume_writing()``
   once it is back under the low-water mark (asyncio's flow control).  A
   session that stays paused longer than ``write_deadline`` while a
   publisher waits on it is cut as a slow consumer.
4. When the connection ends for any reason (EOF, an error, or after the
   session's own ``close()``/``abort()``) the transport calls
   ``session.connection_lost(exc)``: ``None`` for an orderly end.  A session
   ignores everything after its end, so calling it twice is harmless.

In the other direction the session calls ``write`` (one call per flush, the
output of a whole loop iteration), reads ``get_write_buffer_size`` to account
for what is still unsent (over ``max_pending`` means a slow consumer),
``pause_reading``/``resume_reading`` to hold back a publisher whose receivers
are full, ``close`` after its last write (protocol errors, shutdown) and
``abort`` to drop a slow consumer at once.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Protocol, cast, runtime_checkable

if TYPE_CHECKING:  # pragma: no cover
    from natskern.kernel.core.client import Client
    from natskern.kernel.server import Broker

__all__ = [
    "Connection",
    "ConnectionEvents",
    "Listener",
    "SessionProtocol",
    "TransportFactory",
]


@runtime_checkable
class Connection(Protocol):
    """The byte pipe a session writes to and controls (an :class:`asyncio.Transport` is one).

    Implementations must never call back into the session from inside these
    methods (no ``data_received`` or ``connection_lost`` during ``write`` or
    ``close``): report those from the event loop afterwards, as asyncio does.
    """

    def write(self, data: bytes) -> None:
        """Send ``data`` (the session's output since its last flush) without blocking.

        What cannot be sent at once is buffered and counted by
        :meth:`get_write_buffer_size`.
        """

    def get_write_buffer_size(self) -> int:
        """Bytes written but not yet handed to the peer (the session's slow-consumer measure)."""
        ...

    def pause_reading(self) -> None:
        """Stop delivering the peer's bytes to the session until :meth:`resume_reading`.

        The session uses it to slow down a publisher whose receivers fall behind;
        bytes sent meanwhile must wait in the transport (or the peer), not be lost.
        """

    def resume_reading(self) -> None:
        """Deliver the peer's bytes again (what waited comes first)."""

    def close(self) -> None:
        """Write what is buffered, then end the connection (``connection_lost`` follows)."""

    def abort(self) -> None:
        """End the connection at once, dropping what is buffered (slow consumers)."""

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """Details of the connection, by asyncio's names.

        The kernel asks for ``"peername"``: a ``(host, port, ...)`` tuple becomes
        the session's address (INFO's ``client_ip``, monitoring, logs); anything
        else leaves it empty.  Plugins may ask for more (``"sslcontext"``,
        ``"ssl_object"``, ``"socket"``, ``"sockname"``) and must accept ``default``.
        """


class ConnectionEvents(Protocol):
    """What a transport tells the session on its connection (a session from ``broker.accept``)."""

    def data_received(self, data: bytes) -> None:
        """Bytes from the peer, in order (any chunking)."""

    def pause_writing(self) -> None:
        """The connection's write buffer went over its high-water mark."""

    def resume_writing(self) -> None:
        """The connection's write buffer drained below its low-water mark."""

    def connection_lost(self, exc: BaseException | None) -> None:
        """The connection is gone: ``None`` for an orderly end, else what broke it."""


class Listener(Protocol):
    """What a transport factory returns: a listener the broker starts and stops."""

    #: The transport's name, as registered (for logs).
    name: str

    async def start(self) -> None:
        """Bind and start accepting; return once clients can connect."""

    async def close(self) -> None:
        """Stop accepting new connections (sessions already open are the broker's)."""

    @property
    def listen_url(self) -> str:
        """Where clients reach this transport (``nats://host:port``, ``unix:///path``)."""
        ...


class TransportFactory(Protocol):
    """What ``register_transports`` registers: ``factory(broker, section) -> Listener | None``."""

    def __call__(self, broker: Broker, section: dict[str, Any]) -> Listener | None:
        """A listener for the transport's validated config ``section``; None when it is disabled."""
        ...


class SessionProtocol(asyncio.Protocol):
    """The kernel's side of the seam for asyncio: one session on one stream transport.

    Give ``lambda: SessionProtocol(broker)`` to ``loop.create_server``,
    ``loop.create_unix_server``, ``loop.connect_accepted_socket`` or any
    other source of asyncio transports: each connection gets a session from
    :meth:`Broker.accept <natskern.kernel.server.Broker.accept>`, reads go to
    it, asyncio's write flow control and the end of the connection are
    reported to it.  EOF from the peer ends the connection (a NATS client that
    half-closes is gone).

    ``conn_type`` is the session's connection type in monitoring
    (``STANDARD``, ``WEBSOCKET``...); ``info`` adds INFO fields to every
    connection of this listener (``tls_required``...).
    """

    def __init__(
        self,
        broker: Broker,
        conn_type: str = "STANDARD",
        info: dict[str, Any] | None = None,
    ) -> None:
        self.broker = broker
        self.conn_type = conn_type
        #: Extra INFO fields for every connection of this listener.
        self.info = info
        #: The session on this connection; None before it is made, once it is lost, or if refused.
        self.session: Client | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Ask the broker for a session on the new connection."""
        self.session = self.broker.accept(
            cast(asyncio.Transport, transport), self.conn_type, self.info
        )

    def data_received(self, data: bytes) -> None:
        """Hand the bytes to the session."""
        # uvloop binds this method before connection_made, so it cannot be swapped
        # for the session's own; one call per read (not per message) is cheap.
        session = self.session
        if session is not None:
            session.data_received(data)

    def eof_received(self) -> bool:
        """The peer stopped sending: let asyncio close the connection."""
        return False

    def connection_lost(self, exc: BaseException | None) -> None:
        """Tell the session its connection is gone."""
        session = self.session
        if session is not None:
            self.session = None
            session.connection_lost(exc)

    def pause_writing(self) -> None:
        """Forward asyncio's high-water signal to the session."""
        if self.session is not None:
            self.session.pause_writing()

    def resume_writing(self) -> None:
        """Forward asyncio's low-water signal to the session."""
        if self.session is not None:
            self.session.resume_writing()
