"""The Unix-domain-socket transport: the same protocol on a socket file."""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
from typing import Any

from natskern.kernel.core.transport import SessionProtocol
from natskern.kernel.errors import ConfigError
from natskern.kernel.hookspecs import hookimpl

SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Unix domain socket listener; enabled when `path` is set.",
    "additionalProperties": False,
    "properties": {
        "path": {"type": "string", "default": ""},
        "mode": {
            "type": "string",
            "pattern": "^0?[0-7]{3}$",
            "default": "0600",
            "description": "file mode of the socket, octal",
        },
    },
}


class UnixTransport:
    """Listens on a Unix socket file; removes a stale socket file first."""

    name = "unix"

    def __init__(self, broker: Any, section: dict[str, Any]) -> None:
        self.broker = broker
        self.path: str = section["path"]
        self.mode = int(section["mode"], 8)
        self.server: asyncio.Server | None = None

    async def start(self) -> None:
        """Bind the socket file and set its mode."""
        if os.path.exists(self.path):
            if not stat.S_ISSOCK(os.stat(self.path).st_mode):
                raise ConfigError(f"unix.path: {self.path} exists and is not a socket")
            os.unlink(self.path)
        loop = asyncio.get_running_loop()
        self.server = await loop.create_unix_server(
            lambda: SessionProtocol(self.broker, "STANDARD"), self.path
        )
        os.chmod(self.path, self.mode)

    async def close(self) -> None:
        """Stop accepting and remove the socket file."""
        if self.server is not None:
            self.server.close()
            self.server = None
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)

    @property
    def listen_url(self) -> str:
        """``unix:///path``."""
        return f"unix://{os.path.abspath(self.path)}"


def make_transport(broker: Any, section: dict[str, Any]) -> UnixTransport | None:
    """The factory registered under ``unix``; None when no path is configured."""
    if not section.get("path"):
        return None
    return UnixTransport(broker, section)


@hookimpl
def config_schema() -> dict[str, Any]:
    """The ``[unix]`` section."""
    return {"unix": SCHEMA}


@hookimpl
def register_transports(register: Any) -> None:
    """Register the Unix socket transport."""
    register("unix", make_transport)
