"""What the socket listeners (TCP, WebSocket) share: closing, and the URL they advertise."""

from __future__ import annotations

import asyncio


class SocketListener:
    """Base of listeners bound to ``host:port`` with an :class:`asyncio.Server`."""

    host: str
    port: int
    server: asyncio.Server | None = None

    async def close(self) -> None:
        """Stop accepting connections (sessions already open are the broker's)."""
        if self.server is not None:
            self.server.close()
            self.server = None

    def url(self, scheme: str) -> str:
        """``scheme://host:port``, with IPv6 hosts in brackets."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"
