"""Servers with JetStream for the stream/consumer CLI tests, and a nats-py publisher.

``js_server(kind, dir)`` starts nats-server 2.15 (``-js -sd``) or a natskern
broker (``natskern serve -c`` with ``jetstream.enabled``) on a free port.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest

from tests.cli.conftest import _natskern_available, cli_env, free_port
from tests.support.processes import server_process
from tests.support.servers import NATS_SERVER_JS

KINDS = ["nats-server", "natskern"]


@contextlib.contextmanager
def js_server(kind: str, home: Path) -> Iterator[str]:
    """Start a JetStream-enabled server of ``kind``; yield its URL."""
    port = free_port()
    if kind == "nats-server":
        if NATS_SERVER_JS is None:
            pytest.skip("nats-server 2.15 is not installed")
        cmd = [NATS_SERVER_JS, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(home / "js")]
        env = None
    else:
        reason = _natskern_available()
        if reason:
            pytest.skip(reason)
        conf = home / "natskern.json"
        conf.write_text(json.dumps({"jetstream": {"enabled": True, "store_dir": str(home / "js")}}))
        cmd = [sys.executable, "-m", "natskern.cli", "serve", "-c", str(conf),
               "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
        env = cli_env(home)
    with server_process(cmd, port, env=env):
        yield f"nats://127.0.0.1:{port}"


def publish(url: str, subject: str, bodies: list[bytes], headers: dict | None = None) -> None:
    """Publish ``bodies`` to ``subject`` through JetStream (each awaits its PubAck)."""

    async def main() -> None:
        nc = await nats.connect(url)
        try:
            js = nc.jetstream()
            for body in bodies:
                await js.publish(subject, body, headers=headers)
        finally:
            await nc.close()

    asyncio.run(main())
