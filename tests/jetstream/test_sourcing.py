"""Mirrors and sources in one account, end to end through nats-py."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import nats
from nats.js.api import StreamConfig, StreamSource, SubjectTransform
from natskern.kernel.jetstream.sourcing import stream_identity
from natskern.kernel.jetstream.wire import time_ns

from tests.jetstream.test_api_e2e import jetstream_broker


async def _until(js: nats.js.JetStreamContext, name: str, messages: int) -> None:
    for _ in range(500):
        if (await js.stream_info(name)).state.messages >= messages:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{name} never reached {messages} messages")


async def test_mirror_and_sources(tmp_path: Path) -> None:
    async with jetstream_broker(tmp_path) as (broker, _):
        nc = await nats.connect(broker.listen_urls[0])
        js = nc.jetstream()
        await js.add_stream(name="O", subjects=["o.>"])
        await js.add_stream(name="P", subjects=["p.>"])
        await js.publish("p.b", b"p1")
        for i in range(5):
            await js.publish(f"o.{'a' if i % 2 else 'b'}", b"%d" % i)
        await js.delete_msg("O", 2)
        await js.add_stream(StreamConfig(name="M", mirror=StreamSource(name="O")))
        await _until(js, "M", 4)
        info = await js.stream_info("M")
        assert (info.state.first_seq, info.state.last_seq) == (1, 5)
        assert info.mirror is not None and info.mirror.name == "O" and info.mirror.lag == 0
        assert (await js.get_msg("M", 3)).data == b"2"
        cfg = StreamConfig(
            name="S",
            subjects=["s"],
            sources=[
                StreamSource(name="O", filter_subject="o.a"),
                StreamSource(
                    name="P", subject_transforms=[SubjectTransform(src="p.*", dest="from-p.$1")]
                ),
            ],
        )
        await js.add_stream(cfg)
        await _until(js, "S", 2)  # o.a seq 2 was deleted before
        info = await js.stream_info("S")
        assert sorted(s.name for s in info.sources) == ["O", "P"]
        msg = await js.get_last_msg("S", "from-p.b")
        assert msg.data == b"p1"
        created = json.loads((await nc.request("$JS.API.STREAM.INFO.P", b"")).data)["created"]
        ident = stream_identity(time_ns(created))
        assert msg.headers["Nats-Stream-Source"] == f"P 1 p.* from-p.$1 p.b {ident}"
        raw = json.loads((await nc.request("$JS.API.STREAM.INFO.S", b"")).data)
        assert {s["name"]: s.get("seq") for s in raw["sources"]} == {"O": 4, "P": 1}
        assert (await js.get_last_msg("S", "o.a")).data == b"3"
        await js.publish("o.a", b"late")
        await _until(js, "M", 5)
        await _until(js, "S", 3)
        await nc.close()
    async with jetstream_broker(tmp_path) as (broker, _):
        nc = await nats.connect(broker.listen_urls[0])
        js = nc.jetstream()
        await js.publish("o.a", b"after restart")
        await _until(js, "S", 4)
        # The source copies in order: anything copied twice would come before this.
        assert (await js.get_last_msg("S", "o.a")).data == b"after restart"
        assert (await js.stream_info("S")).state.messages == 4
        await _until(js, "M", 6)  # (the mirror copies on its own schedule)
        assert (await js.stream_info("M")).state.last_seq == 7
        await nc.close()
