"""Header blocks: build, parse, single-header lookup; cross-checked with nats-py."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nats.aio.client import Client as NatsPyClient
from natskern.kernel.protocol.headers import (
    NO_RESPONDERS_HDR,
    build_headers,
    header_value,
    parse_headers,
)


def test_build_exact_bytes() -> None:
    assert build_headers({}) == b"NATS/1.0\r\n\r\n"
    assert build_headers({"Nats-Msg-Id": "1", "X": "y z"}) == (
        b"NATS/1.0\r\nNats-Msg-Id: 1\r\nX: y z\r\n\r\n"
    )
    assert build_headers([("A", "1"), ("A", "2")]) == b"NATS/1.0\r\nA: 1\r\nA: 2\r\n\r\n"
    assert build_headers({"A": ["1", "2"]}) == b"NATS/1.0\r\nA: 1\r\nA: 2\r\n\r\n"
    assert build_headers({b"K": b"v"}) == b"NATS/1.0\r\nK: v\r\n\r\n"
    assert build_headers({}, "503") == NO_RESPONDERS_HDR == b"NATS/1.0 503\r\n\r\n"
    assert build_headers([("Nats-Last-Consumer", "5")], "100", "Idle Heartbeat") == (
        b"NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: 5\r\n\r\n"
    )


@pytest.mark.parametrize(
    ("headers", "status", "description"),
    [
        ({"": "x"}, None, None),
        ({"A:B": "x"}, None, None),
        ({"A B": "x"}, None, None),
        ({"A\r\nB": "x"}, None, None),
        ({"A": "x\r\nInjected: 1"}, None, None),
        ({"A": "x\n"}, None, None),
        ({}, "50", None),
        ({}, "5031", None),
        ({}, "abc", None),
        ({}, "404", "No\r\nMessages"),
        ({}, None, "description without status"),
    ],
)
def test_build_rejects(headers: dict, status: str | None, description: str | None) -> None:
    with pytest.raises(ValueError):
        build_headers(headers, status, description)


def test_parse() -> None:
    assert parse_headers(b"NATS/1.0\r\n\r\n") == (None, None, [])
    assert parse_headers(NO_RESPONDERS_HDR) == ("503", None, [])
    block = b"NATS/1.0 408 Request Timeout\r\nNats-Pending-Messages: 1\r\nA:b \r\nA:  c\r\n\r\n"
    assert parse_headers(block) == (
        "408",
        "Request Timeout",
        [("Nats-Pending-Messages", "1"), ("A", "b"), ("A", "c")],
    )
    # lines without a colon are skipped; nothing after the empty line is read
    assert parse_headers(b"NATS/1.0\r\njunk\r\nK: v\r\n\r\nL: w\r\n") == (None, None, [("K", "v")])
    with pytest.raises(ValueError):
        parse_headers(b"HTTP/1.1 200 OK\r\n\r\n")


def test_header_value() -> None:
    block = (
        b"NATS/1.0\r\nNats-Msg-Id-X: no\r\nnats-msg-id: no\r\n"
        b"Nats-Msg-Id:  abc \r\nNats-Msg-Id: 2\r\n\r\n"
    )
    assert header_value(block, b"Nats-Msg-Id") == b"abc"
    assert header_value(block, b"Nats-Msg-Id-X") == b"no"
    assert header_value(block, b"Nats-Expected-Stream") is None
    assert header_value(b"NATS/1.0\r\nA: 1\r\n\r\n", b"NATS/1.0") is None
    # only the header section counts, not bytes after its terminating empty line
    assert header_value(b"NATS/1.0\r\nA: 1\r\n\r\n\r\nB: 2\r\n", b"B") is None
    assert header_value(b"NATS/1.0\r\nA: 1\r\nB: 2", b"B") == b"2"  # unterminated block
    assert header_value(b"NATS/1.0\r\nA:\r\n\r\n", b"A") == b""


NAME = st.text(
    st.characters(min_codepoint=33, max_codepoint=126, blacklist_characters=":"),
    min_size=1,
    max_size=10,
)
VALUE = st.text(
    st.characters(blacklist_characters="\r\n", blacklist_categories=["Cs"]), max_size=20
).map(lambda v: v.strip(" \t"))
STATUS = st.none() | st.sampled_from(["100", "404", "408", "503"])


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(NAME, VALUE), max_size=6), STATUS, st.sampled_from([None, "Idle Heartbeat"])
)
def test_build_parse_round_trip(
    pairs: list[tuple[str, str]], status: str | None, desc: str | None
) -> None:
    description = desc if status else None
    block = build_headers(pairs, status, description)
    assert parse_headers(block) == (status, description, pairs)
    for name, _ in pairs:
        first = next(v for n, v in pairs if n == name)
        assert header_value(block, name.encode()) == first.encode()


async def test_nats_py_reads_what_we_build() -> None:
    nc = NatsPyClient()
    block = build_headers({"Nats-Msg-Id": "abc", "X-Trace": "1 2"})
    assert await nc._process_headers(block) == {"Nats-Msg-Id": "abc", "X-Trace": "1 2"}
    heartbeat = build_headers({"Nats-Last-Consumer": "7"}, "100", "Idle Heartbeat")
    hdrs = await nc._process_headers(heartbeat)
    assert hdrs["Status"] == "100"
    assert hdrs["Description"] == "Idle Heartbeat"
    assert hdrs["Nats-Last-Consumer"] == "7"
    assert (await nc._process_headers(NO_RESPONDERS_HDR))["Status"] == "503"
