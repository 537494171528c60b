"""Property tests for the parser: random streams, random splits, fast path == general path."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from parser_support import cut, feed_chunks, split_sensitive

# -- streams generated from a model of the operations ---------------------------------------

TOKEN = st.binary(min_size=1, max_size=12).filter(lambda b: not any(c in b for c in b" \t\r\n"))
PAYLOAD = st.binary(max_size=40) | st.sampled_from([b"", b"\r\n", b"\r\n\r\n", b"a\rb\nc\r\n"])
HEADERS = st.sampled_from(
    [b"NATS/1.0\r\n\r\n", b"NATS/1.0\r\nA: b\r\n\r\n", b"NATS/1.0 503\r\n\r\n", b"NATS/1.0\r\n"]
)
BLANKS = st.sampled_from([b" ", b" ", b" ", b"\t", b"  ", b" \t "])
EOL = st.sampled_from([b"\r\n", b"\r\n", b"\r\n", b"\n"])


def _case(draw: st.DrawFn, word: bytes) -> bytes:
    """The op word in a random letter case (mostly upper, as clients send it)."""
    if draw(st.integers(0, 3)):
        return word
    flips = draw(st.lists(st.booleans(), min_size=len(word), max_size=len(word)))
    return bytes(c ^ 32 if f and 65 <= c <= 90 else c for c, f in zip(word, flips, strict=True))


@st.composite
def operation(draw: st.DrawFn) -> tuple[bytes, tuple]:
    """One operation as (wire bytes, the call the parser must make)."""
    kind = draw(st.sampled_from(["pub", "pub", "hpub", "sub", "unsub", "ping", "pong", "connect"]))
    sep = draw(BLANKS)
    eol = draw(EOL)
    if kind in ("pub", "hpub"):
        subject = draw(TOKEN)
        reply = draw(st.just(b"") | TOKEN)
        payload = draw(PAYLOAD)
        words = [_case(draw, kind.upper().encode()), subject]
        if reply:
            words.append(reply)
        elif draw(st.booleans()):
            words.append(b"")  # nats-py's "PUB subject  size" (empty reply, two spaces)
        if kind == "pub":
            words.append(b"%d" % len(payload))
            call: tuple = ("pub", subject, reply, payload)
        else:
            hdr = draw(HEADERS)
            payload = hdr + payload
            words += [b"%d" % len(hdr), b"%d" % len(payload)]
            call = ("hpub", subject, reply, len(hdr), payload)
        return sep.join(words) + eol + payload + b"\r\n", call
    if kind == "sub":
        subject, sid = draw(TOKEN), draw(TOKEN)
        queue = draw(st.just(b"") | TOKEN)
        words = [_case(draw, b"SUB"), subject, *([queue] if queue else []), sid]
        return sep.join(words) + eol, ("sub", subject, queue, sid)
    if kind == "unsub":
        sid = draw(TOKEN)
        limit = draw(st.integers(0, 10**6))
        words = [_case(draw, b"UNSUB"), sid, *([b"%d" % limit] if limit else [])]
        return sep.join(words) + eol, ("unsub", sid, limit)
    if kind == "connect":
        arg = draw(st.sampled_from([b"{}", b'{"verbose":false,"headers":true}']))
        return _case(draw, b"CONNECT") + sep + arg + eol, ("connect", arg)
    junk = draw(st.sampled_from([b"", b"", b" x"]))
    return _case(draw, kind.upper().encode()) + junk + eol, (kind,)


@st.composite
def stream_with_cuts(draw: st.DrawFn) -> tuple[bytes, list[tuple], list[int]]:
    """A stream of operations, the calls it must produce, and random cut positions."""
    ops = []
    for op in draw(st.lists(operation(), max_size=12)):
        ops += [op] * draw(st.integers(1, 3))  # consecutive repeats hit the fast path's memo
    stream = b"".join(wire for wire, _ in ops)
    positions = sorted(draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    return stream, [call for _, call in ops], positions


@settings(max_examples=250, deadline=None)
@given(stream_with_cuts(), st.booleans())
def test_generated_streams_any_split(
    case: tuple[bytes, list[tuple], list[int]], fast: bool
) -> None:
    stream, expected, positions = case
    calls, parser = feed_chunks(cut(stream, positions), fast=fast)
    assert calls == expected
    assert not parser.closed and not parser._buf and not parser._need


# -- token soup: arbitrary, mostly invalid streams ------------------------------------------

FRAGMENTS = st.sampled_from(
    [
        b"PUB", b"pub", b"HPUB", b"SUB", b"UNSUB", b"PING", b"PONG", b"CONNECT", b"INFO",
        b"+OK", b"-ERR", b"MSG", b"HMSG", b" ", b" ", b"\t", b"\r\n", b"\r\n", b"\r", b"\n",
        b"foo", b"a.b", b"0", b"1", b"2", b"5", b"12", b"99999", b"NATS/1.0", b"{}", b"x",
        b"\x0c", b"-", b"+",
    ]
)  # fmt: skip


@settings(max_examples=600, deadline=None)
@given(st.lists(FRAGMENTS, max_size=40), st.lists(st.integers(0, 400), max_size=6))
def test_token_soup_fast_equals_general_and_split_invariant(
    fragments: list[bytes], raw_cuts: list[int]
) -> None:
    stream = b"".join(fragments)
    positions = sorted(min(c, len(stream)) for c in raw_cuts)
    limits = {"max_payload": 64, "max_control_line": 24}
    reference, ref_parser = feed_chunks([stream], fast=False, **limits)
    if split_sensitive(stream, positions):  # the same reads for both paths, then
        reference, ref_parser = feed_chunks(cut(stream, positions), fast=False, **limits)
    for fast in (True, False):
        calls, parser = feed_chunks(cut(stream, positions), fast=fast, **limits)
        assert calls == reference
        assert parser.closed == ref_parser.closed
    errors = [c for c in reference if c[0] == "error"]
    assert len(errors) <= 1
    assert ref_parser.closed == bool(errors)
    if errors:
        assert reference[-1] == errors[0]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.lists(st.integers(0, 200), max_size=5))
def test_random_bytes_split_invariant(data: bytes, raw_cuts: list[int]) -> None:
    positions = sorted(min(c, len(data)) for c in raw_cuts)
    reference, _ = feed_chunks(
        [data] if not split_sensitive(data, positions) else cut(data, positions), fast=False
    )
    assert feed_chunks(cut(data, positions), fast=True)[0] == reference


# -- valid streams with a few bytes changed: near-misses of the fast path ----------------------

MUTATION = st.tuples(
    st.integers(0, 10**6),
    st.sampled_from(
        [b"", b" ", b"\t", b"\r", b"\n", b"\r\n", b"0", b"9", b"x", b"P", b"\x0b", b".", b"*", b">"]
    ),
    st.integers(0, 2),
)


@settings(max_examples=200, deadline=None)
@given(stream_with_cuts(), st.lists(MUTATION, min_size=1, max_size=3), st.booleans())
def test_mutated_streams_fast_equals_general(
    case: tuple[bytes, list[tuple], list[int]],
    mutations: list[tuple[int, bytes, int]],
    pedantic: bool,
) -> None:
    stream, _, positions = case
    data = bytearray(stream)
    for where, insert, delete in mutations:
        at = where % (len(data) + 1)
        data[at : at + delete] = insert
    mutated = bytes(data)
    positions = [min(p, len(mutated)) for p in positions]
    limits = {"max_payload": 4096, "max_control_line": 48}
    # (pedantic errors depend on where reads end: compare with the same cuts then)
    same = split_sensitive(mutated, positions) or pedantic
    whole = cut(mutated, positions) if same else [mutated]
    reference, ref_parser = feed_chunks(whole, fast=False, pedantic=pedantic, **limits)
    calls, parser = feed_chunks(cut(mutated, positions), fast=True, pedantic=pedantic, **limits)
    assert calls == reference
    assert parser.closed == ref_parser.closed
