"""A real natskern-server killed with SIGKILL, its store damaged, started again: nats-py
sees every intact message, never the damaged ones, and the server's log reports both."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from nats.js.errors import NotFoundError

from tests.jetstream.test_restart import SERVER, connect_when_ready
from tests.store import fault_tools as ft
from tests.support.processes import server_process
from tests.support.servers import free_port

COUNT = 30


def _start(store: Path, log: Path):  # type: ignore[no-untyped-def]
    port = free_port()
    cmd = [SERVER, "-js", "-sd", str(store), "-p", str(port), "-a", "127.0.0.1"]
    if not os.path.exists(SERVER):
        cmd = [sys.executable, "-m", "natskern.natsconf.main", *cmd[1:]]
    env = {**os.environ, "NATSKERN_DISABLE_PLUGIN_AUTOLOAD": "1"}
    return f"nats://127.0.0.1:{port}", server_process(cmd, port, env=env, log=log, stop="kill")


def _stream_dir(store: Path) -> str:
    dirs = {os.path.dirname(p) for p in map(str, store.rglob("*.blk"))}
    assert len(dirs) == 1, dirs
    return dirs.pop()


async def test_a_flipped_bit_and_a_torn_tail_after_kill_9(tmp_path: Path) -> None:
    store = tmp_path / "store"
    url, proc = _start(store, tmp_path / "first.log")
    with proc:
        nc = await connect_when_ready(url)
        js = nc.jetstream()
        await js.add_stream(name="F", subjects=["f.>"])
        acks = [await js.publish(f"f.{i % 3}", b"payload-%d" % i) for i in range(1, COUNT + 1)]
        assert [a.seq for a in acks] == list(range(1, COUNT + 1))
        await nc.close()
    directory = _stream_dir(store)
    recs = {r.seq: r for r in ft.messages(directory)}
    victim, last = recs[7], recs[COUNT]
    ft.flip_bit(victim.path, victim.payload_at + 2, 3)
    with open(last.path, "r+b") as f:  # (the last record, cut short: a torn write)
        f.truncate(last.off + last.total - 5)
    log = tmp_path / "second.log"
    url, proc = _start(store, log)
    with proc:
        nc = await connect_when_ready(url)
        try:
            js = nc.jetstream()
            info = await js.stream_info("F")
            assert info.state.messages == COUNT - 2
            for seq in (7, COUNT):
                with pytest.raises(NotFoundError):
                    await js.get_msg("F", seq)
            for seq in (1, 6, 8, COUNT - 1):
                assert (await js.get_msg("F", seq)).data == b"payload-%d" % seq
            # (sequence 30 was handed out once: never again)
            assert (await js.publish("f.0", b"after")).seq == COUNT + 1
        finally:
            await nc.close()
    text = log.read_text(errors="replace")
    assert "stream F: corrupt record, sequence 7:" in text, text[-2000:]
    assert "truncated a torn record" in text and "(a partial write of sequence 30)" in text
