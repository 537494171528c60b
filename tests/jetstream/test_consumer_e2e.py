"""Consumers end to end: nats-py's pull and push consumers, acks and redelivery against natskern."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StreamConfig
from nats.js.errors import NotFoundError

from tests.jetstream.test_api_e2e import jetstream_broker

SEC = 1.0


STORAGE = "file"


@pytest.fixture(params=["file", "memory"])
async def nc(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[nats.NATS]:
    """A client of a natskern broker; the tests' stream uses the file or the memory store."""
    global STORAGE
    STORAGE = request.param
    async with jetstream_broker(tmp_path) as (broker, _):
        client = await nats.connect(broker.listen_urls[0])
        try:
            yield client
        finally:
            await client.close()


async def _stream(nc: nats.NATS, n: int = 0, **kw: object) -> None:
    cfg = StreamConfig(name="S", subjects=["s.>"], storage=STORAGE, **kw)  # type: ignore[arg-type]
    await nc.jsm().add_stream(cfg)
    js = nc.jetstream()
    for i in range(n):
        await js.publish(f"s.{i % 3}", b"m%d" % i)


async def test_pull_fetch_ack(nc: nats.NATS) -> None:
    await _stream(nc, 10)
    js = nc.jetstream()
    sub = await js.pull_subscribe("s.>", durable="d1")
    msgs = await sub.fetch(4, timeout=5)
    assert [m.data for m in msgs] == [b"m0", b"m1", b"m2", b"m3"]
    assert msgs[0].metadata.sequence.stream == 1 and msgs[0].metadata.num_pending == 9
    assert msgs[3].metadata.num_pending == 6 and msgs[3].metadata.num_delivered == 1
    for m in msgs:
        await m.ack()
    await msgs[-1].ack_sync() if False else None
    info = await js.consumer_info("S", "d1")
    assert info.delivered.consumer_seq == 4 and info.delivered.stream_seq == 4
    assert info.num_pending == 6
    for _ in range(50):
        info = await js.consumer_info("S", "d1")
        if info.ack_floor.stream_seq == 4:
            break
        await asyncio.sleep(0.02)
    assert info.ack_floor.consumer_seq == 4 and info.num_ack_pending == 0
    rest = await sub.fetch(10, timeout=5)
    assert len(rest) == 6
    with pytest.raises(nats.errors.TimeoutError):
        await sub.fetch(1, timeout=0.5)


async def test_pull_filter_and_num_pending(nc: nats.NATS) -> None:
    await _stream(nc, 9)
    js = nc.jetstream()
    sub = await js.pull_subscribe("s.1", durable="f1")
    info = await js.consumer_info("S", "f1")
    assert info.num_pending == 3
    msgs = await sub.fetch(10, timeout=1)
    assert [m.metadata.sequence.stream for m in msgs] == [2, 5, 8]
    await nc.jsm().delete_msg("S", 9)
    await js.publish("s.1", b"x")
    info = await js.consumer_info("S", "f1")
    assert info.num_pending == 1


async def test_redelivery_after_ack_wait_and_nak(nc: nats.NATS) -> None:
    await _stream(nc, 2)
    js = nc.jetstream()
    sub = await js.pull_subscribe(
        "s.>", durable="r1", config=ConsumerConfig(ack_wait=0.3, max_deliver=3)
    )
    first = await sub.fetch(2, timeout=5)
    await first[1].ack()
    await first[0].nak()
    again = await sub.fetch(1, timeout=5)
    assert again[0].metadata.sequence.stream == 1 and again[0].metadata.num_delivered == 2
    # not acked: redelivered after ack_wait, up to max_deliver
    third = await sub.fetch(1, timeout=5)
    assert third[0].metadata.num_delivered == 3
    with pytest.raises(nats.errors.TimeoutError):
        await sub.fetch(1, timeout=1)
    info = await js.consumer_info("S", "r1")
    assert info.num_redelivered == 1 and info.num_ack_pending == 0
    assert info.delivered.consumer_seq == 4


async def test_ack_sync_and_term(nc: nats.NATS) -> None:
    await _stream(nc, 2)
    js = nc.jetstream()
    sub = await js.pull_subscribe("s.>", durable="t1", config=ConsumerConfig(ack_wait=0.3))
    msgs = await sub.fetch(2, timeout=5)
    await msgs[0].ack_sync(timeout=2)
    await msgs[1].term()
    await asyncio.sleep(0.6)
    with pytest.raises(nats.errors.TimeoutError):
        await sub.fetch(1, timeout=0.5)
    info = await js.consumer_info("S", "t1")
    assert info.num_ack_pending == 0 and info.ack_floor.stream_seq == 2


async def test_push_subscribe(nc: nats.NATS) -> None:
    await _stream(nc, 5)
    js = nc.jetstream()
    got: list[bytes] = []
    done = asyncio.Event()

    async def cb(msg: nats.aio.msg.Msg) -> None:
        got.append(msg.data)
        await msg.ack()
        if len(got) == 7:
            done.set()

    await js.subscribe("s.>", durable="p1", cb=cb, manual_ack=True)
    await js.publish("s.x", b"late1")
    await js.publish("s.x", b"late2")
    await asyncio.wait_for(done.wait(), 5)
    assert got == [b"m0", b"m1", b"m2", b"m3", b"m4", b"late1", b"late2"]
    info = await js.consumer_info("S", "p1")
    assert info.push_bound and info.num_pending == 0


async def test_push_ordered_consumer(nc: nats.NATS) -> None:
    await _stream(nc, 20)
    js = nc.jetstream()
    sub = await js.subscribe("s.>", ordered_consumer=True)
    got = [await sub.next_msg(timeout=5) for _ in range(20)]
    assert [m.metadata.sequence.stream for m in got] == list(range(1, 21))


async def test_consumer_management(nc: nats.NATS) -> None:
    await _stream(nc, 3)
    jsm = nc.jsm()
    info = await jsm.add_consumer(
        "S",
        ConsumerConfig(
            durable_name="m1", ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.LAST
        ),
    )
    assert info.name == "m1" and info.num_pending == 1 and info.delivered.stream_seq == 2
    await jsm.add_consumer("S", ConsumerConfig(durable_name="m2", filter_subject="s.0"))
    names = [c.name for c in await jsm.consumers_info("S")]
    assert names == ["m1", "m2"]
    assert await jsm.delete_consumer("S", "m1")
    with pytest.raises(NotFoundError):
        await jsm.consumer_info("S", "m1")
    info = await jsm.stream_info("S")
    assert info.state.consumer_count == 1


async def test_fetch_no_wait_and_expires(nc: nats.NATS) -> None:
    await _stream(nc, 1)
    js = nc.jetstream()
    sub = await js.pull_subscribe("s.>", durable="n1")
    msgs = await sub.fetch(5, timeout=1)
    assert len(msgs) == 1
    with pytest.raises(nats.errors.TimeoutError):
        await sub.fetch(5, timeout=0.5)
    # a request waiting for messages is served when they arrive
    task = asyncio.create_task(sub.fetch(1, timeout=5))
    await asyncio.sleep(0.2)
    await js.publish("s.z", b"new")
    late = await task
    assert late[0].data == b"new"


async def test_v2_ack_subject_accepted(nc: nats.NATS) -> None:
    await _stream(nc, 2)
    js = nc.jetstream()
    sub = await js.pull_subscribe("s.>", durable="v2")
    msgs = await sub.fetch(2, timeout=5)
    t = msgs[0].reply.split(".")  # $JS.ACK.S.v2.<dc>.<sseq>.<cseq>.<ts>.<pending>
    v2 = ".".join(["$JS", "ACK", "_", "HASH", *t[2:], "tok"])
    await nc.request(v2, b"+ACK", timeout=5)  # AckSync on the 12-token form
    info = await js.consumer_info("S", "v2")
    assert info.ack_floor.stream_seq == 1 and info.num_ack_pending == 1


async def test_advisories(nc: nats.NATS) -> None:
    adv = await nc.subscribe("$JS.EVENT.ADVISORY.CONSUMER.>")
    await _stream(nc, 2)
    js = nc.jetstream()
    sub = await js.pull_subscribe("s.>", durable="a", config=ConsumerConfig(max_deliver=2))
    m1, m2 = await sub.fetch(2, timeout=5)
    await m1.nak()
    await m2.term()
    (again,) = await sub.fetch(1, timeout=5)
    await again.nak()
    with pytest.raises(nats.errors.TimeoutError):
        await sub.fetch(1, timeout=0.5)
    await nc.jsm().delete_consumer("S", "a")
    expected = [
        ("$JS.EVENT.ADVISORY.CONSUMER.CREATED.S.a", "consumer_action"),
        ("$JS.EVENT.ADVISORY.CONSUMER.MSG_NAKED.S.a", "nak"),
        ("$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.S.a", "terminated"),
        ("$JS.EVENT.ADVISORY.CONSUMER.MSG_NAKED.S.a", "nak"),
        ("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.S.a", "max_deliver"),
        ("$JS.EVENT.ADVISORY.CONSUMER.DELETED.S.a", "consumer_action"),
    ]
    seen = []
    # As many as expected, each awaited long (a loaded machine must not drop one), then no more.
    for _ in expected:
        msg = await adv.next_msg(timeout=10)
        seen.append((msg.subject, json.loads(msg.data)["type"].rsplit(".", 1)[1]))
    with pytest.raises(nats.errors.TimeoutError):
        extra = await adv.next_msg(timeout=0.3)
        seen.append((extra.subject, json.loads(extra.data)["type"]))
    assert seen == expected


async def test_ack_sampling(nc: nats.NATS) -> None:
    metrics = await nc.subscribe("$JS.EVENT.METRIC.CONSUMER.ACK.S.m")
    await _stream(nc, 3)
    js = nc.jetstream()
    sub = await js.pull_subscribe("s.>", durable="m", config=ConsumerConfig(sample_freq="100%"))
    for m in await sub.fetch(3, timeout=5):
        await m.ack()
    got = [json.loads((await metrics.next_msg(timeout=5)).data) for _ in range(3)]
    assert [g["stream_seq"] for g in got] == [1, 2, 3]
    assert got[0]["type"] == "io.nats.jetstream.metric.v1.consumer_ack"
    assert all(g["ack_time"] > 0 and g["deliveries"] == 1 for g in got)
