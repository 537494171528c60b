"""A consumer's ``mem_storage``: its state lives in memory, works as any other, and is gone
after a restart while a file-backed consumer of the same stream comes back (as on
nats-server 2.15.1, compared where it is installed)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest
from nats.js.api import ConsumerConfig
from nats.js.errors import NotFoundError

from tests.jetstream.test_restart import SERVER, connect_when_ready
from tests.support.processes import server_process
from tests.support.servers import NATS_SERVER_JS, free_port


def _natskern(store: Path, port: int) -> list[str]:
    cmd = [SERVER, "-js", "-sd", str(store), "-p", str(port), "-a", "127.0.0.1"]
    if not os.path.exists(SERVER):
        cmd = [sys.executable, "-m", "natskern.natsconf.main", *cmd[1:]]
    return cmd


def _nats_server(store: Path, port: int) -> list[str]:
    assert NATS_SERVER_JS is not None
    return [NATS_SERVER_JS, "-js", "-sd", str(store), "-p", str(port), "-a", "127.0.0.1"]


async def _info(js: Any, durable: str) -> tuple[Any, ...]:
    try:
        ci = await js.consumer_info("S", durable)
    except NotFoundError:
        return ("not found",)
    return (
        bool(ci.config.mem_storage),
        ci.delivered.stream_seq,
        ci.ack_floor.stream_seq,
        ci.num_ack_pending,
        ci.num_pending,
    )


async def _scenario(command: Any, tmp: Path) -> dict[str, Any]:
    """Two durables (memory and file state), deliveries and acks, a clean restart."""
    env = {**os.environ, "NATSKERN_DISABLE_PLUGIN_AUTOLOAD": "1"}
    store = tmp / "store"
    out: dict[str, Any] = {}
    port = free_port()
    with server_process(command(store, port), port, env=env):
        nc = await connect_when_ready(f"nats://127.0.0.1:{port}")
        js = nc.jetstream()
        await js.add_stream(name="S", subjects=["s.>"])
        for i in range(5):
            await js.publish("s.a", b"m%d" % i)
        for durable, memory in (("M", True), ("F", False)):
            await js.add_consumer(
                "S",
                ConsumerConfig(durable_name=durable, ack_policy="explicit", mem_storage=memory),
            )
            sub = await js.pull_subscribe_bind(durable, "S")
            msgs = await sub.fetch(3, timeout=5)
            out[f"{durable} data"] = [m.data for m in msgs]
            for msg in msgs[:2]:
                await msg.ack_sync()
        out["before"] = {d: await _info(js, d) for d in ("M", "F")}
        await nc.close()
    port = free_port()
    with server_process(command(store, port), port, env=env):
        nc = await connect_when_ready(f"nats://127.0.0.1:{port}")
        js = nc.jetstream()
        out["after"] = {d: await _info(js, d) for d in ("M", "F")}
        out["stream consumers"] = (await js.stream_info("S")).state.consumer_count
        await nc.close()
    return out


async def test_mem_storage_consumer_is_gone_after_a_restart(tmp_path: Path) -> None:
    ours = await _scenario(_natskern, tmp_path)
    assert ours["M data"] == ours["F data"] == [b"m0", b"m1", b"m2"]
    assert ours["before"] == {"M": (True, 3, 2, 1, 2), "F": (False, 3, 2, 1, 2)}
    assert ours["after"] == {"M": ("not found",), "F": (False, 3, 2, 1, 2)}
    assert ours["stream consumers"] == 1
    if NATS_SERVER_JS is None:
        pytest.skip("nats-server 2.15 is not installed: no comparison")
    theirs = await _scenario(_nats_server, tmp_path / "nats-server")
    assert ours == theirs
