"""nats-server's default TLS mode for the socket transports: INFO in plain text, then TLS.

The plain connection protocol is the kernel's
:class:`~natskern.kernel.core.transport.SessionProtocol`;
:class:`StartTlsProtocol` extends it with a TLS handshake on the same socket
before anything else is read.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, cast

from natskern.kernel.core.transport import SessionProtocol

if TYPE_CHECKING:  # pragma: no cover
    from natskern.kernel.core.client import Client
    from natskern.kernel.server import Broker
    from natskern.plugins.transports.tls import TlsSettings

log = logging.getLogger("natskern.tls")

#: The close reason nats-server records when a TLS handshake fails or times out.
TLS_HANDSHAKE_FAILURE = "TLS Handshake Failure"


class StartTlsProtocol(SessionProtocol):
    """INFO in plain text, then TLS on the same socket (nats-server's default TLS mode).

    The session exists from the start (INFO carries its ``client_id``); while
    the handshake runs its output waits in a :class:`_HandshakeTransport`, so a
    timer firing meanwhile (first PING, auth timeout) never writes clear text
    into the TLS stream.  On success the session's transport becomes the TLS
    transport; on failure or timeout the connection closes without a word, the
    way nats-server 2.9 does it.
    """

    def __init__(self, broker: Broker, conn_type: str, tls: TlsSettings) -> None:
        super().__init__(broker, conn_type, tls.info())
        self.tls = tls
        self._handshake: asyncio.Task[None] | None = None
        #: Bytes read in clear before ``start_tls`` took the socket over (the
        #: start of the ClientHello); None once the TLS protocol has them.
        self._early: bytearray | None = bytearray()
        self._raw: asyncio.Transport | None = None
        #: Decrypted bytes that arrive before the finished handshake is checked.
        self._decrypted: bytearray | None = bytearray()
        #: The client presented no certificate under ``verify``: refuse it.
        self._refused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Accept the session, send INFO in clear, start the TLS handshake."""
        raw = self._raw = cast(asyncio.Transport, transport)  # stream servers hand out Transports
        client = self.session = self.broker.accept(raw, self.conn_type, self.info)
        if client is None:
            return
        client.flush()  # INFO leaves in plain text before the handshake starts
        pending = _HandshakeTransport(raw)
        client.transport = pending
        self._handshake = self.broker.loop.create_task(self._start_tls(raw, pending, client))

    def data_received(self, data: bytes) -> None:
        """Before the upgrade, keep the bytes for TLS; after it, decrypted bytes for the session.

        uvloop starts reading right after :meth:`connection_made` and the
        handshake task only runs an iteration later, so a fast client's
        ClientHello can arrive here first; it must reach the TLS protocol,
        never the NATS parser (which would close the connection mid-handshake).
        """
        early = self._early
        if early is not None:
            early += data
            if self._raw is not None:  # start_tls resumes reading once it owns the socket
                self._raw.pause_reading()
            return
        if self._refused:
            if self.session is not None:
                self._refuse(self.session)
            return
        if self._decrypted is not None:
            # The handshake is done but not yet checked (client certificate): the
            # TLS protocol delivers what came with the client's Finished at once.
            self._decrypted += data
            return
        super().data_received(data)

    def _feed_early(self, raw: asyncio.Transport) -> None:
        """Give the bytes read in clear to the TLS protocol, before its handshake starts.

        Runs right after ``start_tls`` installed its protocol on ``raw`` and
        before it resumes reading, so the order of the peer's bytes is kept.
        """
        early, self._early = self._early, None
        protocol = raw.get_protocol()
        if not early or protocol is self or not hasattr(protocol, "buffer_updated"):
            return
        ssl_protocol = cast(asyncio.BufferedProtocol, protocol)  # uvloop's is one by duck type
        view = memoryview(early)
        while view:
            buf = memoryview(ssl_protocol.get_buffer(len(view)))
            n = min(len(buf), len(view))
            buf[:n] = view[:n]
            ssl_protocol.buffer_updated(n)
            view = view[n:]

    def _refuse(self, client: Client) -> None:
        """``verify`` and no client certificate: say so through TLS, then close.

        The upgrade context asks for a certificate without demanding it
        (``CERT_OPTIONAL``: a certificate that is presented must still verify),
        so that a client without one finishes the handshake and can be told why
        it is refused; OpenSSL's own alert would be lost when asyncio drops the
        socket on a failed handshake.
        """
        if client.closed:
            return
        client.send(b"-ERR '" + CERTIFICATE_REQUIRED.encode() + b"'\r\n")
        client.close(TLS_HANDSHAKE_FAILURE)

    async def _start_tls(
        self, raw: asyncio.Transport, pending: _HandshakeTransport, client: Client
    ) -> None:
        if client.closed or raw.is_closing():
            return
        loop = asyncio.get_running_loop()
        # Queued before start_tls queues the TLS protocol's connection_made and
        # resume_reading: runs after it installs its protocol, before either.
        loop.call_soon(self._feed_early, raw)
        try:
            secure = await loop.start_tls(
                raw,
                self,
                self.tls.upgrade_context or self.tls.context,
                server_side=True,
                ssl_handshake_timeout=self.tls.timeout,
            )
        except Exception as exc:  # ssl.SSLError, ConnectionError, TimeoutError...
            if not client.closed:
                log_handshake_error(client, describe_handshake_error(exc))
                client.close(TLS_HANDSHAKE_FAILURE)
            raw.abort()
            return
        if secure is None or client.closed:
            if secure is not None:
                secure.abort()
            return
        client.transport = secure
        if self.tls.verify and not secure.get_extra_info("peercert"):
            # Answer the client's first lines (nats-py writes CONNECT+PING, then
            # reads), so that it reads the refusal instead of a lost connection.
            log_handshake_error(client, "client didn't provide a certificate")
            sent, self._decrypted = self._decrypted, None
            self._refused = True
            if sent:
                self._refuse(client)
            else:
                loop.call_later(self.tls.timeout, self._refuse, client)
            return
        pending.hand_over(secure)
        if client.out:
            client.flush()
        decrypted, self._decrypted = self._decrypted, None
        if decrypted:
            client.data_received(bytes(decrypted))


#: What a client that must present a certificate and did not is told, through TLS.
CERTIFICATE_REQUIRED = "TLS Handshake Error: client certificate required"


def describe_handshake_error(exc: BaseException) -> str:
    """What went wrong in a failed handshake, for the log (never an empty string)."""
    if isinstance(exc, TimeoutError):
        return "handshake timeout"
    if getattr(exc, "reason", None) == "PEER_DID_NOT_RETURN_A_CERTIFICATE":
        return "client didn't provide a certificate"
    text = str(exc)
    if isinstance(exc, ConnectionResetError | BrokenPipeError | EOFError) or not text:
        return f"connection closed by the client ({text or type(exc).__name__})"
    return text


def log_handshake_error(client: Client, reason: str) -> None:
    """nats-server's ``TLS handshake error: <reason>`` line."""
    log.error(
        "%s:%d - cid:%d - TLS handshake error: %s", client.host, client.port, client.cid, reason
    )


class _HandshakeTransport:
    """Stands in for a session's transport while its TLS handshake runs.

    Output is held back (it must go through TLS); closing and aborting act on
    the socket at once, which fails the handshake and ends the session.
    """

    def __init__(self, raw: asyncio.Transport) -> None:
        self.raw = raw
        self.held: list[bytes] = []

    def write(self, data: bytes) -> None:
        """Hold ``data`` until the TLS transport exists."""
        self.held.append(bytes(data))

    def writelines(self, chunks: list[bytes]) -> None:
        """Hold every chunk."""
        for chunk in chunks:
            self.write(chunk)

    def hand_over(self, secure: asyncio.Transport) -> None:
        """Write what was held to the TLS transport."""
        if self.held:
            secure.write(b"".join(self.held))
            self.held.clear()

    def get_write_buffer_size(self) -> int:
        """Bytes held back."""
        return sum(len(chunk) for chunk in self.held)

    def pause_reading(self) -> None:
        """Reading belongs to the handshake meanwhile."""

    def resume_reading(self) -> None:
        """Reading belongs to the handshake meanwhile."""

    def is_closing(self) -> bool:
        """Whether the socket is closing."""
        return self.raw.is_closing()

    def close(self) -> None:
        """Close the socket (held output is dropped: it could not be sent in clear)."""
        self.held.clear()
        self.raw.close()

    def abort(self) -> None:
        """Drop the socket at once."""
        self.held.clear()
        self.raw.abort()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """The socket's details (``peername``...)."""
        return self.raw.get_extra_info(name, default)
