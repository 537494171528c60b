"""The client-protocol parser on valid streams: every op, every split, both code paths.

Each fixture is fed whole, byte by byte and cut in two at every byte boundary, through the
fast (bulk) path and through the general path; the recorded calls must equal the
expectation every time.
"""

from __future__ import annotations

import pytest
from nats.protocol import command as nats_py
from natskern.kernel.protocol.parser import Parser
from parser_support import Recorder, cut, every_split, feed_chunks, make_parser

HDR = b"NATS/1.0\r\nX-A: 1\r\n\r\n"  # 20 bytes

FIXTURES: list[tuple[str, bytes, list[tuple]]] = [
    (
        "connect-ping",
        b'CONNECT {"verbose":false,"headers":true}\r\nPING\r\n',
        [("connect", b'{"verbose":false,"headers":true}'), ("ping",)],
    ),
    ("pub", b"PUB foo 5\r\nhello\r\n", [("pub", b"foo", b"", b"hello")]),
    ("pub-reply", b"PUB foo _INBOX.1 5\r\nhello\r\n", [("pub", b"foo", b"_INBOX.1", b"hello")]),
    ("pub-empty", b"PUB foo 0\r\n\r\n", [("pub", b"foo", b"", b"")]),
    ("pub-crlf-payload", b"PUB a 7\r\na\r\nb\r\nc\r\n", [("pub", b"a", b"", b"a\r\nb\r\nc")]),
    ("pub-payload-crlf-edges", b"PUB a 4\r\n\r\n\r\n\r\n", [("pub", b"a", b"", b"\r\n\r\n")]),
    ("pub-payload-lone-cr-lf", b"PUB a 3\r\n\r\n\n\r\n", [("pub", b"a", b"", b"\r\n\n")]),
    ("pub-leading-zeros", b"PUB foo 000000005\r\nhello\r\n", [("pub", b"foo", b"", b"hello")]),
    (
        "lower-case",
        b"pub foo 2\r\nhi\r\nsub foo 1\r\nunsub 1\r\nping\r\npong\r\nconnect {}\r\n",
        [
            ("pub", b"foo", b"", b"hi"),
            ("sub", b"foo", b"", b"1"),
            ("unsub", b"1", 0),
            ("ping",),
            ("pong",),
            ("connect", b"{}"),
        ],
    ),
    (
        "mixed-case",
        b"PuB a 1\r\nx\r\nhPuB a 12 12\r\nNATS/1.0\r\n\r\n\r\nSuB a q 2\r\nUnSuB 2 3\r\nPiNg\r\n",
        [
            ("pub", b"a", b"", b"x"),
            ("hpub", b"a", b"", 12, b"NATS/1.0\r\n\r\n"),
            ("sub", b"a", b"q", b"2"),
            ("unsub", b"2", 3),
            ("ping",),
        ],
    ),
    (
        "tabs-and-runs-of-spaces",
        b"PUB\t foo \t\tbar  5 \t\r\nhello\r\nSUB  foo\t\tq \t 9  \r\nUNSUB\t9\t \t4\r\n"
        b"HPUB \tfoo\t 20  25\r\n" + HDR + b"hello\r\n",
        [
            ("pub", b"foo", b"bar", b"hello"),
            ("sub", b"foo", b"q", b"9"),
            ("unsub", b"9", 4),
            ("hpub", b"foo", b"", 20, HDR + b"hello"),
        ],
    ),
    (
        "hpub",
        b"HPUB a.b r 20 25\r\n" + HDR + b"hello\r\nHPUB a.b 20 20\r\n" + HDR + b"\r\n",
        [("hpub", b"a.b", b"r", 20, HDR + b"hello"), ("hpub", b"a.b", b"", 20, HDR)],
    ),
    (
        "sub-unsub",
        b"SUB foo 1\r\nSUB foo.* workers 2\r\nUNSUB 1\r\nUNSUB 2 10\r\n",
        [
            ("sub", b"foo", b"", b"1"),
            ("sub", b"foo.*", b"workers", b"2"),
            ("unsub", b"1", 0),
            ("unsub", b"2", 10),
        ],
    ),
    (
        # nats-server treats a bad max as "no max" (parseSize returns -1).
        "unsub-bad-max",
        b"UNSUB 1 abc\r\nUNSUB 2 -5\r\nUNSUB 3 99999999999\r\nUNSUB 4 0\r\n",
        [("unsub", b"1", 0), ("unsub", b"2", 0), ("unsub", b"3", 0), ("unsub", b"4", 0)],
    ),
    (
        "ping-pong-ok-ignore-rest-of-line",
        b"PING foo bar\r\nPINGXYZ\r\nPONG\r\nPONGxyz\r\n+OK\r\n+OKjunk\r\nPING\r\n",
        [("ping",), ("ping",), ("pong",), ("pong",), ("ping",)],
    ),
    (
        "client-info-ignored",
        b'INFO {}\r\nINFO null\r\nINFO {"zzz":"x"}\r\nPING\r\n',
        [("ping",)],
    ),
    (
        "bare-newlines",
        b"PUB foo 5\nhello\r\nSUB foo 1\nPING\nCONNECT {}\n",
        [("pub", b"foo", b"", b"hello"), ("sub", b"foo", b"", b"1"), ("ping",), ("connect", b"{}")],
    ),
    (
        "connect-without-blank",
        b"CONNECT{}\r\nCONNECTX {}\r\nCONNECT {} \r\n",
        [("connect", b"{}"), ("connect", b"X {}"), ("connect", b"{} ")],
    ),
    (
        # nats-server: only space/tab separate PUB arguments; a CR inside the line stays in
        # the token, and once a CR was seen the last byte of the argument is dropped.
        "cr-and-form-feed-inside-tokens",
        b"PUB foo\r 5\r\nhello\r\nPUB foo\x0c5 5\r\nhello\r\n"
        b"SUB foo\x0c 5\r\nPUB foo\x0b 1\r\nx\r\n",
        [
            ("pub", b"foo\r", b"", b"hello"),
            ("pub", b"foo\x0c5", b"", b"hello"),
            ("sub", b"foo\x0c", b"", b"5"),
            ("pub", b"foo\x0b", b"", b"x"),
        ],
    ),
    (
        "several-ops-one-buffer",
        b"CONNECT {}\r\nSUB foo 1\r\nPUB foo 3\r\nabc\r\nPUB foo r 0\r\n\r\nPING\r\n"
        b"HPUB foo 20 21\r\n" + HDR + b"!\r\nUNSUB 1\r\nPONG\r\n",
        [
            ("connect", b"{}"),
            ("sub", b"foo", b"", b"1"),
            ("pub", b"foo", b"", b"abc"),
            ("pub", b"foo", b"r", b""),
            ("ping",),
            ("hpub", b"foo", b"", 20, HDR + b"!"),
            ("unsub", b"1", 0),
            ("pong",),
        ],
    ),
    (
        # Exactly nats-server's limits: an argument of 4096 bytes is fine.
        "control-line-at-limit",
        b"PUB " + b"s" * 4094 + b" 1\r\nx\r\n",
        [("pub", b"s" * 4094, b"", b"x")],
    ),
    (
        # The fast path reuses the decoding of a repeated control line; the payload under
        # an identical line may still differ in shape.
        "repeated-lines",
        b"PUB a 3\r\nabc\r\n" * 3
        + b"PUB a 3\r\na\r\n\r\nPUB a 3\r\nxyz\r\nPUB a r 3\r\nabc\r\nPUB a r 3\r\n\r\nb\r\n"
        + b"PUB a  3\r\nabc\r\n" * 2,
        [("pub", b"a", b"", b"abc")] * 3
        + [("pub", b"a", b"", b"a\r\n"), ("pub", b"a", b"", b"xyz")]
        + [("pub", b"a", b"r", b"abc"), ("pub", b"a", b"r", b"\r\nb")]
        + [("pub", b"a", b"", b"abc")] * 2,
    ),
    (
        "incomplete-tail-is-kept",
        b"PUB foo 5\r\nhello\r\nPUB foo 5\r\nhel",
        [("pub", b"foo", b"", b"hello")],
    ),
]


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "general"])
@pytest.mark.parametrize(
    ("stream", "expected"), [f[1:] for f in FIXTURES], ids=[f[0] for f in FIXTURES]
)
def test_fixture_every_split(stream: bytes, expected: list[tuple], fast: bool) -> None:
    for chunks in every_split(stream):
        calls, parser = feed_chunks(chunks, fast=fast)
        assert calls == expected, chunks
        assert not parser.closed


def test_clients_own_encoders_round_trip() -> None:
    # Frames built by nats-py's own command encoders (note its "PUB s  5" empty reply).
    hdr = b"NATS/1.0\r\nNats-Msg-Id: 1\r\n\r\n"
    stream = b"".join(
        [
            nats_py.sub_cmd("foo.>", "", 1),
            nats_py.sub_cmd("foo.bar", "q", 2),
            nats_py.pub_cmd("foo.bar", "", b"0123456789abcdef"),
            nats_py.pub_cmd("foo.bar", "_INBOX.x.1", b"req"),
            nats_py.hpub_cmd("foo.bar", "", hdr, b"data"),
            nats_py.hpub_cmd("foo.bar", "_INBOX.x.2", hdr, b""),
            nats_py.unsub_cmd(1, 0),
            nats_py.unsub_cmd(2, 5),
        ]
    )
    expected = [
        ("sub", b"foo.>", b"", b"1"),
        ("sub", b"foo.bar", b"q", b"2"),
        ("pub", b"foo.bar", b"", b"0123456789abcdef"),
        ("pub", b"foo.bar", b"_INBOX.x.1", b"req"),
        ("hpub", b"foo.bar", b"", len(hdr), hdr + b"data"),
        ("hpub", b"foo.bar", b"_INBOX.x.2", len(hdr), hdr),
        ("unsub", b"1", 0),
        ("unsub", b"2", 5),
    ]
    for fast in (True, False):
        for chunks in every_split(stream):
            assert feed_chunks(chunks, fast=fast)[0] == expected


def test_large_payload_spanning_many_reads() -> None:
    payload = bytes(range(256)) * 12_000 + b"\r\n" * 1000  # 3 MiB-ish, CRLFs inside
    stream = b"PUB big 3074000\r\n" + payload + b"\r\nPING\r\n"
    expected = [("pub", b"big", b"", payload), ("ping",)]
    limits = {"max_payload": 4 * 1024 * 1024}
    for size in (1, 7, 4096, 65536, len(stream)):
        if size == 1:
            chunks = [stream[:20_000]] + [stream[i : i + 1] for i in range(20_000, 20_100)]
            chunks.append(stream[20_100:])
        else:
            chunks = [stream[i : i + size] for i in range(0, len(stream), size)]
        for fast in (True, False):
            calls, parser = feed_chunks(chunks, fast=fast, **limits)
            assert calls == expected
            assert not parser._chunks and not parser._buf


def test_payloads_collected_across_reads_are_bytes() -> None:
    """Object chunks back to back, cut anywhere: each payload arrives whole, as ``bytes``
    (the parser keeps views of the reads while it collects; the handler never sees one)."""
    payloads = [bytes([i]) * 131_072 for i in range(1, 4)]
    stream = b"".join(
        b"PUB $O.b.C.x _INBOX.r.%d 131072\r\n%b\r\n" % (i, p) for i, p in enumerate(payloads)
    )
    expected = [("pub", b"$O.b.C.x", b"_INBOX.r.%d" % i, p) for i, p in enumerate(payloads)]
    end = stream.index(b"\r\n") + 2 + 131_072  # (the first payload's end, before its CRLF)
    cuts = [[stream[i : i + n] for i in range(0, len(stream), n)] for n in (65_536, 100_000)]
    cuts += [cut(stream, [at]) for at in (end, end + 1, end + 2)]  # (CRLF alone, LF alone)
    for chunks in cuts:
        size = len(chunks[0])
        for fast in (True, False):
            calls, parser = feed_chunks(chunks, fast=fast)
            assert calls == expected, (size, fast)
            assert all(type(c[3]) is bytes for c in calls), (size, fast)
            assert not parser._chunks


def test_large_payload_cut_near_its_end() -> None:
    payload = b"x" * 70_000
    stream = b"PUB big 70000\r\n" + payload + b"\r\nPUB s 1\r\ny\r\n"
    expected = [("pub", b"big", b"", payload), ("pub", b"s", b"", b"y")]
    total = len(stream)
    positions = [1, 14, 15, 16, 65536, total - 20, total - 17, total - 16, total - 15, total - 1]
    for a in positions:
        for b in positions:
            if a <= b:
                assert feed_chunks(cut(stream, [a, b]))[0] == expected


def test_pipelined_stream_in_reads_of_64k() -> None:
    count = 20_000
    stream = b"PUB foo.bar 16\r\n0123456789abcdef\r\n" * count
    chunks = [stream[i : i + 65536] for i in range(0, len(stream), 65536)]
    calls, _ = feed_chunks(chunks)
    assert len(calls) == count
    assert set(calls) == {("pub", b"foo.bar", b"", b"0123456789abcdef")}


def test_consecutive_pubs_with_one_subject_arrive_as_runs() -> None:
    # Same subject and reply (any sizes) -> one proto_pub_run; anything else ends the run.
    stream = (
        b"PUB a 1\r\nx\r\n" * 3
        + b"PUB a 2\r\nyz\r\n"  # a different size stays in the run
        + b"PUB a r 1\r\nx\r\n"  # a reply ends it
        + b"PUB b 1\r\nx\r\nPUB b 1\r\nx\r\n"
        + b"PING\r\n"  # an other op ends it
        + b"PUB b 1\r\nx\r\nHPUB b 4 5\r\n\r\n\r\nx\r\nPUB b 1\r\nx\r\n"
    )
    feed_chunks([stream])  # the first sight of a size token takes the general path
    calls, parser = feed_chunks([stream])
    assert parser.handler.runs == [4, 2]
    assert calls == [
        *[("pub", b"a", b"", b"x")] * 3,
        ("pub", b"a", b"", b"yz"),
        ("pub", b"a", b"r", b"x"),
        *[("pub", b"b", b"", b"x")] * 2,
        ("ping",),
        ("pub", b"b", b"", b"x"),
        ("hpub", b"b", b"", 4, b"\r\n\r\nx"),
        ("pub", b"b", b"", b"x"),
    ]


def test_single_pubs_on_varying_subjects_arrive_as_batches() -> None:
    # Single PUBs (requests included) collect into a batch; a run or another op ends it,
    # and everything still arrives in stream order.
    stream = (
        b"PUB a 1\r\n1\r\nPUB b 1\r\n2\r\nPUB c 1\r\n3\r\n"  # batch of 3
        + b"PUB d 1\r\n4\r\nPUB d 1\r\n5\r\n"  # run of 2
        + b"PUB e 1\r\n6\r\nPUB f 1\r\n7\r\n"  # batch of 5: with a request
        + b"PUB g _INBOX.1 1\r\n8\r\n"
        + b"PUB h 1\r\n9\r\nPUB i 1\r\n0\r\nSUB x 1\r\n"  # then SUB
        + b"PUB j 1\r\n1\r\n"  # alone: a plain PUB
    )
    feed_chunks([stream])  # the first sight of a size token takes the general path
    calls, parser = feed_chunks([stream])
    assert parser.handler.batches == [3, 5]
    assert parser.handler.runs == [2]
    assert calls == [
        ("pub", b"a", b"", b"1"),
        ("pub", b"b", b"", b"2"),
        ("pub", b"c", b"", b"3"),
        ("pub", b"d", b"", b"4"),
        ("pub", b"d", b"", b"5"),
        ("pub", b"e", b"", b"6"),
        ("pub", b"f", b"", b"7"),
        ("pub", b"g", b"_INBOX.1", b"8"),
        ("pub", b"h", b"", b"9"),
        ("pub", b"i", b"", b"0"),
        ("sub", b"x", b"", b"1"),
        ("pub", b"j", b"", b"1"),
    ]


def test_large_payloads_are_cut_by_their_declared_size() -> None:
    # Reads that start with a known PUB line of a large payload are cut by sizes, not by
    # searching CRLF: payloads full of CRLFs, and whatever follows, must still parse exactly.
    big = [(b"x\r\n" * 300)[: 600 + k] for k in range(4)]
    stream = (
        b"".join(b"PUB big 600\r\n%s\r\n" % big[0] for _ in range(3))
        + b"PUB big.r r 601\r\n%s\r\n" % big[1]
        + b"SUB big 1\r\nHPUB big 12 614\r\nNATS/1.0\r\n\r\n%s\r\n" % big[2]
        + b"PUB big 603\r\n%s\r\n" % big[3]
        + b"PUB big 600\r\n%s\r\n" % big[0]
        + b"PUB big 600\r\n"
        + big[0][:100]  # incomplete
    )
    reference, _ = feed_chunks([stream], fast=False)
    for _ in range(10):  # until the lines are in the cache (one miss in eight enters it)
        feed_chunks([stream])
    for chunks in ([stream], [stream[:700], stream[700:]], [stream[:1250], stream[1250:]]):
        calls, parser = feed_chunks(chunks)
        assert calls == reference
        assert not parser.closed
    assert reference[0] == ("pub", b"big", b"", big[0])
    assert len(reference) == 8


def test_large_requests_are_cut_by_their_declared_size_too(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # PUBs with a reply (JetStream publishes: never in the line cache) of large payloads
    # are cut by size as well, also when a read ends inside a payload (the rest is left to
    # the exact path whole, not split): an object store's chunks.
    from natskern.kernel.protocol import fastpath

    cuts: list[int] = []
    real = fastpath._split_by_size

    def spy(buf: bytes, known):  # type: ignore[no-untyped-def]
        cuts.append(len(buf))
        return real(buf, known)

    monkeypatch.setattr(fastpath, "_split_by_size", spy)
    body = [(b"\r\n%d" % k) * 40_000 for k in range(3)]  # CRLFs inside
    stream = (
        b"".join(
            b"PUB $O.b.C.x _INBOX.r.%d %d\r\n%s\r\n" % (k, len(p), p) for k, p in enumerate(body)
        )
        + b"PUB s 1\r\nx\r\nPING\r\n"
    )
    reference, _ = feed_chunks([stream], fast=False)
    assert [c[0] for c in reference] == ["pub"] * 4 + ["ping"]
    assert reference[1] == ("pub", b"$O.b.C.x", b"_INBOX.r.1", body[1])
    feed_chunks([stream])  # the first sight of a size token takes the general path
    cuts.clear()
    for size in (65536, 100_000, 120_003, 131072, len(stream)):
        chunks = [stream[i : i + size] for i in range(0, len(stream), size)]
        calls, parser = feed_chunks(chunks)
        assert calls == reference
        assert not parser._chunks and not parser._buf and not parser.closed
    assert cuts  # the cut by size was taken


def test_a_run_never_spans_reads_and_stops_when_the_handler_closes() -> None:
    class Closer(Recorder):
        def proto_pub_run(self, subject: bytes, reply: bytes, payloads: list[bytes]) -> None:
            super().proto_pub_run(subject, reply, payloads)
            parser.closed = True  # e.g. the publisher was cut while delivering

    stream = b"PUB a 1\r\nx\r\n" * 4 + b"PING\r\n"
    feed_chunks([stream])  # the first sight of a size token takes the general path
    handler = Closer()
    parser = Parser(handler)
    parser.feed(stream[:30])  # two whole messages and a part of the third
    assert handler.runs == [2]
    parser.feed(stream[24:])
    assert handler.runs == [2]
    assert ("ping",) not in handler.calls


def test_handler_without_runs_gets_one_call_per_message() -> None:
    class PerMessage(Recorder):
        proto_pub_run = None  # the methods are optional: a handler may not have them
        proto_pub_batch = None

        def proto_pub(self, subject: bytes, reply: bytes, payload: bytes) -> None:
            super().proto_pub(subject, reply, payload)
            if len(self.calls) == 3:
                parser.closed = True

    handler = PerMessage()
    parser = Parser(handler)
    for subjects in ([b"a"], [b"a"], [b"a", b"b"]):  # a run (twice: all fast path), a batch
        parser.closed = False
        handler.calls.clear()
        parser.feed(
            b"".join(b"PUB %s 1\r\n%d\r\n" % (subjects[i % len(subjects)], i) for i in range(5))
        )
        assert [c[3] for c in handler.calls] == [b"0", b"1", b"2"]
    assert handler.runs == []
    assert handler.batches == []


def test_handler_closing_stops_at_once() -> None:
    class Closer(Recorder):
        def proto_sub(self, subject: bytes, queue: bytes, sid: bytes) -> None:
            super().proto_sub(subject, queue, sid)
            parser.closed = True  # e.g. an authorization failure

    stream = b"PUB a 1\r\nx\r\nSUB a 1\r\nPUB a 1\r\nx\r\nPING\r\n"
    for fast in (True, False):
        for chunks in every_split(stream):
            handler = Closer()
            parser = Parser(handler)
            parser._fast = fast
            for chunk in chunks:
                parser.feed(chunk)
            assert handler.calls == [("pub", b"a", b"", b"x"), ("sub", b"a", b"", b"1")]


def test_handler_closing_inside_payload_collection() -> None:
    class Closer(Recorder):
        def proto_pub(self, subject: bytes, reply: bytes, payload: bytes) -> None:
            super().proto_pub(subject, reply, payload)
            parser.closed = True

    handler = Closer()
    parser = Parser(handler)
    parser.feed(b"PUB a 10\r\n01234")
    parser.feed(b"56789\r\nPING\r\n")
    parser.feed(b"PING\r\n")
    assert handler.calls == [("pub", b"a", b"", b"0123456789")]


def test_handler_exception_propagates_and_parsing_resumes() -> None:
    class Boom(Exception):
        pass

    class Raiser(Recorder):
        def proto_sub(self, subject: bytes, queue: bytes, sid: bytes) -> None:
            super().proto_sub(subject, queue, sid)
            raise Boom

    stream = b"PUB a 1\r\nx\r\nsub a 1\r\nPUB a 2\r\nyz\r\nPING\r\n"
    expected = [
        ("pub", b"a", b"", b"x"),
        ("sub", b"a", b"", b"1"),
        ("pub", b"a", b"", b"yz"),
        ("ping",),
    ]
    for fast in (True, False):
        handler = Raiser()
        parser = Parser(handler)
        parser._fast = fast
        with pytest.raises(Boom):
            parser.feed(stream)
        parser.feed(b"")
        parser.feed(b"PONG\r\n")
        assert handler.calls == [*expected, ("pong",)]
        assert not parser.closed


def test_handler_exception_while_completing_a_collected_payload() -> None:
    class Boom(Exception):
        pass

    class Raiser(Recorder):
        def proto_pub(self, subject: bytes, reply: bytes, payload: bytes) -> None:
            super().proto_pub(subject, reply, payload)
            if subject == b"a":
                raise Boom

    handler = Raiser()
    parser = Parser(handler)
    parser.feed(b"PUB a 4\r\nab")
    with pytest.raises(Boom):
        parser.feed(b"cd\r\nPUB b 1\r\nx\r\n")
    parser.feed(b"PING\r\n")
    assert handler.calls == [("pub", b"a", b"", b"abcd"), ("pub", b"b", b"", b"x"), ("ping",)]


def test_headers_flag_refuses_hpub_at_the_control_line() -> None:
    # nats-server closes a client that did not negotiate headers as soon as it sees HPUB,
    # without waiting for the payload and without -ERR.
    for fast in (True, False):
        calls, parser = feed_chunks([b"PUB a 1\r\nx\r\nHPUB a 12 12\r\n"], fast=fast, headers=False)
        assert calls == [("pub", b"a", b"", b"x"), ("error", None)]
        assert parser.closed


def test_headers_flag_can_change_between_ops() -> None:
    class Negotiator(Recorder):
        def proto_connect(self, arg: bytes) -> None:
            super().proto_connect(arg)
            parser.headers = b'"headers":true' in arg

    stream = b'CONNECT {"headers":true}\r\nHPUB a 12 12\r\nNATS/1.0\r\n\r\n\r\n'
    for chunks in every_split(stream):
        handler = Negotiator()
        parser = Parser(handler)
        parser.headers = False
        for chunk in chunks:
            parser.feed(chunk)
        assert handler.calls[-1] == ("hpub", b"a", b"", 12, b"NATS/1.0\r\n\r\n")


def test_feed_accepts_bytes_like_and_empty() -> None:
    parser = make_parser()
    parser.feed(b"")
    parser.feed(bytearray(b"PUB a 1\r\n"))
    parser.feed(memoryview(b"x\r\nPING\r\n"))
    assert parser.handler.calls == [("pub", b"a", b"", b"x"), ("ping",)]


def test_partial_whitespace_and_junk_stay_bounded() -> None:
    # nats-server discards blanks after an op word and the rest of a PING line; so do we.
    parser = make_parser()
    parser.feed(b"PUB")
    for _ in range(1000):
        parser.feed(b" " * 100)
    assert len(parser._buf) <= 4
    parser.feed(b"foo 1\r\nx\r\nPING")
    for _ in range(1000):
        parser.feed(b"junk" * 25)
    assert len(parser._buf) <= 4
    parser.feed(b"\r\n")
    assert parser.handler.calls == [("pub", b"foo", b"", b"x"), ("ping",)]


def test_custom_limits() -> None:
    calls, _ = feed_chunks([b"PUB a 10\r\n0123456789\r\nPUB a 11\r\n"], max_payload=10)
    assert calls == [("pub", b"a", b"", b"0123456789"), ("error", "Maximum Payload Violation")]
    calls, _ = feed_chunks([b"SUB abcdef 12\r\nSUB abcdef 123\r\n"], max_control_line=9)
    assert calls == [("sub", b"abcdef", b"", b"12"), ("error", "maximum control line exceeded")]


# -- nats-server's read-dependent and byte-level rules (issue 14's differential fuzzer) ------


class Warner(Recorder):
    """A Recorder that also records non-fatal errors (pedantic)."""

    def proto_warning(self, text: str) -> None:
        """Record a warning."""
        self.calls.append(("warning", text))


def test_the_argument_starts_at_any_byte_after_the_blanks() -> None:
    # The first byte of an argument is not looked at: a LF there does not end the line.
    calls, _ = feed_chunks([b"PUB \nfoo 2\r\nhi\r\nSUB \nfoo 1\r\nCONNECT\n{}\r\n"])
    assert calls == [
        ("pub", b"\nfoo", b"", b"hi"),
        ("sub", b"foo", b"", b"1"),
        ("connect", b"\n{}"),
    ]


def test_a_bare_cr_and_the_end_of_a_read() -> None:
    # In one read the byte before LF is dropped once a CR was seen ("5\r" is no size);
    # split after the first CR, the first part loses its CR and the later CRs are dropped.
    whole, _ = feed_chunks([b"PUB foo 5\r\r\nhello\r\n"])
    assert whole == [("error", None)]
    split, _ = feed_chunks([b"PUB foo 5\r", b"\r\nhello\r\n"])
    assert split == [("pub", b"foo", b"", b"hello")]
    split, _ = feed_chunks([b"SUB a\rb", b" 1\r\n"])  # "b" is dropped with the CR's read
    assert split == [("sub", b"a", b"", b"1")]


def test_pedantic_subject_error_at_the_control_line_and_again_if_the_payload_waits() -> None:
    parser = Parser(Warner())
    parser.pedantic = True
    parser.feed(b"PUB a..b 2\r\nhi\r\n")
    parser.feed(b"PUB a.* 2\r\nh")
    parser.feed(b"i\r\nPUB a\x0cb 1\r\nx\r\n")  # no whitespace check for PUB subjects
    assert parser.handler.calls == [
        ("warning", "Invalid Publish Subject"),
        ("pub", b"a..b", b"", b"hi"),
        ("warning", "Invalid Publish Subject"),
        ("warning", "Invalid Publish Subject"),
        ("pub", b"a.*", b"", b"hi"),
        ("pub", b"a\x0cb", b"", b"x"),
    ]


def test_hmsg_from_a_client_is_a_message_to_no_subject() -> None:
    calls, _ = feed_chunks([b"HMSG a 1 2\r\n\r\nPING\r\n"])
    assert calls == [("pub", b"", b"", b""), ("ping",)]
    calls, _ = feed_chunks([b"HMSG a 1 2\r\nxx\r\n"])
    assert calls == [("error", "Unknown Protocol Operation")]


def test_info_from_a_client_must_decode_into_nats_servers_struct() -> None:
    assert feed_chunks([b'INFO {"port":1,"x":[1]}\r\nPING\r\n'])[0] == [("ping",)]
    assert feed_chunks([b'INFO {"port":"1"}\r\nPING\r\n'])[0] == [("error", None)]
    assert feed_chunks([b"INFO null\r\nPING\r\n"])[0] == [("ping",)]


def test_size_tokens_with_leading_zeros_go_to_the_handler_as_sent() -> None:
    class Tokens(Recorder):
        def proto_pub_tokens(
            self, subject: bytes, reply: bytes, header_size: int, data: bytes, tokens: tuple
        ) -> None:
            self.calls.append(("tokens", subject, reply, header_size, data, tokens))

    for fast in (True, False):
        parser = Parser(Tokens())
        parser._fast = fast
        parser.feed(b"PUB a 05\r\nhello\r\nPUB a 5\r\nhello\r\nHPUB a r 012 014\r\n")
        parser.feed(b"NATS/1.0\r\n\r\nhi\r\n")
        assert parser.handler.calls == [
            ("tokens", b"a", b"", -1, b"hello", (b"", b"05")),
            ("pub", b"a", b"", b"hello"),
            ("tokens", b"a", b"r", 12, b"NATS/1.0\r\n\r\nhi", (b"012", b"014")),
        ]
    # Without proto_pub_tokens the message is a plain PUB.
    assert feed_chunks([b"PUB a 05\r\nhello\r\n"])[0] == [("pub", b"a", b"", b"hello")]
