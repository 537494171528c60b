"""The in-process KV API (``broker.kv``) and remote nats-py clients on the same bucket."""

from __future__ import annotations

import nats
import pytest
from nats.js.api import KeyValueConfig
from natskern.plugins.kv import KeyNotFoundError, KeyWrongLastSequenceError

from natskern import Broker


async def test_inprocess_crud(broker: Broker) -> None:
    kv = await broker.kv("app", create=True, history=5)
    assert await kv.put("a", b"1") == 1
    assert await kv.put("a", b"2") == 2
    assert (await kv.get("a")).value == b"2"
    assert (await kv.get("a", revision=1)).value == b"1"
    with pytest.raises(KeyNotFoundError):
        await kv.get("nope")
    with pytest.raises(KeyWrongLastSequenceError):
        await kv.create("a", b"x")
    with pytest.raises(KeyWrongLastSequenceError):
        await kv.update("a", b"x", last=1)
    assert await kv.update("a", b"3", last=2) == 3
    await kv.delete("a")
    with pytest.raises(KeyNotFoundError):
        await kv.get("a")
    assert await kv.create("a", b"again") == 5
    await kv.put("b.c", b"x")
    await kv.purge("b.c")
    assert await kv.keys() == ["a"]
    assert [(e.value, e.operation) for e in await kv.history("a")] == [
        (b"1", None),
        (b"2", None),
        (b"3", None),
        (b"", "DEL"),
        (b"again", None),
    ]
    await kv.purge_deletes()
    status = await kv.status()
    assert status["values"] == 5 and status["history"] == 5
    again = await broker.kv("app")
    assert (await again.get("a")).revision == 5


async def test_inprocess_watch_variants(broker: Broker) -> None:
    kv = await broker.kv("w", create=True, history=10)
    await kv.put("a", b"1")
    await kv.put("b.x", b"2")
    await kv.delete("b.x")
    async with kv.watch(">") as w:
        got = [await w.next(5) for _ in range(3)]
        assert [(e.key, e.operation, e.delta) if e else None for e in got] == [
            ("a", None, 1),
            ("b.x", "DEL", 0),
            None,
        ]
        await kv.put("c", b"3")
        e = await w.next(5)
        assert e is not None and (e.key, e.value, e.revision) == ("c", b"3", 4)
    async with kv.watch(">", ignore_deletes=True, meta_only=True) as w:
        got = [await w.next(5) for _ in range(3)]
        assert [(e.key, e.value) if e else None for e in got] == [("a", b""), ("c", b""), None]
    async with kv.watch(">", updates_only=True) as w:
        assert await w.next(5) is None
        await kv.put("d", b"4")
        e = await w.next(5)
        assert e is not None and e.key == "d"
    async with kv.watch("b.*", include_history=True) as w:
        got = [await w.next(5) for _ in range(3)]
        assert [(e.value, e.operation) if e else None for e in got] == [
            (b"2", None),
            (b"", "DEL"),
            None,
        ]
    empty = await broker.kv("empty", create=True)
    async with empty.watch() as w:
        assert await w.next(5) is None


async def test_embedded_and_remote_see_each_other(broker: Broker, url: str) -> None:
    kv = await broker.kv("shared", create=True, history=3)
    nc = await nats.connect(url)
    try:
        remote = await nc.jetstream().key_value("shared")
        rw = await remote.watchall()
        assert await rw.updates(timeout=5) is None
        async with kv.watch() as lw:
            assert await lw.next(5) is None
            rev = await kv.put("from.app", b"hello")
            e = await rw.updates(timeout=5)
            assert (e.key, e.value, e.revision) == ("from.app", b"hello", rev)
            assert (await remote.get("from.app")).value == b"hello"
            rev2 = await remote.put("from.remote", b"hi")
            local = await lw.next(5)  # the app's own write first, then the remote one
            assert local is not None and local.key == "from.app"
            local = await lw.next(5)
            assert local is not None and (local.key, local.revision) == ("from.remote", rev2)
            assert (await kv.get("from.remote")).value == b"hi"
            await remote.update("from.app", b"v2", last=rev)
            with pytest.raises(KeyWrongLastSequenceError):
                await kv.update("from.app", b"v3", last=rev)
        await rw.stop()
    finally:
        await nc.close()


async def test_remote_bucket_config_matches(broker: Broker, url: str) -> None:
    """A bucket made in process has the stream config nats-py makes (nats-py binds it)."""
    await broker.kv("cfg", create=True, history=4, ttl=60, max_value_size=100)
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        mine = (await nc.jsm().stream_info("KV_cfg")).config
        await js.create_key_value(
            KeyValueConfig(bucket="ref", history=4, ttl=60, max_value_size=100)
        )
        ref = (await nc.jsm().stream_info("KV_ref")).config
        for field in (
            "max_msgs_per_subject",
            "max_age",
            "duplicate_window",
            "max_msg_size",
            "allow_rollup_hdrs",
            "deny_delete",
            "discard",
            "storage",
        ):
            assert getattr(mine, field) == getattr(ref, field), field
        # nats-py leaves allow_direct to KeyValueConfig.direct (False); nats.go sets it
        assert mine.allow_direct
    finally:
        await nc.close()


async def test_inprocess_watch_while_remote_writes_fast(broker: Broker, url: str) -> None:
    """An in-process watcher started mid-stream: the initial set, None, then every later
    revision exactly once, while a nats-py client writes as fast as it can."""
    import asyncio

    kv = await broker.kv("fast", create=True, history=2)
    nc = await nats.connect(url)
    try:
        remote = await nc.jetstream().key_value("fast")
        acks: list[tuple[str, int]] = []

        async def write(n: int) -> None:
            for i in range(n):
                key = f"k{i % 30}"
                acks.append((key, await remote.put(key, b"%d" % i)))

        await write(100)
        task = asyncio.ensure_future(write(1500))
        await asyncio.sleep(0)
        async with kv.watch() as w:
            initial = []
            while (e := await w.next(10)) is not None:
                initial.append(e)
            await task
            last = acks[-1][1]
            live = []
            top = max(e.revision for e in initial)
            while top < last and (not live or live[-1].revision < last):
                e = await w.next(10)
                assert e is not None
                live.append(e)
        revs = [e.revision for e in initial + live]
        assert revs == sorted(set(revs))
        latest: dict[str, int] = {}
        for key, rev in acks:
            if rev <= top:
                latest[key] = rev
        assert {e.key: e.revision for e in initial} == latest
        assert [e.revision for e in live] == [rev for _, rev in acks if rev > top]
    finally:
        await nc.close()
