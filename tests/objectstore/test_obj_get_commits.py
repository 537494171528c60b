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
            assert commits <= 12, f"{commits} store commits for {chunks} chunks"
        finally:
            await nc.close()
