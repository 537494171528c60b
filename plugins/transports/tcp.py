"""The TCP transport: NATS clients on ``host:port`` (default 127.0.0.1:4222).

When the ``[tls]`` section configures a certificate, every connection is TLS:
INFO in plain text followed by a handshake on the same socket (nats-server's
default), or the handshake first when ``handshake_first`` is set.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import Any

from natskern.kernel import const
from natskern.kernel.core.transport import SessionProtocol
from natskern.kernel.hookspecs import hookimpl
from natskern.kernel.schema_parts import listener_schema
from natskern.plugins.transports._listener import SocketListener
from natskern.plugins.transports._protocol import StartTlsProtocol
from natskern.plugins.transports.tls import tls_settings

log = logging.getLogger("natskern")

SCHEMA: dict[str, Any] = listener_schema(
    "TCP listener for NATS clients.",
    port=const.DEFAULT_PORT,
    enabled=True,
    properties={"backlog": {"type": "integer", "minimum": 1, "default": 1024}},
)


class TcpTransport(SocketListener):
    """Listens on a TCP address and hands each connection to the broker."""

    name = "tcp"

    def __init__(self, broker: Any, section: dict[str, Any]) -> None:
        self.broker = broker
        self.host: str = section["host"]
        self.port: int = max(section["port"], 0)
        self.backlog: int = section["backlog"]
        self.server: asyncio.Server | None = None

    async def start(self) -> None:
        """Bind the listening socket."""
        loop = asyncio.get_running_loop()
        factory, ssl_options = self._protocol_factory()
        self.server = await loop.create_server(
            factory,
            self.host,
            self.port,
            backlog=self.backlog,
            reuse_address=True,
            **ssl_options,
        )
        sock = self.server.sockets[0]
        self.port = sock.getsockname()[1]
        for s in self.server.sockets:
            if s.family in (socket.AF_INET, socket.AF_INET6):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.broker.advertise(self.host, self.port)

    def _protocol_factory(self) -> tuple[Callable[[], asyncio.Protocol], dict[str, Any]]:
        """The per-connection protocol and ``create_server`` TLS options for this listener."""
        broker = self.broker
        tls = tls_settings(broker)
        if tls is None:
            return (lambda: SessionProtocol(broker, "STANDARD")), {}
        log.info("TLS required for client connections")
        if tls.handshake_first:
            info = tls.info()
            options = {"ssl": tls.context, "ssl_handshake_timeout": tls.timeout}
            return (lambda: SessionProtocol(broker, "STANDARD", info)), options
        return (lambda: StartTlsProtocol(broker, "STANDARD", tls)), {}

    @property
    def listen_url(self) -> str:
        """``nats://host:port``."""
        return self.url("nats")


def make_transport(broker: Any, section: dict[str, Any]) -> TcpTransport | None:
    """The factory registered under ``tcp``; None when ``[tcp] enabled = false``."""
    if not section.get("enabled", True):
        return None
    return TcpTransport(broker, section)


@hookimpl
def config_schema() -> dict[str, Any]:
    """The ``[tcp]`` section."""
    return {"tcp": SCHEMA}


@hookimpl
def register_transports(register: Any) -> None:
    """Register the TCP transport."""
    register("tcp", make_transport)
