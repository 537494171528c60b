"""The Unix-domain-socket transport: the same protocol on a socket file."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import socket
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


def socket_in_use(path: str) -> bool:
    """Whether a server accepts connections on the Unix socket file ``path``.

    A non-blocking connect answers at once: it succeeds (or would block on a
    full backlog) when someone listens, and is refused on a stale file.
    """
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.setblocking(False)
        code = probe.connect_ex(path)
    finally:
        probe.close()
    return code in (0, errno.EAGAIN, errno.EINPROGRESS)


class UnixTransport:
    """Listens on a Unix socket file; replaces a stale socket file, never a live one."""

    name = "unix"

    def __init__(self, broker: Any, section: dict[str, Any]) -> None:
        self.broker = broker
        self.path: str = section["path"]
        self.mode = int(section["mode"], 8)
        self.server: asyncio.Server | None = None
        #: (device, inode) of the socket file this listener bound, to remove only its own.
        self._file_id: tuple[int, int] | None = None

    async def start(self) -> None:
        """Bind the socket file and set its mode.

        A socket file nobody listens on (left by a server that died) is
        replaced; one a live server is serving is refused with
        ``EADDRINUSE``, as a TCP port in use is, so that the second server
        neither steals the path nor deletes it when it stops.
        """
        if os.path.exists(self.path):
            if not stat.S_ISSOCK(os.stat(self.path).st_mode):
                raise ConfigError(f"unix.path: {self.path} exists and is not a socket")
            if socket_in_use(self.path):
                raise OSError(
                    errno.EADDRINUSE,
                    f"error while attempting to bind on address {self.path!r}: "
                    "address already in use (a server is listening on this socket)",
                )
            os.unlink(self.path)
        loop = asyncio.get_running_loop()
        self.server = await loop.create_unix_server(
            lambda: SessionProtocol(self.broker, "STANDARD"), self.path
        )
        os.chmod(self.path, self.mode)
        st = os.stat(self.path)
        self._file_id = (st.st_dev, st.st_ino)

    async def close(self) -> None:
        """Stop accepting and remove the socket file (if it is still the one bound here)."""
        if self.server is not None:
            self.server.close()
            self.server = None
            with contextlib.suppress(FileNotFoundError):
                st = os.stat(self.path)
                if (st.st_dev, st.st_ino) == self._file_id:
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
