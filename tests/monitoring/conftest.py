"""Fixtures for the monitoring and signal tests.

* ``http`` — an async HTTP/1.1 GET (the broker under test runs in the test's
  own event loop, so a blocking client would deadlock it);
* ``monitored`` — a natskern broker with monitoring on free loopback ports;
* ``gnatsd_monitored`` — the real nats-server with ``-m`` on a free port;
* ``natskern_server`` — starts ``natskern-server`` as a subprocess with a
  config file and waits for its port.

Deadlines here only stop a broken run from hanging; no test is decided by time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from natskern.plugins.monitoring import monitor_url

from natskern import Broker
from tests.support.servers import NATS_SERVER, free_port, nats_server, natskern, wait_for_port

REPO = Path(__file__).resolve().parents[2]


@dataclass
class HttpReply:
    """A parsed HTTP response."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)


async def http_request(
    base: str, path: str, *, method: str = "GET", raw: bytes | None = None
) -> HttpReply:
    """Send one request (``Connection: close``) to ``base`` and read the whole answer."""
    host, port = base.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        request = raw or (
            f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
        )
        writer.write(request)
        data = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding") == "chunked":
        body = _dechunk(body)
    return HttpReply(status, headers, body)


def _dechunk(data: bytes) -> bytes:
    out = bytearray()
    while True:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            return bytes(out)
        out += data[:size]
        data = data[size + 2 :]


Http = Callable[..., Awaitable[HttpReply]]


@pytest.fixture
def http() -> Http:
    """``await http(base_url, path)`` -> :class:`HttpReply`."""
    return http_request


@dataclass
class Monitored:
    """A running natskern broker with monitoring."""

    broker: Broker
    nats_url: str
    monitor_url: str


@contextlib.asynccontextmanager
async def monitored_broker(config: dict[str, Any] | None = None) -> AsyncIterator[Monitored]:
    """A natskern broker with monitoring enabled on a free port (extra config merged in)."""
    config = dict(config or {})
    config["monitoring"] = {"enabled": True, "port": 0, **config.get("monitoring", {})}
    async with natskern(config) as broker:
        yield Monitored(broker, broker.listen_urls[0], monitor_url(broker))


@pytest.fixture
async def monitored() -> AsyncIterator[Monitored]:
    """A natskern broker with monitoring on free loopback ports."""
    async with monitored_broker() as m:
        yield m


@dataclass
class GnatsdMonitored:
    """A running nats-server with monitoring."""

    nats_url: str
    monitor_url: str


@pytest.fixture
def gnatsd_monitored() -> Iterator[GnatsdMonitored]:
    """The real nats-server with ``-m``; skips when it is not installed."""
    if NATS_SERVER is None:
        pytest.skip("nats-server is not installed")
    mport = free_port()
    with nats_server(args=("-m", str(mport))) as url:
        wait_for_port(mport)
        yield GnatsdMonitored(url, f"http://127.0.0.1:{mport}")


@dataclass
class ServerProcess:
    """``natskern-server`` running as a subprocess."""

    proc: subprocess.Popen[bytes]
    port: int
    config: Path
    log: Path

    @property
    def url(self) -> str:
        """Its client URL."""
        return f"nats://127.0.0.1:{self.port}"

    def wait_log(self, text: str, timeout: float = 10.0) -> str:
        """Block until the log contains ``text``; return the log."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            content = self.log.read_text()
            if text in content:
                return content
            time.sleep(0.02)
        raise AssertionError(f"{text!r} never logged:\n{self.log.read_text()}")

    async def await_log(self, text: str, timeout: float = 10.0) -> str:
        """Like :meth:`wait_log`, without blocking the event loop."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            content = self.log.read_text()
            if text in content:
                return content
            await asyncio.sleep(0.02)
        raise AssertionError(f"{text!r} never logged:\n{self.log.read_text()}")

    def wait_exit(self, timeout: float = 15.0) -> int:
        """The exit status (kills the process if it does not exit in time)."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise


def server_env() -> dict[str, str]:
    """Environment for server subprocesses: the repo importable, no third-party plugins."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["NATSKERN_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    return env


@pytest.fixture
def natskern_server(tmp_path: Path) -> Iterator[Callable[[str], ServerProcess]]:
    """``start(conf_text)``: run natskern-server with that config (``{port}`` is filled in)."""
    started: list[ServerProcess] = []

    def start(conf_text: str, *args: str) -> ServerProcess:
        port = free_port()
        config = tmp_path / f"server{len(started)}.conf"
        config.write_text(conf_text.replace("{port}", str(port)))
        log = tmp_path / f"server{len(started)}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "natskern.natsconf.main", "-c", str(config), *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=server_env(),
                cwd=REPO,
            )
        server = ServerProcess(proc, port, config, log)
        started.append(server)
        wait_for_port(port)
        server.wait_log("Server is ready")
        return server

    yield start
    for server in started:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait()
