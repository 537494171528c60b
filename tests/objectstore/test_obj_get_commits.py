"""An object read back from disk costs the store no commit per chunk.

nats-py's object get is an ordered push consumer (ack none, flow control).  Its state
("delivered up to here") is written once per delivery round, not once per chunk: a
round reading chunks from disk yields at each read, and a state update queued at each
of them made a store commit (a write and an fdatasync) per chunk.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import nats

from tests.jetstream.test_api_e2e import jetstream_broker

SIZE = 12 << 20  # 96 chunks of 128 KiB: more than the file log keeps in memory (4 MiB)


async def test_object_get_from_disk_commits_per_round_not_per_chunk(tmp_path: Path) -> None:
    async with jetstream_broker(tmp_path) as (broker, js):
        nc = await nats.connect(broker.listen_urls[0])
        try:
            obs = await nc.jetstream().create_object_store("big")
            data = hashlib.sha256(b"o").digest() * (SIZE // 32)
            await obs.put("blob", data)
            log = next(iter(js.accounts.values())).streams["OBJ_big"].store._log
            commits = 0
            real = log.commit

            async def counted() -> None:
                nonlocal commits
                commits += 1
                await real()

            log.commit = counted
            got = await obs.get("blob")  # nats-py checks the digest
            assert got.data == data
            chunks = SIZE // (128 << 10)
            assert commits <= 24, f"{commits} store commits for {chunks} chunks"
        finally:
            await nc.close()


async def test_push_reads_from_disk_with_large_and_small_messages_mixed(tmp_path: Path) -> None:
    """After a large message read from disk the round loads the next one without peeking
    for it in memory: small ones between large ones still arrive, in order."""
    async with jetstream_broker(tmp_path) as (broker, _js):
        nc = await nats.connect(broker.listen_urls[0])
        try:
            js = nc.jetstream()
            await js.add_stream(name="MIX", subjects=["mix.>"])
            sent = []
            for i in range(120):  # 6 MiB of large ones: the oldest are read from disk
                data = bytes([i]) * (100_000 if i % 3 else 10)
                await js.publish(f"mix.{i % 7}", data)
                sent.append((f"mix.{i % 7}", data))
            sub = await js.subscribe("mix.>", ordered_consumer=True)
            got = []
            for _ in sent:
                msg = await sub.next_msg(5)
                got.append((msg.subject, msg.data))
            assert got == sent
        finally:
            await nc.close()
