"""The WebSocket transport: NATS clients over ``ws://`` and ``wss://`` (nats-server's websocket).

Each connection starts as HTTP: :mod:`natskern.plugins.transports.wshandshake` checks
the upgrade request, then the connection becomes an ordinary broker session
(``conn_type`` ``WEBSOCKET``) whose transport is a :class:`WebSocketTransport`:
it frames whatever the session flushes as one binary message and forwards
flow control, closing and connection details to the socket.  Incoming frames
are decoded by :class:`natskern.plugins.transports.wsframes.FrameReader`, whose payload
goes straight to the session's parser.

The RFC 6455 framing is written here rather than taken from the
``websockets`` package's sans-IO protocol: NATS needs a byte stream, not
messages, so streaming each unmasked payload piece to the parser (no message
reassembly, no event objects) is both simpler and faster; only the C masking
routine of ``websockets`` is used, when it is installed.

Close frames follow nats-server: the status comes from the session's close
reason (1000 client closed, 1001 shutdown, 1002 protocol error, 1008 policy,
1009 payload too big, 1011 otherwise) and the reason text is the body.  Where
nats-server puts codes on the wire that RFC 6455 reserves (1005, 1006), a
valid code is sent instead: clients such as aiohttp reject the reserved ones.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, cast

from natskern.kernel.errors import ConfigError
from natskern.kernel.hookspecs import hookimpl
from natskern.kernel.schema_parts import listener_schema
from natskern.kernel.state import StateKey
from natskern.plugins.transports import wsframes as wf
from natskern.plugins.transports._listener import SocketListener
from natskern.plugins.transports.tls import CERT_PROPERTIES, build_context, tls_settings
from natskern.plugins.transports.wshandshake import HandshakeError, parse_request, upgrade

if TYPE_CHECKING:  # pragma: no cover
    import ssl

    from natskern.kernel.core.client import Client

log = logging.getLogger("natskern.websocket")

#: Longest HTTP request head accepted before the upgrade.
MAX_REQUEST_HEAD = 64 * 1024

SCHEMA: dict[str, Any] = listener_schema(
    "WebSocket listener for NATS clients (nats-server's websocket block).",
    port=8080,
    enabled=False,
    properties={
        "no_tls": {
            "type": "boolean",
            "default": False,
            "description": "serve plain ws:// (required when there is no tls block)",
        },
        "tls": {
            "type": "object",
            "additionalProperties": False,
            "properties": CERT_PROPERTIES,
        },
        "compression": {
            "type": "boolean",
            "default": False,
            "description": "accept permessage-deflate when a client offers it",
        },
        "handshake_timeout": {
            "type": "number",
            "exclusiveMinimum": 0,
            "default": 2.0,
            "description": "seconds a client has for the TLS and HTTP upgrade handshakes",
        },
    },
)

#: Close-frame status for each session close reason (nats-server's wsEnqueueCloseMessage).
_CLOSE_STATUS: dict[str, int] = {
    "Client Closed": wf.CLOSE_NORMAL,
    "Server Shutdown": wf.CLOSE_GOING_AWAY,
    "Stale Connection": wf.CLOSE_GOING_AWAY,
    "Read Error": wf.CLOSE_GOING_AWAY,
    "Write Error": wf.CLOSE_GOING_AWAY,
    "Authentication Timeout": wf.CLOSE_POLICY_VIOLATION,
    "Authentication Failure": wf.CLOSE_POLICY_VIOLATION,
    "Max Connections": wf.CLOSE_POLICY_VIOLATION,
    "Maximum Connections Exceeded": wf.CLOSE_POLICY_VIOLATION,
    "Maximum Control Line Exceeded": wf.CLOSE_POLICY_VIOLATION,
    "Maximum Subscriptions Exceeded": wf.CLOSE_POLICY_VIOLATION,
    "Protocol Violation": wf.CLOSE_PROTOCOL_ERROR,
    "Parser Error": wf.CLOSE_PROTOCOL_ERROR,
    "Unknown Protocol Operation": wf.CLOSE_PROTOCOL_ERROR,
    "invalid client protocol": wf.CLOSE_PROTOCOL_ERROR,
    "Maximum Payload Violation": wf.CLOSE_MESSAGE_TOO_BIG,
}


def close_status(reason: str) -> int:
    """The close-frame status for a session close ``reason``."""
    status = _CLOSE_STATUS.get(reason)
    if status is not None:
        return status
    if reason.startswith("Slow Consumer"):
        return wf.CLOSE_POLICY_VIOLATION
    return wf.CLOSE_INTERNAL_ERROR


class WebSocketTransport:
    """The transport a WebSocket session writes to: frames its output, forwards the rest.

    It is the session's :class:`~natskern.kernel.core.transport.Connection`:
    ``write`` frames, ``close`` sends the close frame first, the rest goes to
    the socket's transport.
    """

    def __init__(self, raw: asyncio.Transport, *, compress: bool, browser: bool) -> None:
        self.raw = raw
        self.deflater = wf.Deflater() if compress else None
        self.max_frame = wf.BROWSER_FRAME_SIZE if browser else 0
        #: The session on this connection, once the broker accepted it.
        self.session: Client | None = None
        #: The close frame's payload when it is not derived from the close reason
        #: (the client's own close frame echoed back, a framing error).
        self.close_with: bytes | None = None
        self.close_sent = False

    def write(self, data: bytes) -> None:
        """Send ``data`` as one binary message (or browser-sized pieces)."""
        if self.close_sent or not data:
            return
        if self.deflater is None and not self.max_frame:
            self.raw.write(wf.frame_header(wf.OP_BINARY, len(data)) + data)
            return
        self.raw.writelines(wf.data_frames(data, max_frame=self.max_frame, deflater=self.deflater))

    def writelines(self, chunks: list[bytes]) -> None:
        """Send the chunks as one message."""
        self.write(b"".join(chunks))

    def send_control(self, opcode: int, payload: bytes = b"") -> None:
        """Send a control frame (a pong, say) unless the close frame went out already."""
        if not self.close_sent and not self.raw.is_closing():
            self.raw.write(wf.control_frame(opcode, payload))

    def send_close(self, payload: bytes) -> None:
        """Send the close frame (only one per connection)."""
        if not self.close_sent and not self.raw.is_closing():
            self.raw.write(wf.control_frame(wf.OP_CLOSE, payload))
        self.close_sent = True

    def get_write_buffer_size(self) -> int:
        """Bytes the socket still has to send."""
        return self.raw.get_write_buffer_size()

    def pause_reading(self) -> None:
        """Stop reading the socket (publisher backpressure)."""
        self.raw.pause_reading()

    def resume_reading(self) -> None:
        """Read the socket again."""
        self.raw.resume_reading()

    def is_closing(self) -> bool:
        """Whether the socket is closing."""
        return self.raw.is_closing()

    def close(self) -> None:
        """Send the close frame after the pending output, then close the socket."""
        if self.close_with is not None:
            self.send_close(self.close_with)
        else:
            session = self.session
            # No session yet: the broker refused the connection (too many clients).
            reason = session.close_reason if session is not None else "Max Connections"
            reason = reason or "Client Closed"
            self.send_close(wf.close_payload(close_status(reason), reason))
        self.raw.close()

    def abort(self) -> None:
        """Drop the connection at once (slow consumers)."""
        self.close_sent = True
        self.raw.abort()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """The socket's details (``peername``, ``ssl_object``...)."""
        return self.raw.get_extra_info(name, default)


class WebSocketProtocol(asyncio.Protocol):
    """One WebSocket connection: the HTTP upgrade, then frames to and from a session."""

    def __init__(self, listener: WebSocketListener) -> None:
        self.listener = listener
        self.broker = listener.broker
        self.raw: asyncio.Transport | None = None
        self.head = bytearray()
        self.reader: wf.FrameReader | None = None
        self.ws: WebSocketTransport | None = None
        self.client: Client | None = None
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.raw = cast(asyncio.Transport, transport)  # stream servers hand out Transports
        self._timer = self.broker.loop.call_later(
            self.listener.handshake_timeout, self._handshake_timeout
        )

    def data_received(self, data: bytes) -> None:
        reader = self.reader
        if reader is not None:
            try:
                reader.feed(data)
            except wf.WsProtocolError as exc:
                self._protocol_error(exc)
            return
        if self.raw is None or self.raw.is_closing():
            return
        self.head += data
        end = self.head.find(b"\r\n\r\n")
        if end < 0:
            if len(self.head) > MAX_REQUEST_HEAD:
                self._refuse(HandshakeError(431, "request head too large"))
            return
        if end + 4 != len(self.head):
            # nats-server closes without answering (its HTTP response writer is gone by then).
            log.error("websocket handshake error: client sent data before handshake is complete")
            self._cancel_timer()
            self.raw.close()
            return
        self._upgrade(bytes(self.head[:end]))

    def _upgrade(self, head: bytes) -> None:
        raw = self.raw
        assert raw is not None
        try:
            result = upgrade(parse_request(head), compression=self.listener.compression)
        except HandshakeError as exc:
            self._refuse(exc)
            return
        self._cancel_timer()
        self.head = bytearray()
        raw.write(result.response)
        ws = self.ws = WebSocketTransport(raw, compress=result.compress, browser=result.browser)
        client = self.broker.accept(ws, "WEBSOCKET", self.listener.info)
        if client is None:
            return
        self.client = ws.session = client
        self.reader = wf.FrameReader(
            self._on_data, self._on_control, require_mask=not result.no_masking
        )

    def _on_data(self, chunk: bytes) -> None:
        client = self.client
        assert client is not None and self.reader is not None
        client.data_received(chunk)
        if client.closed:
            self.reader.closed = True

    def _on_control(self, opcode: int, payload: bytes) -> None:
        ws, client = self.ws, self.client
        assert ws is not None and client is not None
        if opcode == wf.OP_PING:
            ws.send_control(wf.OP_PONG, payload)
        elif opcode == wf.OP_CLOSE:
            # Echo the client's status (an empty close gets an empty one: 1005 is reserved).
            ws.close_with = payload if len(payload) >= 2 else b""
            client.close("Client Closed")

    def _protocol_error(self, exc: wf.WsProtocolError) -> None:
        ws, client = self.ws, self.client
        if self.reader is not None:
            self.reader.closed = True
        log.error("websocket protocol error: %s", exc)
        if ws is not None:
            ws.close_with = wf.close_payload(exc.status, str(exc))
        if client is not None:
            client.close("Read Error")  # nats-server's reason for a broken frame stream
        elif self.raw is not None:
            self.raw.close()

    def _refuse(self, exc: HandshakeError) -> None:
        log.error("%s", exc)
        self._cancel_timer()
        raw = self.raw
        if raw is not None and not raw.is_closing():
            raw.write(exc.response)
            raw.close()

    def _handshake_timeout(self) -> None:
        self._timer = None
        if self.reader is None and self.raw is not None:
            log.error("websocket handshake error: handshake timeout")
            self.raw.abort()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: BaseException | None) -> None:
        self._cancel_timer()
        if self.client is not None:
            self.client.connection_lost(exc)
            self.client = None

    def pause_writing(self) -> None:
        if self.client is not None:
            self.client.pause_writing()

    def resume_writing(self) -> None:
        if self.client is not None:
            self.client.resume_writing()


class WebSocketListener(SocketListener):
    """Listens for WebSocket connections (``ws://`` or ``wss://``)."""

    name = "websocket"

    def __init__(self, broker: Any, section: dict[str, Any]) -> None:
        self.broker = broker
        self.host: str = section["host"]
        self.port: int = max(section["port"], 0)
        self.compression: bool = section["compression"]
        self.handshake_timeout: float = section["handshake_timeout"]
        # Like nats-server: a tls block is used even when no_tls is also set.
        self.ssl: ssl.SSLContext | None = _SSL.get(broker)
        # nats-server sends its client port's INFO, TLS fields included.
        client_tls = tls_settings(broker)
        self.info: dict[str, Any] | None = client_tls.info() if client_tls else None
        self.server: asyncio.Server | None = None

    async def start(self) -> None:
        """Bind the listening socket."""
        loop = asyncio.get_running_loop()
        options: dict[str, Any] = {}
        if self.ssl is not None:
            options = {"ssl": self.ssl, "ssl_handshake_timeout": self.handshake_timeout}
        self.server = await loop.create_server(
            lambda: WebSocketProtocol(self),
            self.host,
            self.port,
            reuse_address=True,
            **options,
        )
        self.port = self.server.sockets[0].getsockname()[1]
        if self.ssl is None:
            log.warning("Websocket not configured with TLS. DO NOT USE IN PRODUCTION!")

    @property
    def listen_url(self) -> str:
        """``ws://host:port`` or ``wss://host:port``."""
        return self.url("wss" if self.ssl is not None else "ws")


def make_transport(broker: Any, section: dict[str, Any]) -> WebSocketListener | None:
    """The factory registered under ``websocket``; None unless ``[websocket] enabled``."""
    if not section.get("enabled"):
        return None
    return WebSocketListener(broker, section)


@hookimpl
def config_schema() -> dict[str, Any]:
    """The ``[websocket]`` section."""
    return {"websocket": SCHEMA}


#: The SSL context of the ``websocket.tls`` block, built once by ``configure``.
_SSL: StateKey[ssl.SSLContext] = StateKey("websocket")


@hookimpl
def configure(broker: Any, config: dict[str, Any]) -> None:
    """Check the section early: TLS or ``no_tls`` is required, certificates must load."""
    section = config.get("websocket", {})
    if not section.get("enabled"):
        return
    if section.get("tls"):
        _SSL.set(broker, build_context(section["tls"], "websocket.tls"))
    elif not section.get("no_tls"):
        raise ConfigError("websocket requires TLS configuration (a tls block or no_tls)")


@hookimpl
def register_transports(register: Any) -> None:
    """Register the WebSocket transport."""
    register("websocket", make_transport)
