"""Core pub/sub through the official nats-py client: natskern over TCP and over the in-memory
pipe transport (tests/plugins/pipe_transport.py), and nats-server."""

from __future__ import annotations

import asyncio

import nats
import pytest

from tests.support.servers import connect
from tests.support.sync import settle


async def collect(sub, n: int, timeout: float = 2.0) -> list:
    msgs = []
    for _ in range(n):
        msgs.append(await sub.next_msg(timeout=timeout))
    return msgs


async def test_publish_reaches_subscriber(any_url: str) -> None:
    nc = await connect(any_url)
    sub = await nc.subscribe("greet.joe")
    await nc.publish("greet.joe", b"hello")
    msg = await sub.next_msg(timeout=2)
    assert (msg.subject, msg.data) == ("greet.joe", b"hello")
    await nc.close()


@pytest.mark.parametrize(
    ("pattern", "subject", "delivered"),
    [
        ("a.*", "a.b", True),
        ("a.*", "a.b.c", False),
        ("a.*", "a", False),
        ("a.>", "a.b.c", True),
        ("a.>", "a", False),
        (">", "x.y.z", True),
        ("*.b.*", "a.b.c", True),
    ],
)
async def test_wildcards(any_url: str, pattern: str, subject: str, delivered: bool) -> None:
    nc = await connect(any_url)
    sub = await nc.subscribe(pattern)
    await nc.publish(subject, b"x")
    await nc.flush()
    got = []
    try:
        while True:
            got.append(await sub.next_msg(timeout=0.2))
    except nats.errors.TimeoutError:
        pass
    assert (len(got) == 1) is delivered
    if delivered:
        assert got[0].subject == subject
    await nc.close()


async def test_overlapping_subscriptions_get_one_copy_each(any_url: str) -> None:
    nc = await connect(any_url)
    s1 = await nc.subscribe("a.*")
    s2 = await nc.subscribe("a.>")
    s3 = await nc.subscribe("a.b")
    await nc.publish("a.b", b"1")
    for s in (s1, s2, s3):
        assert (await s.next_msg(timeout=2)).data == b"1"
    await nc.close()


async def test_headers_round_trip(any_url: str) -> None:
    nc = await connect(any_url)
    sub = await nc.subscribe("h")
    await nc.publish("h", b"body", headers={"X-One": "1", "x-two": "two words"})
    msg = await sub.next_msg(timeout=2)
    assert msg.data == b"body"
    assert msg.headers == {"X-One": "1", "x-two": "two words"}
    await nc.close()


async def test_queue_group_each_message_once(any_url: str) -> None:
    pub = await connect(any_url)
    counts = [0, 0]
    plain = 0
    done = asyncio.Event()
    total = 2000

    def member(i: int):
        async def cb(msg) -> None:
            counts[i] += 1
            if sum(counts) == total:
                done.set()

        return cb

    async def plain_cb(msg) -> None:
        nonlocal plain
        plain += 1

    c1 = await connect(any_url)
    c2 = await connect(any_url)
    await c1.subscribe("work", queue="q", cb=member(0))
    await c2.subscribe("work", queue="q", cb=member(1))
    await c1.subscribe("work", cb=plain_cb)
    await settle(c1, c2)
    for i in range(total):
        await pub.publish("work", str(i).encode())
    await pub.flush()
    await asyncio.wait_for(done.wait(), 10)
    await c1.flush()
    assert sum(counts) == total
    assert plain == total
    # random member choice: each gets a fair share (p of failing this is astronomically small)
    assert min(counts) > total * 0.35
    for c in (pub, c1, c2):
        await c.close()


async def test_unsubscribe_with_max(any_url: str) -> None:
    nc = await connect(any_url)
    sub = await nc.subscribe("m", max_msgs=3)
    for i in range(5):
        await nc.publish("m", str(i).encode())
    await nc.flush()
    got = [m.data for m in await collect(sub, 3)]
    assert got == [b"0", b"1", b"2"]
    with pytest.raises(nats.errors.TimeoutError):
        await sub.next_msg(timeout=0.3)
    await nc.close()


async def test_unsubscribe_stops_delivery(any_url: str) -> None:
    nc = await connect(any_url)
    sub = await nc.subscribe("u")
    await nc.publish("u", b"1")
    assert (await sub.next_msg(timeout=2)).data == b"1"
    await sub.unsubscribe()
    sub2 = await nc.subscribe("u")
    await nc.publish("u", b"2")
    assert (await sub2.next_msg(timeout=2)).data == b"2"
    await nc.close()


async def test_no_echo(any_url: str) -> None:
    nc = await connect(any_url, no_echo=True)
    other = await connect(any_url)
    sub = await nc.subscribe("e")
    osub = await other.subscribe("e")
    await settle(nc, other)
    await nc.publish("e", b"mine")
    await other.publish("e", b"theirs")
    assert (await sub.next_msg(timeout=2)).data == b"theirs"
    assert {(await osub.next_msg(timeout=2)).data for _ in range(2)} == {b"mine", b"theirs"}
    await nc.close()
    await other.close()


async def test_empty_and_large_payloads(any_url: str) -> None:
    nc = await connect(any_url)
    sub = await nc.subscribe("big")
    big = bytes(range(256)) * 4096  # 1 MiB, the default max_payload
    await nc.publish("big", b"")
    await nc.publish("big", big)
    assert (await sub.next_msg(timeout=2)).data == b""
    assert (await sub.next_msg(timeout=5)).data == big
    await nc.close()


async def test_many_messages_in_order(any_url: str) -> None:
    nc = await connect(any_url)
    sub = await nc.subscribe("seq")
    n = 5000
    for i in range(n):
        await nc.publish("seq", str(i).encode())
    got = [int((await sub.next_msg(timeout=5)).data) for _ in range(n)]
    assert got == list(range(n))
    await nc.close()
