"""The asyncio protocol shared by the socket transports.

It only moves bytes: reads go straight to the session's parser, writes come
from the broker's per-iteration flush.  Everything else is the kernel's.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from kernel.core.client import Client
    from kernel.server import Broker


class NatsProtocol(asyncio.Protocol):
    """One client connection on a stream socket (TCP or Unix)."""

    def __init__(self, broker: Broker, conn_type: str = "STANDARD") -> None:
        self.broker = broker
        self.conn_type = conn_type
        self.client: Client | None = None
        self.paused_since = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.client = self.broker.accept(transport, self.conn_type)

    def data_received(self, data: bytes) -> None:
        # uvloop binds this method before connection_made, so it cannot be swapped
        # for the session's own; one call per read (not per message) is cheap.
        client = self.client
        if client is not None:
            client.data_received(data)

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: BaseException | None) -> None:
        if self.client is not None:
            self.client.connection_lost(exc)
            self.client = None

    def pause_writing(self) -> None:
        self.paused_since = time.monotonic()

    def resume_writing(self) -> None:
        self.paused_since = 0.0
