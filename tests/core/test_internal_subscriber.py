"""Internal subscribers that consume asynchronously (kernel/core/internal.py), with back-pressure.

A real broker (over TCP and over the in-memory pipe transport) with nats-py publishers, an
in-process publisher, and an :class:`InternalSubscriber` whose consumer drains only when the
test lets it.  What a test decides never depends on timing: it waits for a state of the
broker (a session paused, a queue length), and a timeout only turns a hang into a failure.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import nats
import pytest
from natskern.kernel.core.internal import InternalClient, InternalSubscriber
from natskern.kernel.core.session import Session

from natskern import Broker, NoRespondersError
from tests.support.servers import connect, natskern, serve
from tests.support.sync import settle
from tests.support.transport import RecordingTransport

#: Upper bound for any single wait; reaching it means something hung (a failure).
HANG = 10.0
QUIET_CONNECT = b'CONNECT {"verbose":false,"pedantic":false}\r\n'

kinds = pytest.mark.parametrize("kind", ["natskern", "pipe"])


async def until(predicate: Callable[[], bool], what: str) -> None:
    """Wait until ``predicate()`` holds (checked every loop turn or so), or fail."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + HANG
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.001)


def session_named(broker: Broker, name: str) -> object:
    """The broker's session of the connection called ``name``."""
    (session,) = (c for c in broker.clients.values() if c.name == name)
    return session


def is_paused(session: object) -> bool:
    """The session's reading is paused, as the session and its transport both say."""
    paused: bool = session.reading_paused  # type: ignore[attr-defined]
    assert paused is not session.transport.is_reading()  # type: ignore[attr-defined]
    return paused


async def drain(
    ingest: InternalSubscriber, count: int, *, batch: int = 0, slow: float = 0.001
) -> list[tuple[bytes, bytes, bytes | None, bytes]]:
    """Take ``count`` messages from ``ingest``, a batch at a time, sleeping after each."""
    got: list[tuple[bytes, bytes, bytes | None, bytes]] = []
    while len(got) < count:
        more = await asyncio.wait_for(ingest.next_batch(batch), HANG)
        assert more, "the subscriber closed before everything arrived"
        assert batch == 0 or len(more) <= batch
        got.extend(more)
        await asyncio.sleep(slow)  # a deliberately slow consumer (an fsync, say)
    return got


def payloads(n: int, tag: bytes = b"") -> list[bytes]:
    return [tag + b"%06d" % i + b"." * 90 for i in range(n)]


@kinds
async def test_fast_publisher_is_paused_until_the_consumer_drains(kind: str) -> None:
    async with serve(kind, {}, None) as (url, broker):
        assert broker is not None
        ingest = InternalClient(broker.global_account, "ingest").capture(
            b"in.>", high_water=100, max_msgs=1_000_000
        )
        nc = await connect(url, name="fast")
        session = session_named(broker, "fast")
        sent = payloads(6000)
        for data in sent:
            await nc.publish("in.x", data)
        flushed = asyncio.ensure_future(nc.flush(timeout=HANG))

        # Nobody drains yet: the publisher goes over the high-water mark and is paused; its
        # PING sits unread behind the PUBs, so its flush cannot complete.
        await until(lambda: is_paused(session), "the publisher to be paused")
        assert ingest.holding and session in ingest.held
        assert len(ingest) > ingest.high_water
        assert not flushed.done()

        got = await drain(ingest, len(sent), batch=40)
        assert [m[3] for m in got] == sent  # nothing lost, nothing reordered
        assert {(m[0], m[1], m[2]) for m in got} == {(b"in.x", b"", None)}
        await asyncio.wait_for(flushed, HANG)
        assert not is_paused(session) and not ingest.holding
        assert ingest.dropped == 0
        assert session.in_msgs == len(sent)  # type: ignore[attr-defined]
        await nc.close()


@kinds
async def test_several_publishers_are_held_and_each_keeps_its_order(kind: str) -> None:
    async with serve(kind, {}, None) as (url, broker):
        assert broker is not None
        ingest = InternalClient(broker.global_account).capture(
            b"in.*", high_water=50, max_msgs=1_000_000
        )
        names = ["p0", "p1", "p2"]
        conns = [await connect(url, name=name) for name in names]
        sessions = [session_named(broker, name) for name in names]
        sent = {name.encode(): payloads(3000, name.encode()) for name in names}
        flushes = []
        for name, nc in zip(names, conns, strict=True):
            for data in sent[name.encode()]:
                await nc.publish("in." + name, data)
            flushes.append(asyncio.ensure_future(nc.flush(timeout=HANG)))

        await until(lambda: all(map(is_paused, sessions)), "every publisher to be paused")
        assert ingest.held == set(sessions)

        got = await drain(ingest, 9000, batch=64)
        for name in sent:
            assert [m[3] for m in got if m[0] == b"in." + name] == sent[name]
        await asyncio.wait_for(asyncio.gather(*flushes), HANG)
        assert not any(map(is_paused, sessions))
        for nc in conns:
            await nc.close()


async def test_an_in_process_publisher_awaits_until_drained() -> None:
    async with Broker({"tcp": {"enabled": False}}) as broker:
        ingest = InternalClient(broker.global_account).capture(b"in.x", high_water=10)
        app = broker.connect(name="app")
        sent = payloads(200)

        async def produce() -> None:
            for data in sent:
                await app.publish("in.x", data)

        producer = asyncio.ensure_future(produce())
        await until(lambda: app.paused, "the in-process publisher to wait")
        # It stopped right at the message that went over the mark.
        assert len(ingest) == ingest.high_water + 1 and not producer.done()

        got = await drain(ingest, len(sent), batch=7)
        await asyncio.wait_for(producer, HANG)
        assert [m[3] for m in got] == sent
        assert not app.paused and app.in_msgs == len(sent)
        await app.close()


@kinds
async def test_a_request_to_a_captured_subject_gets_no_503(kind: str) -> None:
    async with serve(kind, {}, None) as (url, broker):
        assert broker is not None
        store = InternalClient(broker.global_account, "store")
        ingest = store.capture(b"orders.>", high_water=1)

        async def consume() -> None:  # acknowledges each batch after "storing" it
            async for batch in ingest:
                await asyncio.sleep(0)
                for _subject, reply, _hdr, payload in batch:
                    if reply:
                        store.publish(reply, b"stored " + payload)

        consumer = asyncio.ensure_future(consume())
        nc = await connect(url)
        reply = await nc.request("orders.new", b"one", timeout=HANG)
        assert reply.data == b"stored one"
        app = broker.connect()
        got = await app.request("orders.new", b"two", timeout=HANG)
        assert got.data == b"stored two" and got.status is None

        # Even over its high-water mark the subscriber takes the request: still no 503.
        ingest.high_water_bytes = 1  # (every message is now over the mark)
        reply = await nc.request("orders.new", b"three", timeout=HANG)
        assert reply.data == b"stored three"
        # Once it is closed, nobody is there.
        ingest.close()
        await asyncio.wait_for(consumer, HANG)
        with pytest.raises(nats.errors.NoRespondersError):
            await nc.request("orders.new", b"four", timeout=HANG)
        with pytest.raises(NoRespondersError):
            await app.request("orders.new", b"five", timeout=HANG)
        await nc.close()
        await app.close()


@kinds
async def test_closing_the_subscriber_resumes_its_publishers(kind: str) -> None:
    async with serve(kind, {}, None) as (url, broker):
        assert broker is not None
        ingest = InternalClient(broker.global_account).capture(
            b"in.>", high_water=20, max_msgs=1_000_000
        )
        nc = await connect(url, name="held")
        session = session_named(broker, "held")
        app = broker.connect(name="app")
        for data in payloads(3000):
            await nc.publish("in.x", data)
        flushed = asyncio.ensure_future(nc.flush(timeout=HANG))
        await until(lambda: is_paused(session), "the socket publisher to be held")
        in_process = asyncio.ensure_future(app.publish("in.y", b"waiting"))
        await until(lambda: app.paused, "the in-process publisher to be held")
        assert not flushed.done() and not in_process.done()

        ingest.close()
        assert not is_paused(session) and not app.paused and not ingest.holding
        await asyncio.wait_for(asyncio.gather(flushed, in_process), HANG)
        # What it had taken in can still be drained; nothing more comes in.
        queued = ingest.take()
        assert queued and all(m[0] in (b"in.x", b"in.y") for m in queued)
        assert await ingest.next_batch() == []
        await nc.publish("in.x", b"late")
        await settle(nc)
        assert len(ingest) == 0
        await nc.close()
        await app.close()


async def test_a_held_publisher_s_parsed_messages_still_reach_everyone() -> None:
    async with natskern() as broker:
        watcher = await nats.connect(broker.listen_urls[0])
        everything = await watcher.subscribe(">")
        await settle(watcher)
        assert (await everything.next_msg(timeout=HANG)).subject.startswith("_INBOX.")
        internal = InternalClient(broker.global_account)
        slow = internal.capture(b"in.>", high_water=5, max_msgs=1000)
        other = internal.capture(b">", high_water=10_000)

        # One read: 30 PUBs for the slow subscriber (a run), then messages elsewhere (a
        # batch), then a PING.  The publisher is held after the first few, but everything
        # it had sent in that read is routed to every receiver, its own subscription too.
        transport = RecordingTransport()
        publisher = broker.accept(transport)
        assert publisher is not None
        publisher.data_received(QUIET_CONNECT + b"SUB echo 1\r\n")
        stream = b"".join(b"PUB in.x 2\r\n%02d\r\n" % i for i in range(30))
        stream += b"PUB out.a 1\r\na\r\nPUB echo 1\r\nb\r\nPUB out.c 1\r\nc\r\nPING\r\n"
        publisher.data_received(stream)
        assert publisher.reading_paused and publisher.holders == {slow}
        assert len(slow) == 30 and not other.holding

        subjects = [b"in.x"] * 30 + [b"out.a", b"echo", b"out.c"]
        assert [m[0] for m in other.take()] == subjects
        seen = [(await everything.next_msg(timeout=HANG)).subject for _ in subjects]
        assert seen == [s.decode() for s in subjects]
        broker.flush_dirty()
        written = b"".join(transport.writes)
        assert b"MSG echo 1 1\r\nb\r\n" in written and written.endswith(b"PONG\r\n")

        slow.take()  # drained: the publisher reads again
        assert not publisher.reading_paused and not publisher.holders
        await watcher.close()


async def test_overflow_is_counted_and_handed_over() -> None:
    async with Broker({"tcp": {"enabled": False}}) as broker:
        overflowed = []
        ingest = InternalClient(broker.global_account).capture(
            b"in.x",
            high_water=2,
            max_msgs=3,
            on_overflow=lambda s, r, h, p: overflowed.append(p),
        )
        internal = InternalClient(broker.global_account, "publisher")
        for i in range(5):  # an internal publisher is never held: the queue overflows
            assert internal.publish(b"in.x", b"%d" % i) == 1
        assert [m[3] for m in ingest.take()] == [b"0", b"1", b"2"]
        assert overflowed == [b"3", b"4"] and ingest.dropped == 2
        assert internal.in_msgs == 5 and ingest.owner.out_msgs == 3


async def test_marks_are_checked() -> None:
    async with Broker({"tcp": {"enabled": False}}) as broker:
        client = InternalClient(broker.global_account)
        with pytest.raises(ValueError):
            client.capture(b"x", high_water=0)
        with pytest.raises(ValueError):
            client.capture(b"x", high_water=10, low_water=10)
        with pytest.raises(ValueError):
            client.capture(b"x", high_water=10, max_msgs=5)
        assert client.subs == {}


async def test_every_session_kind_declares_the_contract() -> None:
    """The members the router uses exist on each session class (mypy checks the types)."""
    async with Broker({"tcp": {"enabled": False}}) as broker:
        members = [*Session.__annotations__, "remove_subscription", "stall_on"]
        members += ["pause_input", "resume_input"]
        sessions = [
            InternalClient(broker.global_account),
            broker.connect(),
            broker.accept(RecordingTransport()),
        ]
        for session in sessions:
            missing = [name for name in members if not hasattr(session, name)]
            assert missing == [], f"{type(session).__name__} lacks {missing}"


async def test_a_direct_consumer_takes_messages_while_the_queue_is_empty() -> None:
    """``direct`` sees what arrives while nothing waits; what it declines, and everything
    behind a queued message, is queued in order (runs and single messages alike)."""
    async with Broker({"tcp": {"enabled": False}}) as broker:
        ingest = InternalClient(broker.global_account).capture(b"d.>")
        took: list[bytes] = []
        accept = True

        def direct(msgs: list[tuple[bytes, bytes, bytes | None, bytes]]) -> bool:
            if accept:
                took.extend(m[3] for m in msgs)
            return accept

        ingest.direct = direct
        transport = RecordingTransport()
        publisher = broker.accept(transport)
        publisher.data_received(QUIET_CONNECT + b"PUB d.a 1\r\n1\r\nPUB d.a 1\r\n2\r\n")
        assert took == [b"1", b"2"] and len(ingest) == 0
        accept = False
        publisher.data_received(b"PUB d.b 1\r\n3\r\n")
        accept = True
        # "3" is queued: what follows must queue behind it, not overtake it
        publisher.data_received(b"PUB d.a 1\r\n4\r\nPUB d.b 1\r\n5\r\nPUB d.c 1\r\n6\r\n")
        assert took == [b"1", b"2"]
        assert [m[3] for m in ingest.take()] == [b"3", b"4", b"5", b"6"]
        publisher.data_received(b"PUB d.c 1\r\n7\r\n")
        assert took == [b"1", b"2", b"7"] and len(ingest) == 0
        assert ingest.owner.out_msgs == 7 and ingest.sub.delivered == 7
        assert publisher.in_msgs == 7
