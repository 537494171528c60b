"""``publish_replies`` (a stream's acknowledgements in one call) delivers what one
``publish`` per answer delivers (property test).

Receiver sessions subscribe literal and wildcard reply subjects, in queue groups of one,
with ``UNSUB <max>`` limits, and an in-process callback subscription may match too; the
account may map subjects.  An internal session then answers a random list of reply
subjects (some empty: no answer wanted, some repeated) once with ``publish_replies`` and,
on a second broker, once with ``publish`` per answer: every session must receive the same
bytes, the callback the same messages, and the counters (the sublist's matches included) must agree.
"""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from natskern.kernel.core.internal import InternalClient
from natskern.kernel.core.subscription import Subscription

from natskern import Broker
from tests.core.test_batch_equivalence import CONNECT, IDLE_PLUGINS
from tests.support.transport import RecordingTransport

REPLIES = [b"", b"_INBOX.a.1", b"_INBOX.a.2", b"_INBOX.b.1", b"r.x", b"r.y", b"r.%d", b"nobody"]
PATTERNS = [b"_INBOX.a.*", b"_INBOX.a.1", b"_INBOX.>", b"r.x", b"r.*", b"_INBOX.b.1", b"r.%d"]

SETUP = st.lists(
    st.lists(
        st.tuples(
            st.sampled_from(PATTERNS),
            st.booleans(),  # in a queue group (of one)
            st.sampled_from([0, 0, 0, 1, 3]),  # UNSUB <max> (0: none)
        ),
        max_size=3,
    ),
    min_size=1,
    max_size=3,
)
ANSWERS = st.one_of(
    st.lists(st.sampled_from(REPLIES), max_size=30),
    # all to one subject (the path that builds one chunk)
    st.builds(lambda r, n: [r] * n, st.sampled_from(REPLIES[1:]), st.integers(2, 12)),
)


class _Observer:
    """Stands for the owner of an in-process subscription."""

    echo = True


async def answered(
    subs: list[list[tuple]], replies: list[bytes], batched: bool, mapped: bool, callback: bool
) -> list:
    config: dict = {"plugins": {"block": IDLE_PLUGINS}}
    if mapped:
        config["mappings"] = {"r.*": "_INBOX.b.$1"}
    async with Broker(config) as broker:
        seen: list[tuple] = []
        if callback:
            sub = Subscription(_Observer(), b"r.y", None, b"0", callback=lambda *m: seen.append(m))
            broker.global_account.sublist.insert(sub)
        sessions = []
        clients = []
        for n, entries in enumerate(subs):
            lines = []
            for sid, (pattern, queue, limit) in enumerate(entries, 1):
                q = b" q%d_%d" % (n, sid) if queue else b""
                lines.append(b"SUB %s%s %d\r\n" % (pattern, q, sid))
                if limit:
                    lines.append(b"UNSUB %d %d\r\n" % (sid, limit))
            transport = RecordingTransport()
            client = broker.accept(transport)
            client.data_received(CONNECT % b"true" + b"".join(lines))
            sessions.append(transport)
            clients.append(client)
        await asyncio.sleep(0)
        for t in sessions:
            t.writes.clear()
        internal = InternalClient(broker.global_account)
        payloads = [b'{"stream":"S","seq":%d}' % i for i in range(len(replies))]
        for reply in set(replies) - {b""}:  # cached from the second match on
            broker.global_account.sublist.match(reply)
            broker.global_account.sublist.match(reply)
        if batched:
            internal.publish_replies(replies, payloads)
        else:
            for reply, payload in zip(replies, payloads, strict=True):
                if reply:
                    internal.publish(reply, payload)
        broker.flush_dirty()
        counters = [
            (c.out_msgs, c.out_bytes, sorted(s.delivered for s in c.subs.values())) for c in clients
        ]
        return [
            [b"".join(t.writes) for t in sessions],
            seen,
            counters,
            (internal.in_msgs, internal.in_bytes),
            broker.global_account.sublist.count,
            broker.global_account.sublist._matches,
        ]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(SETUP, ANSWERS, st.booleans(), st.booleans())
def test_publish_replies_delivers_what_publish_per_answer_delivers(
    subs: list[list[tuple]], replies: list[bytes], mapped: bool, callback: bool
) -> None:
    batched = asyncio.run(answered(subs, replies, True, mapped, callback))
    single = asyncio.run(answered(subs, replies, False, mapped, callback))
    assert batched == single


async def test_answers_to_one_inbox_are_booked_as_one_delivery_run() -> None:
    """Many answers to one plain subscriber: one append to its buffer, frames byte-exact."""
    async with Broker({"plugins": {"block": IDLE_PLUGINS}}) as broker:
        transport = RecordingTransport()
        client = broker.accept(transport)
        client.data_received(CONNECT % b"true" + b"SUB _INBOX.* 7\r\n")
        await asyncio.sleep(0)
        transport.writes.clear()
        internal = InternalClient(broker.global_account)
        replies = [b"_INBOX.r", b"", b"_INBOX.r", b"_INBOX.s"]
        internal.publish_replies(replies, [b"a", b"b", b"cc", b"d"])
        assert client.out == [
            *(b"MSG _INBOX.r 7", b" 1\r\n", b"a", b"\r\n"),
            *(b"MSG _INBOX.r 7", b" 2\r\n", b"cc", b"\r\n"),
            *(b"MSG _INBOX.s 7", b" 1\r\n", b"d", b"\r\n"),
        ]
        broker.flush_dirty()
        assert transport.writes == [
            b"MSG _INBOX.r 7 1\r\na\r\nMSG _INBOX.r 7 2\r\ncc\r\nMSG _INBOX.s 7 1\r\nd\r\n"
        ]
        assert (client.out_msgs, client.out_bytes) == (3, 4)
        assert (internal.in_msgs, internal.in_bytes) == (3, 4)


@pytest.mark.parametrize(
    "subs",
    [
        [[(b"r.%d", False, 0)]],  # a literal subscription (its prebuilt MSG line has a %)
        [[(b"r.*", False, 0)]],
        [[(b"r.*", False, 2)]],  # UNSUB 2: message by message
        [[(b"r.*", True, 0)]],  # a queue group: message by message
        [[(b"r.*", False, 0)], [(b">", False, 0)]],  # two receivers
    ],
)
async def test_answers_all_to_one_subject(subs: list[list[tuple]]) -> None:
    replies = [b"r.%d"] * 5
    batched = await answered(subs, replies, True, False, False)
    single = await answered(subs, replies, False, False, False)
    assert batched == single
    assert batched[0][0]  # delivered
