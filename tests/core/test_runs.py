"""Runs and batches: bursts of PUBs routed together (natskern.kernel.core.router.publish_run/_batch).

A burst of PUBs written in one go reaches the server in a few reads, so the parser hands it
to the router as runs (one subject) and batches (reply-less PUBs on varying subjects).
Whatever they do must be what the same messages do one at a time: the same receivers, in
order, queue members picked per message, auto-unsubscribe limits, no-echo, in-process
subscribers and mappings.  The raw-socket exchanges run against nats-server too.
"""

from __future__ import annotations

import asyncio
import re

import pytest

from natskern import Broker
from tests.support.fixtures import over_pipe_too
from tests.support.servers import connect, raw_connect, serve

CONNECT = b'CONNECT {"verbose":false,"pedantic":false,"echo":%s}\r\n'
MSG = re.compile(rb"MSG (\S+) (\S+) (?:(\S+) )?(\d+)\r\n")


async def raw_client(url: str, lines: bytes = b"", echo: bool = True):
    """A connected raw session that has sent ``lines`` (SUBs...) and had them processed."""
    reader, writer = await raw_connect(url)
    await reader.readuntil(b"\r\n")  # INFO
    writer.write(CONNECT % (b"true" if echo else b"false") + lines + b"PING\r\n")
    assert await reader.readuntil(b"PONG\r\n") == b"PONG\r\n"
    return reader, writer


async def next_line(reader: asyncio.StreamReader) -> bytes:
    """The next protocol line past the server's PINGs: a server pings a client that has sent
    nothing for a while (nats-server first after ~2 s), which a loaded machine can reach
    while a receiver reads its burst.  The deadline only stops a broken run."""
    while (line := await asyncio.wait_for(reader.readuntil(b"\r\n"), 10)) == b"PING\r\n":
        pass
    return line


async def read_msgs(reader: asyncio.StreamReader, count: int) -> list[tuple[bytes, bytes, bytes]]:
    """Read ``count`` MSG frames: (subject, sid, payload) each."""
    out = []
    for _ in range(count):
        line = await next_line(reader)
        m = MSG.fullmatch(line)
        assert m, line
        data = await reader.readexactly(int(m.group(4)) + 2)
        out.append((m.group(1), m.group(2), data[:-2]))
    return out


async def nothing_more(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """The next thing the connection gets is the PONG to our PING: no stray MSG."""
    writer.write(b"PING\r\n")
    assert await next_line(reader) == b"PONG\r\n"


async def check_shares(members: list, payloads: list[bytes], least: int) -> None:
    """Each queue member got its share in publish order; together, every message once."""
    index = {p: i for i, p in enumerate(payloads)}
    seen: list[int] = []
    for reader, writer in members:
        writer.write(b"PING\r\n")
        share = []
        while (line := await next_line(reader)) != b"PONG\r\n":
            m = MSG.fullmatch(line)
            assert m, line
            share.append(index[(await reader.readexactly(int(m.group(4)) + 2))[:-2]])
        assert share == sorted(share)
        assert len(share) > least  # a fair random pick never strays this far from its mean
        seen += share
    assert sorted(seen) == list(range(len(payloads)))


def burst(subject: bytes, count: int, reply: bytes = b"") -> tuple[bytes, list[bytes]]:
    """``count`` PUBs on one subject in one buffer, with payloads of varying size."""
    payloads = [b"m%d" % i + b"." * (i % 3) for i in range(count)]
    r = b" " + reply if reply else b""
    return b"".join(b"PUB %s%s %d\r\n%s\r\n" % (subject, r, len(p), p) for p in payloads), payloads


@over_pipe_too
async def test_every_kind_of_receiver_gets_a_burst_in_order(kind: str) -> None:
    async with serve(kind, {}, None) as (url, _):
        literal = await raw_client(url, b"SUB runs.a 1\r\n")
        wild = await raw_client(url, b"SUB runs.* 7\r\n")
        full = await raw_client(url, b"SUB > 9\r\n")
        _, pub = await raw_client(url)
        data, payloads = burst(b"runs.a", 3000)
        pub.write(data * 2)
        for reader, _ in (literal, wild, full):
            got = await read_msgs(reader, 6000)
            assert [(subject, p) for subject, _, p in got] == [(b"runs.a", p) for p in payloads * 2]
        for reader, writer in (literal, wild, full):
            await nothing_more(reader, writer)


@over_pipe_too
async def test_a_burst_with_a_reply_subject_keeps_it(kind: str) -> None:
    async with serve(kind, {}, None) as (url, _):
        reader, writer = await raw_client(url, b"SUB svc 1\r\n")
        _, pub = await raw_client(url)
        pub.write(b"PUB svc _INBOX.x 2\r\nhi\r\n" * 500)
        for _ in range(500):
            assert await reader.readuntil(b"\r\n") == b"MSG svc 1 _INBOX.x 2\r\n"
            assert await reader.readexactly(4) == b"hi\r\n"
        await nothing_more(reader, writer)


@over_pipe_too
async def test_queue_members_split_a_burst_each_in_order(kind: str) -> None:
    async with serve(kind, {}, None) as (url, _):
        members = [await raw_client(url, b"SUB jobs workers 1\r\n") for _ in range(3)]
        pub_reader, pub = await raw_client(url)
        data, payloads = burst(b"jobs", 6000)
        pub.write(data + b"PING\r\n")
        await pub_reader.readuntil(b"PONG\r\n")  # every PUB is routed
        await check_shares(members, payloads, 1000)  # 2000 each expected


@over_pipe_too
async def test_auto_unsubscribe_limit_cuts_a_burst_exactly(kind: str) -> None:
    async with serve(kind, {}, None) as (url, _):
        reader, writer = await raw_client(
            url, b"SUB lim 1\r\nUNSUB 1 5\r\nSUB lim q 2\r\nUNSUB 2 3\r\n"
        )
        _, pub = await raw_client(url)
        data, payloads = burst(b"lim", 100)
        pub.write(data)
        got = await read_msgs(reader, 8)
        by_sid = {sid: [p for _, s, p in got if s == sid] for sid in (b"1", b"2")}
        assert by_sid == {b"1": payloads[:5], b"2": payloads[:3]}
        await nothing_more(reader, writer)


@over_pipe_too
async def test_a_no_echo_publisher_never_gets_its_own_burst(kind: str) -> None:
    async with serve(kind, {}, None) as (url, _):
        subs = b"SUB echo 1\r\nSUB echo g 2\r\n"
        self_reader, self_writer = await raw_client(url, subs, echo=False)
        other_reader, other_writer = await raw_client(url, subs)
        data, payloads = burst(b"echo", 200)
        self_writer.write(data)
        got = await read_msgs(other_reader, 400)
        # The group's other member is the publisher itself: with no echo, all go to sid 2.
        for sid in (b"1", b"2"):
            assert [p for _, s, p in got if s == sid] == payloads
        await nothing_more(self_reader, self_writer)
        await nothing_more(other_reader, other_writer)


async def test_in_process_subscriber_gets_a_socket_burst_in_order(broker: Broker) -> None:
    url = broker.listen_urls[0]
    async with broker.connect() as local:
        sub = await local.subscribe("inproc.>")
        _, pub = await raw_client(url)
        data, payloads = burst(b"inproc.x", 1000)
        pub.write(data)
        got = [(await sub.next_msg(timeout=5)).data for _ in range(1000)]
        assert got == payloads


@over_pipe_too
async def test_nats_py_burst_with_mapping_arrives_mapped(kind: str) -> None:
    conf = 'mappings: { "src.*": "dst.$1" }'
    async with serve(kind, {"mappings": {"src.*": "dst.$1"}}, conf) as (url, _):
        nc = await connect(url)
        sub = await nc.subscribe("dst.*")
        for i in range(2000):
            await nc.publish("src.k", b"%d" % i)  # buffered by nats-py: written in bursts
        await nc.flush()
        got = [await sub.next_msg(timeout=5) for _ in range(2000)]
        assert [m.subject for m in got] == ["dst.k"] * 2000
        assert [m.data for m in got] == [b"%d" % i for i in range(2000)]
        await nc.close()


@pytest.mark.parametrize("headers", [False, True])
@over_pipe_too
async def test_bursts_interleaved_with_other_operations_keep_stream_order(
    kind: str, headers: bool
) -> None:
    # PUB runs broken by HPUB, SUB and UNSUB: the second subscription sees exactly the
    # messages published after its SUB and before its UNSUB.
    async with serve(kind, {}, None) as (url, _):
        reader, writer = await raw_connect(url)
        await reader.readuntil(b"\r\n")
        writer.write(b'CONNECT {"verbose":false,"headers":true}\r\nSUB mix 1\r\nPING\r\n')
        await reader.readuntil(b"PONG\r\n")
        hpub = b"HPUB mix 12 14\r\nNATS/1.0\r\n\r\nhh\r\n" if headers else b""
        stream = (
            b"PUB mix 1\r\na\r\n" * 3
            + hpub
            + b"SUB mix 2\r\n"
            + b"PUB mix 1\r\nb\r\n" * 3
            + b"UNSUB 2\r\n"
            + b"PUB mix 1\r\nc\r\n" * 3
            + b"PING\r\n"
        )
        writer.write(stream)
        frames = (await reader.readuntil(b"PONG\r\n")).split(b"\r\n")
        if not frames[-1]:
            frames = frames[:-1]
        want = [b"MSG mix 1 1", b"a"] * 3
        if headers:
            want += [b"HMSG mix 1 12 14", b"NATS/1.0", b"", b"hh"]
        want += [b"MSG mix 1 1", b"b", b"MSG mix 2 1", b"b"] * 3 + [b"MSG mix 1 1", b"c"] * 3
        assert frames == [*want, b"PONG"]


async def test_a_burst_is_routed_as_runs(broker: Broker, monkeypatch: pytest.MonkeyPatch) -> None:
    # The tests above would pass message by message too: make sure runs are what they test.
    from natskern.kernel.core import client as client_module

    sizes: list[int] = []
    real = client_module.publish_run

    def spy(client, account, subject, reply, payloads) -> None:
        sizes.append(len(payloads))
        real(client, account, subject, reply, payloads)

    monkeypatch.setattr(client_module, "publish_run", spy)
    reader, writer = await raw_client(broker.listen_urls[0], b"SUB spy 1\r\n")
    data, payloads = burst(b"spy", 2000)
    writer.write(data)
    assert [p for _, _, p in await read_msgs(reader, 2000)] == payloads
    assert sum(sizes) > 1000 and max(sizes) > 100  # a few reads, each one run


@over_pipe_too
async def test_a_weighted_mapping_picks_per_message_inside_a_burst(kind: str) -> None:
    weights = [{"destination": "w.a", "weight": 50}, {"destination": "w.b", "weight": 50}]
    conf = "mappings: { w: [ {destination: w.a, weight: 50%}, {destination: w.b, weight: 50%} ] }"
    async with serve(kind, {"mappings": {"w": weights}}, conf) as (url, _):
        reader, writer = await raw_client(url, b"SUB w.* 1\r\n")
        data, payloads = burst(b"w", 2000)
        writer.write(data)
        got = await read_msgs(reader, 2000)
        assert [p for _, _, p in got] == payloads
        counts = {s: sum(1 for subject, _, _ in got if subject == s) for s in (b"w.a", b"w.b")}
        assert min(counts.values()) > 600, counts  # 1000 each expected


def mixed(subjects: list[bytes], count: int) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """``count`` reply-less PUBs cycling through ``subjects``: (stream, [(subject, payload)])."""
    msgs = [(subjects[i % len(subjects)], b"m%d" % i + b"." * (i % 3)) for i in range(count)]
    return b"".join(b"PUB %s %d\r\n%s\r\n" % (s, len(p), p) for s, p in msgs), msgs


@over_pipe_too
async def test_every_kind_of_receiver_gets_a_mixed_burst_in_order(kind: str) -> None:
    async with serve(kind, {}, None) as (url, _):
        literal = await raw_client(url, b"SUB mx.a 1\r\n")
        wild = await raw_client(url, b"SUB mx.* 7\r\n")
        full = await raw_client(url, b"SUB > 9\r\n")
        _, pub = await raw_client(url)
        data, msgs = mixed([b"mx.a", b"mx.b", b"mx.c", b"nobody"], 4000)
        pub.write(data)
        want_a = [(s, p) for s, p in msgs if s == b"mx.a"]
        want_mx = [(s, p) for s, p in msgs if s.startswith(b"mx.")]
        for (reader, writer), want, sid in (
            (literal, want_a, b"1"),
            (wild, want_mx, b"7"),
            (full, msgs, b"9"),
        ):
            got = await read_msgs(reader, len(want))
            assert [(subject, p) for subject, _, p in got] == want
            assert {s for _, s, _ in got} == {sid}
            await nothing_more(reader, writer)


@over_pipe_too
async def test_queue_group_and_limits_inside_a_mixed_burst(kind: str) -> None:
    async with serve(kind, {}, None) as (url, _):
        members = [await raw_client(url, b"SUB q.* workers 1\r\n") for _ in range(2)]
        lim_reader, lim_writer = await raw_client(url, b"SUB q.b 1\r\nUNSUB 1 7\r\n")
        pub_reader, pub = await raw_client(url)
        data, msgs = mixed([b"q.a", b"q.b"], 3000)
        pub.write(data + b"PING\r\n")
        await pub_reader.readuntil(b"PONG\r\n")  # every PUB is routed
        got = await read_msgs(lim_reader, 7)
        assert [(s, p) for s, _, p in got] == [m for m in msgs if m[0] == b"q.b"][:7]
        await nothing_more(lim_reader, lim_writer)
        await check_shares(members, [p for _, p in msgs], 1000)  # 1500 each expected


async def test_no_echo_and_in_process_receivers_inside_a_mixed_burst(broker: Broker) -> None:
    url = broker.listen_urls[0]
    async with broker.connect() as local:
        sub = await local.subscribe("ne.*")
        self_reader, self_writer = await raw_client(url, b"SUB ne.* 1\r\n", echo=False)
        other_reader, other_writer = await raw_client(url, b"SUB ne.* 1\r\n")
        data, msgs = mixed([b"ne.a", b"ne.b"], 500)
        self_writer.write(data)
        got = await read_msgs(other_reader, 500)
        assert [(s, p) for s, _, p in got] == msgs
        assert [(m.subject.encode(), m.data) for m in [await sub.next_msg(5) for _ in msgs]] == msgs
        await nothing_more(self_reader, self_writer)
        # An echoing publisher: batches go their fast way except where the receiver is the
        # in-process subscription (a callback).
        data, msgs = mixed([b"ne.c", b"ne.d", b"ne.e"], 600)
        other_writer.write(data)
        for reader in (self_reader, other_reader):
            assert [(s, p) for s, _, p in await read_msgs(reader, 600)] == msgs
        assert [(m.subject.encode(), m.data) for m in [await sub.next_msg(5) for _ in msgs]] == msgs


async def test_a_mixed_burst_is_routed_as_batches(
    broker: Broker, monkeypatch: pytest.MonkeyPatch
) -> None:
    from natskern.kernel.core import client as client_module

    sizes: list[int] = []
    real = client_module.publish_batch

    def spy(client, account, messages) -> None:
        sizes.append(len(messages))
        real(client, account, messages)

    monkeypatch.setattr(client_module, "publish_batch", spy)
    reader, writer = await raw_client(broker.listen_urls[0], b"SUB spy.* 1\r\n")
    data, msgs = mixed([b"spy.a", b"spy.b"], 2000)
    writer.write(data)
    assert [(s, p) for s, _, p in await read_msgs(reader, 2000)] == msgs
    assert sum(sizes) > 1000 and max(sizes) > 100


@over_pipe_too
async def test_two_subscriptions_of_one_session_get_a_burst_interleaved(kind: str) -> None:
    # Message by message: each message to both subscriptions before the next one.
    async with serve(kind, {}, None) as (url, _):
        reader, writer = await raw_client(
            url, b"SUB two 1\r\nSUB two 2\r\nSUB two.* 3\r\nSUB > 4\r\n"
        )
        _, pub = await raw_client(url)
        data, payloads = burst(b"two", 500)
        pub.write(data)
        got = await read_msgs(reader, 1500)
        assert [p for _, _, p in got] == [p for p in payloads for _ in range(3)]
        assert all(
            {s for _, s, _ in got[i : i + 3]} == {b"1", b"2", b"4"} for i in range(0, 1500, 3)
        )
        await nothing_more(reader, writer)


@over_pipe_too
async def test_a_verbose_publisher_gets_an_ok_for_every_message_of_a_burst(kind: str) -> None:
    async with serve(kind, {}, None) as (url, _):
        sub_reader, _ = await raw_client(url, b"SUB vb.* 1\r\n")
        reader, writer = await raw_connect(url)
        await reader.readuntil(b"\r\n")  # INFO
        writer.write(b'CONNECT {"verbose":true,"pedantic":false}\r\n')
        assert await reader.readuntil(b"\r\n") == b"+OK\r\n"
        mixed_data, msgs = mixed([b"vb.a", b"vb.b"], 60)
        run_data, payloads = burst(b"vb.c", 60)
        writer.write(mixed_data + run_data + b"PING\r\n")
        assert await reader.readuntil(b"PONG\r\n") == b"+OK\r\n" * 120 + b"PONG\r\n"
        got = await read_msgs(sub_reader, 120)
        assert [(s, p) for s, _, p in got] == msgs + [(b"vb.c", p) for p in payloads]


@over_pipe_too
async def test_a_burst_of_requests_nobody_serves_gets_a_503_each(kind: str) -> None:
    async with serve(kind, {}, None) as (url, _):
        reader, writer = await raw_connect(url)
        await reader.readuntil(b"\r\n")  # INFO
        writer.write(
            b'CONNECT {"verbose":false,"pedantic":false,"headers":true,"no_responders":true}\r\n'
            b"SUB _INBOX.x 7\r\n" + b"PUB nobody _INBOX.x 2\r\nhi\r\n" * 5 + b"PING\r\n"
        )
        status = b"HMSG _INBOX.x 7 16 16\r\nNATS/1.0 503\r\n\r\n\r\n"
        assert await reader.readuntil(b"PONG\r\n") == status * 5 + b"PONG\r\n"
        # Varying subjects (a batch), one of them served.
        writer.write(
            b"SUB served 8\r\n"
            + b"".join(b"PUB none.%d _INBOX.x 2\r\nhi\r\n" % k for k in range(4))
            + b"PUB served _INBOX.x 2\r\nok\r\nPUB none.9 _INBOX.x 2\r\nhi\r\nPING\r\n"
        )
        served = b"MSG served 8 _INBOX.x 2\r\nok\r\n"
        assert await reader.readuntil(b"PONG\r\n") == status * 4 + served + status + b"PONG\r\n"


@over_pipe_too
async def test_a_reserved_reply_inside_a_batch_is_refused_alone(kind: str) -> None:
    async with serve(kind, {}, None) as (url, _):
        sub_reader, sub_writer = await raw_client(url, b"SUB rr.* 1\r\n")
        reader, writer = await raw_client(url)
        writer.write(
            b"PUB rr.a 1\r\n1\r\nPUB rr.b _INBOX.ok 1\r\n2\r\nPUB rr.c _R_.x 1\r\n3\r\n"
            b"PUB rr.d $JS.ACK.y 1\r\n4\r\nPUB rr.e 1\r\n5\r\nPING\r\n"
        )
        assert await reader.readuntil(b"PONG\r\n") == (
            b"-ERR 'Permissions Violation for Publish with Reply of \"_R_.x\"'\r\n"
            b"-ERR 'Permissions Violation for Publish with Reply of \"$JS.ACK.y\"'\r\n"
            b"PONG\r\n"
        )
        got = await read_msgs(sub_reader, 3)
        assert [(s, p) for s, _, p in got] == [(b"rr.a", b"1"), (b"rr.b", b"2"), (b"rr.e", b"5")]
        await nothing_more(sub_reader, sub_writer)


async def test_every_message_of_runs_and_batches_counts_one_match(broker: Broker) -> None:
    # /subsz's num_matches stays exact: one match per message however it was routed.
    reader, writer = await raw_client(broker.listen_urls[0], b"SUB st.* 1\r\nSUB st.q q 2\r\n")
    sublist = broker.global_account.sublist
    before = sublist.stats()["num_matches"]
    mixed_data, _ = mixed([b"st.a", b"st.b", b"st.q", b"none"], 400)  # batches, some fallback
    run_data, _ = burst(b"st.a", 300)  # runs
    queue_data, _ = burst(b"st.q", 300)  # runs that fall back (queue group + plain sub)
    writer.write(mixed_data + run_data + queue_data + b"PING\r\n")
    await reader.readuntil(b"PONG\r\n")
    assert sublist.stats()["num_matches"] - before == 1000
