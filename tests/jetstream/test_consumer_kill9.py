"""Consumer state across ``kill -9`` of a natskern-server process (file store).

Acks are group-committed with the stream (no fsync of their own), so after a crash an
acknowledged message may come back at most once more (at-least-once); what must hold:
no unacknowledged message is lost, delivery resumes after the last durable position,
and the consumer's sequences stay consistent.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import nats
from nats.js.api import ConsumerConfig

from tests.jetstream.test_restart import connect_when_ready, natskern_process
from tests.support.servers import free_port


async def test_kill_9_keeps_consumer_state(tmp_path: Path) -> None:
    port = free_port()
    url = f"nats://127.0.0.1:{port}"
    with natskern_process(tmp_path, port):
        nc = await connect_when_ready(url)
        js = nc.jetstream()
        await js.add_stream(name="K", subjects=["k.>"])
        for i in range(50):
            await js.publish("k.a", b"%d" % i)
        sub = await js.pull_subscribe("k.>", durable="d", config=ConsumerConfig(ack_wait=2))
        msgs = await sub.fetch(30, timeout=5)
        for m in msgs[:20]:
            await m.ack_sync()  # answered once recorded (staged for the next group commit)
        await js.publish("k.a", b"after")  # one more stream commit carries the staged acks
        await nc.close()
    # killed with SIGKILL: 20 acked, 10 delivered and unacked, 21 never delivered
    with natskern_process(tmp_path, port):
        nc = await connect_when_ready(url)
        js = nc.jetstream()
        info = await js.consumer_info("K", "d")
        assert info.ack_floor.stream_seq >= 20
        assert info.delivered.stream_seq >= info.ack_floor.stream_seq
        sub = await js.pull_subscribe("k.>", durable="d")
        seen: list[int] = []
        while True:
            try:
                batch = await sub.fetch(60, timeout=3)
            except nats.errors.TimeoutError:
                break
            for m in batch:
                seen.append(m.metadata.sequence.stream)
                await m.ack()
            if len(set(seen)) >= 31:
                break
        await asyncio.sleep(0)
        assert set(range(21, 52)) <= set(seen)  # nothing unacked is lost
        assert not set(seen) & set(range(1, 21))  # nothing acked comes back
        await nc.close()
