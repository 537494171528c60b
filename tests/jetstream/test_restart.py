"""Restart after kill -9: acknowledged messages, sequences and the dedupe window come back."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import nats
from nats.errors import NoRespondersError
from nats.js.errors import ServiceUnavailableError

from tests.support.processes import server_process
from tests.support.servers import START_DEADLINE, free_port

SERVER = os.path.join(sysconfig.get_path("scripts"), "natskern-server")


async def connect_when_ready(url: str) -> nats.NATS:
    """Connect, then wait for the JetStream API: the broker binds its port before the
    plugin lifespans start the engine (nats-server starts JetStream first)."""
    nc = await nats.connect(url)
    deadline = asyncio.get_running_loop().time() + START_DEADLINE  # a safety net only
    while asyncio.get_running_loop().time() < deadline:
        try:
            await nc.jetstream().account_info()
            return nc
        except (NoRespondersError, ServiceUnavailableError):
            await asyncio.sleep(0.05)
    raise AssertionError("the JetStream API never answered")


@contextlib.contextmanager
def natskern_process(store: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    """``natskern-server -js -sd store`` on ``port``; killed with SIGKILL at the end."""
    cmd = [SERVER, "-js", "-sd", str(store), "-p", str(port), "-a", "127.0.0.1"]
    if not os.path.exists(SERVER):
        cmd = [sys.executable, "-m", "natskern.natsconf.main", *cmd[1:]]
    env = {**os.environ, "NATSKERN_DISABLE_PLUGIN_AUTOLOAD": "1"}
    with server_process(cmd, port, env=env, stop="kill") as proc:
        yield proc


async def test_kill_9_keeps_acknowledged_messages(tmp_path: Path) -> None:
    port = free_port()
    url = f"nats://127.0.0.1:{port}"
    with natskern_process(tmp_path, port):
        nc = await connect_when_ready(url)
        js = nc.jetstream()
        await js.add_stream(name="K", subjects=["k.>"], duplicate_window=60.0)
        acks = [
            await js.publish("k.a", b"%d" % i, headers={"Nats-Msg-Id": f"id{i}"}) for i in range(20)
        ]
        assert acks[-1].seq == 20
        await nc.close()
    port = free_port()
    url = f"nats://127.0.0.1:{port}"
    with natskern_process(tmp_path, port):
        nc = await connect_when_ready(url)
        js = nc.jetstream()
        info = await js.stream_info("K")
        assert (info.state.messages, info.state.first_seq, info.state.last_seq) == (20, 1, 20)
        assert info.config.duplicate_window == 60.0
        dup = await js.publish("k.a", b"x", headers={"Nats-Msg-Id": "id7"})
        assert dup.duplicate and dup.seq == 8
        assert (await js.publish("k.a", b"next")).seq == 21
        msg = await js.get_msg("K", 5)
        assert msg.data == b"4" and msg.headers == {"Nats-Msg-Id": "id4"}
        await nc.close()
