"""Bucket mirrors, sources, republish and the other bucket options in process (``broker.kv``)."""

from __future__ import annotations

import asyncio

import nats
import pytest
from natskern.plugins.kv import KeyNotFoundError
from natskern.plugins.kv.api import KeyValue
from natskern.plugins.kv.config import bucket_prefixes, bucket_stream_config

from natskern import Broker


async def synced(kv: KeyValue, count: int) -> None:
    """Until the bucket's stream holds ``count`` messages."""
    for _ in range(500):
        if (await kv.status())["values"] == count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{kv.stream} never reached {count} messages")


def test_stream_config_shapes() -> None:
    mirror = bucket_stream_config("m", mirror="o", history=3)
    assert "subjects" not in mirror
    assert mirror["mirror"] == {"name": "KV_o"} and mirror["mirror_direct"] is True
    assert bucket_prefixes("m", mirror) == ("$KV.o.", "$KV.o.")
    ext = bucket_stream_config("m", mirror={"name": "KV_o", "domain": "HUB"})
    assert ext["mirror"] == {"name": "KV_o", "external": {"api": "$JS.HUB.API"}}
    assert bucket_prefixes("m", ext) == ("$KV.o.", "$JS.HUB.API.$KV.o.")
    src = bucket_stream_config("s", sources=["a", {"name": "KV_b", "opt_start_seq": 2}])
    assert src["subjects"] == ["$KV.s.>"]
    assert src["sources"] == [
        {"name": "KV_a", "subject_transforms": [{"src": "$KV.a.>", "dest": "$KV.s.>"}]},
        {
            "name": "KV_b",
            "opt_start_seq": 2,
            "subject_transforms": [{"src": "$KV.b.>", "dest": "$KV.s.>"}],
        },
    ]
    # an external source of the same name keeps its subjects (nats.go: no transform)
    same = bucket_stream_config("s", sources=[{"name": "s", "domain": "HUB"}])
    assert "subject_transforms" not in same["sources"][0]
    assert bucket_prefixes("s", src) == ("$KV.s.", "$KV.s.")
    full = bucket_stream_config(
        "f", compression=True, metadata={"a": "b"}, replicas=1, limit_marker_ttl=2
    )
    assert full["compression"] == "s2" and full["metadata"] == {"a": "b"}
    assert full["allow_msg_ttl"] and full["subject_delete_marker_ttl"] == 2_000_000_000
    with pytest.raises(ValueError):
        bucket_stream_config("x", mirror="o", sources=["p"])
    with pytest.raises(ValueError):
        bucket_stream_config("x", history=65)
    with pytest.raises(ValueError):
        bucket_stream_config("bad name")


async def test_mirror_bucket_reads_and_writes(broker: Broker) -> None:
    origin = await broker.kv("orig", create=True, history=5)
    await origin.put("a", b"1")
    await origin.put("b.x", b"2")
    await origin.put("a", b"3")
    await origin.delete("b.x")
    mirror = await broker.kv("mir", create=True, history=5, mirror="orig")
    await synced(mirror, 4)
    status = await mirror.status()
    cfg = status["stream_info"]["config"]
    assert "subjects" not in cfg and cfg["mirror_direct"] is True
    assert status["mirror"]["name"] == "KV_orig"
    e = await mirror.get("a")
    assert (e.bucket, e.key, e.value, e.revision) == ("mir", "a", b"3", 3)
    assert (await mirror.get("a", revision=1)).value == b"1"
    with pytest.raises(KeyNotFoundError):
        await mirror.get("b.x")
    with pytest.raises(KeyNotFoundError):
        await mirror.get("a", revision=2)  # another key's revision
    assert await mirror.keys() == ["a"]
    assert [(h.value, h.operation) for h in await mirror.history("b.x")] == [
        (b"2", None),
        (b"", "DEL"),
    ]
    async with mirror.watch(">") as w:
        got = [await w.next(5) for _ in range(3)]
        assert [(g.key, g.operation) if g else None for g in got] == [
            ("a", None),
            ("b.x", "DEL"),
            None,
        ]
        # a write through the mirror goes to the origin, and comes back mirrored
        rev = await mirror.put("c", b"4")
        live = await w.next(5)
        assert live is not None and (live.key, live.value, live.revision) == ("c", b"4", rev)
        # (only now: with mirror_direct the mirror may answer the origin's direct gets)
        assert (await origin.get("c")).revision == rev
    # reopened by name: the prefixes come from the stream's config
    again = await broker.kv("mir")
    assert (again.prefix, again.put_prefix) == ("$KV.orig.", "$KV.orig.")
    assert (await again.get("c")).value == b"4"
    # the origin deleted: its direct gets are answered by the mirror (mirror_direct)
    await origin.destroy()
    assert (await origin.get("a")).value == b"3"


async def test_sourced_bucket(broker: Broker) -> None:
    one = await broker.kv("one", create=True, history=5)
    two = await broker.kv("two", create=True, history=5)
    await one.put("a", b"1")
    await two.put("b", b"2")
    await two.delete("gone")
    agg = await broker.kv("agg", create=True, history=5, sources=["one", "two"])
    await synced(agg, 3)
    assert sorted(await agg.keys()) == ["a", "b"]
    assert (await agg.get("b")).value == b"2"
    with pytest.raises(KeyNotFoundError):
        await agg.get("gone")
    await agg.put("own", b"3")
    await one.put("a", b"new")
    await synced(agg, 5)
    assert (await agg.get("a")).value == b"new"
    assert [h.value for h in await agg.history("a")] == [b"1", b"new"]
    status = await agg.status()
    assert [s["name"] for s in status["sources"]] == ["KV_one", "KV_two"]


async def test_republish_and_options(broker: Broker, url: str) -> None:
    kv = await broker.kv(
        "rp",
        create=True,
        history=2,
        republish={"src": ">", "dest": "out.>"},
        metadata={"owner": "me"},
        description="republishing",
    )
    nc = await nats.connect(url)
    try:
        sub = await nc.subscribe("out.>")
        await nc.flush()
        rev = await kv.put("k", b"v")
        await kv.delete("k")
        first = await sub.next_msg(timeout=5)
        assert (first.subject, first.data) == ("out.$KV.rp.k", b"v")
        assert first.headers is not None and first.headers["Nats-Sequence"] == str(rev)
        second = await sub.next_msg(timeout=5)
        assert second.headers is not None and second.headers["KV-Operation"] == "DEL"
    finally:
        await nc.close()
    status = await kv.status()
    assert status["republish"] == {"src": ">", "dest": "out.>"}
    assert status["metadata"]["owner"] == "me"
    assert status["is_compressed"] is False
    # update: history raised, republish dropped
    updated = await broker.kv("rp", update=True, history=4, metadata={"owner": "me"})
    status = await updated.status()
    assert status["history"] == 4 and status["republish"] is None
    with pytest.raises(KeyNotFoundError):
        await updated.get("k")
