"""Runs and batches deliver exactly what message-by-message routing delivers (property test).

A random stream of PUBs (few subjects, some with replies, some HPUBs, SUB/UNSUB in between)
is fed in one read to a publisher session (with or without echo, in an account with or
without a subject mapping, with or without an in-process subscriber, or an internal
subscriber with a bounded queue as a stream's ingest has, which takes runs in one call)
twice: once through the parser's fast path, which
hands runs and batches to the router, and once through its general path, which calls the
router once per message.  Every subscriber must receive the same messages both times.
Sessions sit on recording transports, so nothing depends on timing.
"""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from natskern.kernel.core.internal import InternalClient
from natskern.kernel.core.subscription import Subscription
from natskern.kernel.protocol.parser import Parser

from natskern import Broker
from tests.support.servers import natskern
from tests.support.transport import RecordingTransport

SUBJECTS = [b"a", b"b", b"a.x", b"a.y"]
PATTERNS = [b"a", b"b", b"a.*", b"*", b">", b"a.x", b"b.*"]
CONNECT = b'CONNECT {"verbose":false,"pedantic":false,"headers":true,"echo":%s}\r\n'
#: Built-in plugins with no part in these exchanges (no publish or delivery hook; the
#: sessions sit on recording transports, no listener; the mapping is ``b.$1``): blocked,
#: an example's two brokers build in a sixth of the time (plugin registration and schema
#: merging were ~90% of an example), so the examples can stay many.
IDLE_PLUGINS = [
    "tcp", "unix", "tls", "websocket", "monitoring", "storage.memory", "storage.file",
    "storage.rocksdb", "jetstream", "kv", "objectstore", "jetstream.commands", "cluster",
    "mappers.partition", "mappers.split", "mappers.slice", "mappers.leftright", "mappers.random",
]  # fmt: skip

PUB = st.tuples(st.just("pub"), st.sampled_from(SUBJECTS), st.sampled_from([b"", b"", b"_INBOX.r"]))
HPUB = st.tuples(st.just("hpub"), st.sampled_from(SUBJECTS), st.just(b""))
SUB = st.tuples(st.just("sub"), st.sampled_from(PATTERNS), st.sampled_from([b"", b"q"]))
UNSUB = st.tuples(st.just("unsub"), st.integers(1, 6), st.integers(0, 3))
BURST = st.tuples(st.just("burst"), st.sampled_from(SUBJECTS), st.integers(2, 6))
MIX = st.tuples(st.just("mix"), st.integers(0, 3), st.integers(2, 8))
OPS = st.lists(st.one_of(PUB, PUB, BURST, MIX, MIX, HPUB, SUB, SUB, UNSUB), max_size=40)


def render(ops: list[tuple], first_sid: int) -> bytes:
    """The publisher's stream: payloads number the messages, SIDs follow first_sid."""
    out = []
    sid = first_sid
    n = 0
    for op, a, b in ops:
        n += 1
        payload = b"%d" % n + b"." * (n % 4)
        if op in ("burst", "mix"):  # b PUBs on one subject (a run), or in turn (a batch)
            for k in range(b):
                n += 1
                payload = b"%d" % n + b"." * (n % 4)
                subject = a if op == "burst" else SUBJECTS[(a + k) % len(SUBJECTS)]
                out.append(b"PUB %s %d\r\n%s\r\n" % (subject, len(payload), payload))
        elif op == "pub":
            reply = b" " + b if b else b""
            out.append(b"PUB %s%s %d\r\n%s\r\n" % (a, reply, len(payload), payload))
        elif op == "hpub":
            hdr = b"NATS/1.0\r\nK: v\r\n\r\n"
            out.append(
                b"HPUB %s %d %d\r\n%s%s\r\n" % (a, len(hdr), len(hdr) + len(payload), hdr, payload)
            )
        elif op == "sub":
            queue = b" %s%d" % (b, sid) if b else b""  # a group of one: certain picks
            out.append(b"SUB %s%s %d\r\n" % (a, queue, sid))
            sid += 1
        else:
            out.append(
                b"UNSUB %d %d\r\n" % (first_sid + a, b) if b else b"UNSUB %d\r\n" % (first_sid + a)
            )
    return b"".join(out)


class _Ignore:
    """A parser handler that ignores everything."""

    def __getattr__(self, name: str):
        return lambda *args: None


def warm_size_cache() -> None:
    """The parser's fast path only takes size tokens it has validated once: show it all."""
    Parser(_Ignore()).feed(b"".join(b"PUB w %d\r\n%s\r\n" % (n, b"." * n) for n in range(200)))


class _Observer:
    """Stands for the owner of an internal subscription (it publishes nothing)."""

    echo = True


async def deliveries(
    ops: list[tuple],
    setup: list[bytes],
    echo: bool,
    fast: bool,
    mapped: bool,
    internal: bool,
    capture: bytes | None = None,
) -> list:
    """What each subscriber session (and the publisher) receives for ``ops``.

    ``mapped``: the account maps ``a.*`` to ``b.*``; ``internal``: an in-process
    subscription (a callback, as imports and in-process clients have) records ``>`` too;
    ``capture``: an internal subscriber (``InternalClient.capture``) takes that subject.
    """
    config: dict = {"plugins": {"block": IDLE_PLUGINS}}
    if mapped:
        config["mappings"] = {"a.*": "b.$1"}
    async with Broker(config) as broker:
        seen: list[tuple] = []
        if internal:
            sub = Subscription(_Observer(), b">", None, b"0", callback=lambda *m: seen.append(m))
            broker.global_account.sublist.insert(sub)
        captured = None
        if capture is not None:
            captured = InternalClient(broker.global_account).capture(capture)
        sessions = []
        for lines in setup:
            transport = RecordingTransport()
            client = broker.accept(transport)
            client.data_received(CONNECT % b"true" + lines)
            sessions.append(transport)
        transport = RecordingTransport()
        publisher = broker.accept(transport)
        publisher.data_received(CONNECT % (b"true" if echo else b"false"))
        sessions.append(transport)
        await asyncio.sleep(0)
        for t in sessions:
            t.writes.clear()
        publisher.parser._fast = fast
        publisher.data_received(render(ops, 100))
        broker.flush_dirty()
        got = [b"".join(t.writes) for t in sessions] + seen
        if captured is not None:
            got += [captured.take(), captured.sub.delivered, captured.owner.out_msgs]
        return got


SETUP = st.lists(
    st.lists(
        st.tuples(
            st.sampled_from(PATTERNS),
            st.sampled_from([b"", b"", b"solo"]),
            st.sampled_from([0, 0, 0, 2, 5]),  # UNSUB <max> (0: none)
        ),
        max_size=3,
    ),
    min_size=1,
    max_size=3,
)


def setup_lines(subs: list[list[tuple]]) -> list[bytes]:
    """SUB lines per subscriber session; each ``solo`` group has one member."""
    out = []
    for session, entries in enumerate(subs):
        lines = []
        for sid, (pattern, queue, limit) in enumerate(entries, 1):
            q = b" %s%d_%d" % (queue, session, sid) if queue else b""
            lines.append(b"SUB %s%s %d\r\n" % (pattern, q, sid))
            if limit:
                lines.append(b"UNSUB %d %d\r\n" % (sid, limit))
        out.append(b"".join(lines))
    return out


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    OPS,
    SETUP,
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.sampled_from([None, None, b"a", b"a.*", b"b.*", b">"]),
)
def test_fast_path_delivers_what_message_by_message_routing_delivers(
    ops: list[tuple],
    subs: list[list[tuple]],
    echo: bool,
    mapped: bool,
    internal: bool,
    capture: bytes | None,
) -> None:
    warm_size_cache()
    setup = setup_lines(subs)
    fast = asyncio.run(deliveries(ops, setup, echo, True, mapped, internal, capture))
    slow = asyncio.run(deliveries(ops, setup, echo, False, mapped, internal, capture))
    assert fast == slow


class StuckTransport(RecordingTransport):
    """A transport whose peer never reads: everything written stays buffered."""

    def get_write_buffer_size(self) -> int:
        return sum(map(len, self.writes))


async def cut_publisher(fast: bool, stream: bytes) -> tuple[bytes, bool]:
    """A publisher that receives its own messages on a stuck socket is cut as a slow
    consumer mid-read; return what another subscriber got, and whether the cut happened."""
    config = {"server": {"max_pending": 4096, "max_payload": 1024}}
    async with natskern(config) as broker:
        other = RecordingTransport()
        broker.accept(other).data_received(CONNECT % b"true" + b"SUB cut.* 1\r\n")
        publisher = broker.accept(StuckTransport())
        publisher.data_received(CONNECT % b"true" + b"SUB cut.* 1\r\n")
        await asyncio.sleep(0)
        other.writes.clear()
        publisher.parser._fast = fast
        publisher.data_received(stream)
        broker.flush_dirty()
        return b"".join(other.writes), publisher.closed


async def test_a_publisher_cut_mid_batch_stops_where_per_message_routing_stops() -> None:
    warm_size_cache()
    stream = b"".join(b"PUB cut.%d 40\r\n%s\r\n" % (k % 3, b"%040d" % k) for k in range(400))
    fast, fast_cut = await cut_publisher(True, stream)
    slow, slow_cut = await cut_publisher(False, stream)
    assert fast_cut and slow_cut
    assert 0 < fast.count(b"MSG cut.") < 400
    assert fast == slow
