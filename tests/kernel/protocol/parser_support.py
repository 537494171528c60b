"""Helpers for the parser tests: a handler that records every call, and feeding helpers."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import pairwise

from natskern.kernel.protocol.parser import Parser

Call = tuple


class Recorder:
    """A protocol handler that records each call as a tuple, in order."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        #: Payload counts of the runs received through ``proto_pub_run``.
        self.runs: list[int] = []
        #: Message counts of the batches received through ``proto_pub_batch``.
        self.batches: list[int] = []

    def proto_connect(self, arg: bytes) -> None:
        """Record CONNECT."""
        self.calls.append(("connect", arg))

    def proto_pub(self, subject: bytes, reply: bytes, payload: bytes) -> None:
        """Record PUB."""
        self.calls.append(("pub", subject, reply, payload))

    def proto_pub_run(self, subject: bytes, reply: bytes, payloads: list[bytes]) -> None:
        """Record a run as the PUBs it stands for (and its length in ``runs``)."""
        assert len(payloads) >= 2
        self.runs.append(len(payloads))
        self.calls.extend(("pub", subject, reply, payload) for payload in payloads)

    def proto_pub_batch(self, messages: list[tuple[bytes, bytes, bytes]], size: int) -> None:
        """Record a batch as the PUBs it stands for (and its length in ``batches``)."""
        assert len(messages) >= 2
        assert size == sum(len(payload) for _, _, payload in messages)
        self.batches.append(len(messages))
        self.calls.extend(("pub", *message) for message in messages)

    def proto_hpub(self, subject: bytes, reply: bytes, header_size: int, data: bytes) -> None:
        """Record HPUB."""
        self.calls.append(("hpub", subject, reply, header_size, data))

    def proto_sub(self, subject: bytes, queue: bytes, sid: bytes) -> None:
        """Record SUB."""
        self.calls.append(("sub", subject, queue, sid))

    def proto_unsub(self, sid: bytes, max_msgs: int) -> None:
        """Record UNSUB."""
        self.calls.append(("unsub", sid, max_msgs))

    def proto_ping(self) -> None:
        """Record PING."""
        self.calls.append(("ping",))

    def proto_pong(self) -> None:
        """Record PONG."""
        self.calls.append(("pong",))

    def proto_warning(self, text: str) -> None:
        """Record a non-fatal protocol error (pedantic)."""
        self.calls.append(("warning", text))

    def proto_error(self, text: str | None) -> None:
        """Record a fatal protocol error."""
        self.calls.append(("error", text))


def make_parser(
    *, fast: bool = True, headers: bool = True, pedantic: bool = False, **limits: int
) -> Parser:
    """A parser over a fresh ``Recorder`` (``parser.handler``)."""
    parser = Parser(Recorder(), **limits)
    parser._fast = fast
    parser.headers = headers
    parser.pedantic = pedantic
    return parser


def feed_chunks(chunks: Iterable[bytes], **options: object) -> tuple[list[Call], Parser]:
    """Feed ``chunks`` one by one; return the recorded calls and the parser."""
    parser = make_parser(**options)  # type: ignore[arg-type]
    for chunk in chunks:
        parser.feed(chunk)
    return parser.handler.calls, parser


def cut(stream: bytes, positions: Sequence[int]) -> list[bytes]:
    """``stream`` cut at the given (sorted, possibly repeated) byte offsets."""
    bounds = [0, *positions, len(stream)]
    return [stream[a:b] for a, b in pairwise(bounds)]


def _bare_cr_lines(stream: bytes) -> list[tuple[int, int]]:
    """(start, end) of each line (up to its LF) holding a CR that no LF follows."""
    spans = []
    start = 0
    while start < len(stream):
        end = stream.find(b"\n", start)
        end = len(stream) if end < 0 else end
        line = stream[start:end]
        if 13 in (line[:-1] if line.endswith(b"\r") else line):
            spans.append((start, end))
        start = end + 1
    return spans


def split_sensitive(stream: bytes, positions: Sequence[int]) -> bool:
    """Whether a cut falls in a line with a bare CR, where nats-server's result depends on
    where its reads end (a split argument keeps its first part, less the last byte if it
    held a CR, and drops the CRs of the later parts)."""
    spans = _bare_cr_lines(stream)
    return any(a < p <= b for p in positions for a, b in spans)


def every_split(stream: bytes) -> Iterable[list[bytes]]:
    """The stream whole, byte by byte, and cut in two at every position.

    Cuts that ``split_sensitive`` calls read-dependent are left out.
    """
    yield [stream]
    if not _bare_cr_lines(stream):
        yield [stream[i : i + 1] for i in range(len(stream))]
    for i in range(1, len(stream)):
        if not split_sensitive(stream, [i]):
            yield [stream[:i], stream[i:]]
