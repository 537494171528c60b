"""KV watchers through nats-py against natskern: concurrent writers, the initial-set switch."""

from __future__ import annotations

import asyncio
from typing import Any

import nats
from nats.js.api import KeyValueConfig


async def test_watch_while_another_client_writes_fast(url: str) -> None:
    """Initial values, the None marker, then every later revision: no gap, no duplicate."""
    writer = await nats.connect(url)
    reader = await nats.connect(url)
    try:
        wkv = await writer.jetstream().create_key_value(KeyValueConfig(bucket="fast", history=3))
        acks: list[tuple[str, int]] = []
        done = asyncio.Event()

        async def write(n: int) -> None:
            for i in range(n):
                key = f"k{i % 40}"
                acks.append((key, await wkv.put(key, b"%d" % i)))
            done.set()

        for i in range(200):
            acks.append((f"k{i % 40}", await wkv.put(f"k{i % 40}", b"pre")))
        task = asyncio.ensure_future(write(1500))
        await asyncio.sleep(0)
        rkv = await reader.jetstream().key_value("fast")
        w = await rkv.watchall()
        initial: list[Any] = []
        async for e in w:
            if e is None:
                break
            initial.append(e)
        live: list[Any] = []
        await task
        last = acks[-1][1]
        while not live or live[-1].revision < last:
            if initial and initial[-1].revision == last and not live:
                break
            live.append(await w.updates(timeout=10))
        await w.stop()
        seen = [e.revision for e in initial + live]
        assert seen == sorted(set(seen)), "out of order or duplicated"
        top = max(e.revision for e in initial)
        # initial: the latest revision of each key as of the snapshot
        latest: dict[str, int] = {}
        for key, rev in acks:
            if rev <= top:
                latest[key] = rev
        assert {e.key: e.revision for e in initial} == latest
        assert [e.revision for e in live] == [rev for _, rev in acks if rev > top]
        assert done.is_set()
    finally:
        await writer.close()
        await reader.close()


async def test_watch_initial_marker_before_an_immediate_put(url: str) -> None:
    nc = await nats.connect(url)
    try:
        kv = await nc.jetstream().create_key_value(KeyValueConfig(bucket="imm"))
        await kv.put("a", b"1")
        w = await kv.watchall()
        await kv.put("a", b"2")
        seen = []
        for _ in range(3):
            e = await w.updates(timeout=5)
            seen.append(None if e is None else (e.value, e.revision, e.delta))
        await w.stop()
        assert seen == [(b"1", 1, 0), None, (b"2", 2, 0)]
    finally:
        await nc.close()


async def test_watch_initial_marker_before_an_immediate_put_reference(reference_url: str) -> None:
    """The same on nats-server 2.15.1 (the expectation of the xfail test above)."""
    nc = await nats.connect(reference_url)
    try:
        kv = await nc.jetstream().create_key_value(KeyValueConfig(bucket="imm"))
        await kv.put("a", b"1")
        w = await kv.watchall()
        await kv.put("a", b"2")
        seen = []
        for _ in range(3):
            e = await w.updates(timeout=5)
            seen.append(None if e is None else (e.value, e.revision, e.delta))
        await w.stop()
        assert seen == [(b"1", 1, 0), None, (b"2", 2, 0)]
    finally:
        await nc.close()
