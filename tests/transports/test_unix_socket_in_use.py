"""The Unix socket transport and a socket file that already exists.

A socket a live broker serves is not taken over (the second broker fails to
start with ``EADDRINUSE``, as on a TCP port in use, and the first one keeps
serving its path); a stale socket file nobody listens on is replaced.
"""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path

import pytest

from natskern.cli.unix_transport import connect_unix
from tests.support.servers import natskern


async def test_a_second_broker_on_a_live_socket_refuses_to_start(tmp_path: Path) -> None:
    path = str(tmp_path / "live.sock")
    async with natskern({"tcp": {"enabled": False}, "unix": {"path": path}}):
        inode = os.stat(path).st_ino
        with pytest.raises(OSError) as failed:
            async with natskern({"tcp": {"enabled": False}, "unix": {"path": path}}):
                pass  # pragma: no cover - must not start
        assert failed.value.errno == errno.EADDRINUSE
        assert "address already in use" in str(failed.value)
        assert os.stat(path).st_ino == inode  # neither replaced nor deleted
        nc = await connect_unix(path)  # the first broker still serves it
        await nc.flush()
        await nc.close()
    assert not os.path.exists(path)  # the first broker removes its own file on exit


async def test_a_stale_socket_file_is_replaced_and_removed_on_exit(tmp_path: Path) -> None:
    path = str(tmp_path / "stale.sock")
    leftover = socket.socket(socket.AF_UNIX)
    leftover.bind(path)  # bound, never listening: what a crashed server leaves
    leftover.close()
    async with natskern({"tcp": {"enabled": False}, "unix": {"path": path}}):
        nc = await connect_unix(path)
        await nc.flush()
        await nc.close()
    assert not os.path.exists(path)


async def test_a_socket_file_replaced_meanwhile_is_not_deleted_on_exit(tmp_path: Path) -> None:
    path = str(tmp_path / "moved.sock")
    async with natskern({"tcp": {"enabled": False}, "unix": {"path": path}}):
        os.unlink(path)
        other = socket.socket(socket.AF_UNIX)
        other.bind(path)  # someone else's socket now lives at the path
    try:
        assert os.path.exists(path)
    finally:
        other.close()
