"""Protocol errors, with expectations recorded from nats-server 2.9.10 on loopback.

Each trace below was taken by connecting a raw socket to ``nats-server -a 127.0.0.1``,
sending ``CONNECT {"verbose":false,"pedantic":false,"headers":true}`` and then the bytes
shown, and noting what came back:

* ``-ERR '<text>'`` and close  -> the parser calls ``proto_error("<text>")``;
* close without anything       -> ``proto_error(None)``;
* nothing, connection open     -> no error (the stream is incomplete or was accepted).

Every case is also fed byte by byte and cut at every position, through both code paths.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from natskern.kernel.protocol.parser import ERR_MAX_CONTROL_LINE as MCL
from natskern.kernel.protocol.parser import ERR_MAX_PAYLOAD as MAXP
from natskern.kernel.protocol.parser import ERR_UNKNOWN_OP as UNKNOWN
from parser_support import every_split, feed_chunks, split_sensitive

HELLO = ("pub", b"foo", b"", b"hello")

# (stream, calls before the error, error text or None for a silent close)
ERRORS: list[tuple[bytes, list[tuple], str | None]] = [
    # unknown operations, reported as soon as the first impossible byte arrives
    (b"FOO bar\r\n", [], UNKNOWN),
    (b"FOO", [], UNKNOWN),
    (b"M", [], UNKNOWN),
    (b"MSG", [], UNKNOWN),
    (b"MSG foo 1 5\r\nhello\r\n", [], UNKNOWN),
    (b"HMSG foo 1 5 5\r\nhello\r\n", [], UNKNOWN),
    (b"HMSG\r\n", [], UNKNOWN),
    (b"HMSGX\r\n", [], UNKNOWN),
    (b"HX", [], UNKNOWN),
    (b"PX", [], UNKNOWN),
    (b"PIX", [], UNKNOWN),
    (b"PINX", [], UNKNOWN),
    (b"POX", [], UNKNOWN),
    (b"PIN\r\n", [], UNKNOWN),
    (b"PUB\r\n", [], UNKNOWN),
    (b"PUBfoo 5\r\n", [], UNKNOWN),
    (b"HPUB\r\n", [], UNKNOWN),
    (b"HPUBX\r\n", [], UNKNOWN),
    (b"SUB\r\n", [], UNKNOWN),
    (b"UNSUB\r\n", [], UNKNOWN),
    (b"CONNEC\r\n", [], UNKNOWN),
    (b"-ERR\r\n", [], UNKNOWN),
    (b"+\r\n", [], UNKNOWN),
    (b"+O\r\n", [], UNKNOWN),
    (b"+X\r\n", [], UNKNOWN),
    (b"-\r\n", [], UNKNOWN),
    (b"-E\r\n", [], UNKNOWN),
    (b"-X\r\n", [], UNKNOWN),
    (b"\r\n", [], UNKNOWN),
    (b"\n", [], UNKNOWN),
    (b" PING\r\n", [], UNKNOWN),
    (b"\tPING\r\n", [], UNKNOWN),
    (b"x" * 5000, [], UNKNOWN),
    # what follows a payload must be exactly CRLF
    (b"PUB foo 5\r\nhelloXX", [], UNKNOWN),
    (b"PUB foo 5\r\nhelloX", [], UNKNOWN),
    (b"PUB foo 5\r\nhello\rX", [], UNKNOWN),
    (b"PUB foo 5\r\nhello\n", [], UNKNOWN),
    (b"PUB foo 0\r\n\nPING\r\n", [], UNKNOWN),
    (b"PUB foo 5\r\nhello\r\n" * 3 + b"PUB foo 5\r\nhelloX\r\n", [HELLO] * 3, UNKNOWN),
    (b"HPUB foo 12 12\r\nNATS/1.0\r\n\r\nXX", [], UNKNOWN),
    (b"PUB a 3\r\nabc\r\n" * 2 + b"PUB a 3\r\nabcd\r\n", [("pub", b"a", b"", b"abc")] * 2, UNKNOWN),
    # bad PUB/HPUB/SUB/UNSUB arguments: closed without -ERR
    (b"PUB foo\r\n", [], None),
    (b"PUB \r\n", [], None),
    (b"PUB foo bar baz 5\r\n", [], None),
    (b"PUB foo abc\r\n", [], None),
    (b"PUB foo +5\r\nhello\r\n", [], None),
    (b"PUB foo 1_0\r\n", [], None),
    (b"PUB foo -1\r\n", [], None),
    (b"PUB foo 0000000005\r\nhello\r\n", [], None),  # more than 9 digits
    (b"PUB foo 5\r\r\nhello\r\n", [], None),  # size token is b"5\r"
    (b"PUB foo 5\rx\nhello\r\n", [], None),
    (b"HPUB foo 12\r\n", [], None),
    (b"HPUB foo\r\n", [], None),
    (b"HPUB foo 12 10\r\n", [], None),
    (b"HPUB foo 6 5\r\n", [], None),
    (b"HPUB foo x 10\r\n", [], None),
    (b"HPUB foo 2 x\r\n", [], None),
    (b"HPUB foo -1 5\r\n", [], None),
    (b"SUB foo\r\n", [], None),
    (b"SUB \r\n", [], None),
    (b"SUB foo q 1 x\r\n", [], None),
    (b"UNSUB \r\n", [], None),
    (b"UNSUB 1 2 3\r\n", [], None),
    # a client's -ERR, or an INFO that is not a JSON object: closed without -ERR
    (b"-ERR 'foo'\r\n", [], None),
    (b"-ERR \r\n", [], None),
    (b"INFO\r\n", [], None),
    (b"INFO []\r\nPING\r\n", [], None),
    (b'INFO "x"\r\nPING\r\n', [], None),
    (b"INFO {} junk\r\nPING\r\n", [], None),
    # maximum payload, decided on the control line
    (b"PUB foo 2000000\r\n", [], MAXP),
    (b"PUB foo 999999999\r\n", [], MAXP),
    (b"HPUB foo 0 2000000\r\n", [], MAXP),
    (b"PUB foo 5\r\nhello\r\nPUB foo 1048577\r\n", [HELLO], MAXP),
    # maximum control line: the argument (after the op and its blanks) exceeds 4096 bytes,
    # whether or not its line is complete yet
    (b"PUB " + b"x" * 4097, [], MCL),
    (b"PUB \t  " + b"x" * 4097, [], MCL),
    (b"PUB foo " + b"x" * 4093 + b"\r\n", [], MCL),
    (b"PUB " + b"x" * 4095 + b" 1\r\nx\r\n", [], MCL),
    (b"SUB " + b"x" * 4095 + b" 1\r\nPING\r\n", [], MCL),
    (b"HPUB foo " + b"0" * 4091 + b" 0\r\n\r\n", [], MCL),
    (b"CONNECT " + b"x" * 4097, [], MCL),
    (b"CONNECT {" + b" " * 4097 + b"}\r\nPING\r\n", [], MCL),
    (b"UNSUB " + b"1" * 4097, [], MCL),
    (b"INFO " + b"x" * 4097, [], MCL),
    (b"-ERR " + b"x" * 4097, [], MCL),
    (b"HMSG " + b"x" * 4097, [], MCL),
    (b"HMSG " + b"x" * 4097 + b"\r\n", [], MCL),
]

# Streams nats-server accepts or keeps waiting on: no error, connection open.
OPEN: list[tuple[bytes, list[tuple]]] = [
    (b"P", []),
    (b"PU", []),
    (b"PUB", []),
    (b"PUB ", []),
    (b"PUB foo", []),
    (b"PO", []),
    (b"H", []),
    (b"HP", []),
    (b"HMSG foo", []),
    (b"-ERR", []),
    (b"-ERR 'x'", []),
    (b"INFO", []),
    (b"INFO {}", []),
    (b"CONNECT", []),
    (b"UNSUB", []),
    (b"UNSUB 1", []),
    (b"PUB foo 5\r\nhel", []),
    (b"PUB foo 5\r\nhello", []),
    (b"PUB foo 5\r\nhello\r", []),
    (b"PUB " + b"x" * 4096, []),
    (b"PING" + b"x" * 5000, []),
    (b"+OK" + b"x" * 5000, []),
    (b"PING " + b"x" * 6000 + b"\r\n", [("ping",)]),
    (b"PING\rPONG\r\n", [("ping",)]),
    (b"HPUB foo 5 5\r\nhello\r\n", [("hpub", b"foo", b"", 5, b"hello")]),
    (b"HPUB foo 0 5\r\nhello\r\n", [("hpub", b"foo", b"", 0, b"hello")]),
    (b"HPUB foo 0 0\r\n\r\n", [("hpub", b"foo", b"", 0, b"")]),
    (b"SUB foo 1\r\nSUB foo 1\r\n", [("sub", b"foo", b"", b"1")] * 2),
    (b"PUB foo bar 5 \r\nhello\r\n", [("pub", b"foo", b"bar", b"hello")]),
]


def _cases_every_split(stream: bytes) -> list[list[bytes]]:
    if len(stream) <= 600:
        return list(every_split(stream))
    # Long streams: whole, byte by byte, and cuts around the interesting places.
    n = len(stream)
    cuts = {1, 2, 3, 4, 5, 8, 9, 100, 4095, 4096, 4097, 4100, 4101, 4102, n - 3, n - 2, n - 1}
    drip = [] if split_sensitive(stream, range(n)) else [[stream[i : i + 1] for i in range(n)]]
    return [[stream], *drip] + [
        [stream[:i], stream[i:]]
        for i in sorted(cuts)
        if 0 < i < n and not split_sensitive(stream, [i])
    ]


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "general"])
@pytest.mark.parametrize(
    ("stream", "before", "text"), ERRORS, ids=[repr(c[0][:24]) for c in ERRORS]
)
def test_error_like_nats_server(
    stream: bytes, before: list[tuple], text: str | None, fast: bool
) -> None:
    for chunks in _cases_every_split(stream):
        calls, parser = feed_chunks(chunks, fast=fast)
        assert calls == [*before, ("error", text)], chunks
        assert parser.closed


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "general"])
@pytest.mark.parametrize(("stream", "calls"), OPEN, ids=[repr(c[0][:24]) for c in OPEN])
def test_accepted_or_waiting_like_nats_server(
    stream: bytes, calls: list[tuple], fast: bool
) -> None:
    for chunks in _cases_every_split(stream):
        got, parser = feed_chunks(chunks, fast=fast)
        assert got == calls, chunks
        assert not parser.closed


def test_input_after_an_error_is_ignored() -> None:
    calls, parser = feed_chunks([b"PUB foo 5\r\nhelloXX", b"PING\r\n", b"SUB a 1\r\n"])
    assert calls == [("error", UNKNOWN)]
    assert parser.closed and not parser._buf


def test_error_is_reported_once_even_if_the_handler_raises() -> None:
    calls: list[str | None] = []

    class Handler:
        def __getattr__(self, name: str) -> object:
            return lambda *args: None

        def proto_error(self, text: str | None) -> None:
            calls.append(text)
            raise RuntimeError("handler failed")

    from natskern.kernel.protocol.parser import Parser

    parser = Parser(Handler())
    with pytest.raises(RuntimeError):
        parser.feed(b"FOO\r\n")
    assert parser.closed
    parser.feed(b"BAR\r\n")
    assert calls == [UNKNOWN]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.booleans())
def test_random_bytes_never_raise(data: bytes, fast: bool) -> None:
    calls, parser = feed_chunks([data], fast=fast)
    errors = [c for c in calls if c[0] == "error"]
    assert len(errors) <= 1
    if errors:
        assert calls[-1] == errors[0] and parser.closed
    else:
        assert not parser.closed
