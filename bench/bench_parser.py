"""Throughput of the client-protocol parser on pipelined 16-byte PUBs.

Feeds 1,000,000 ``PUB foo.bar 16`` messages in 64 KiB chunks into a ``Parser`` whose
handler does nothing and prints messages per second (best of a few runs).  Two more
streams show the spread: nats-py's own framing (``PUB foo.bar  16``, empty reply token)
and a distinct subject per message (no two consecutive control lines alike).

    python bench/bench_parser.py [--count N] [--chunk BYTES] [--runs R]
"""

from __future__ import annotations

import argparse
import time

from natskern.kernel.protocol.parser import Parser

PAYLOAD = b"0123456789abcdef"


class NullHandler:
    """A handler whose methods do nothing (measures the parser alone)."""

    def proto_connect(self, arg: bytes) -> None:
        """Ignore CONNECT."""

    def proto_pub(self, subject: bytes, reply: bytes, payload: bytes) -> None:
        """Ignore PUB."""

    def proto_hpub(self, subject: bytes, reply: bytes, header_size: int, data: bytes) -> None:
        """Ignore HPUB."""

    def proto_sub(self, subject: bytes, queue: bytes, sid: bytes) -> None:
        """Ignore SUB."""

    def proto_unsub(self, sid: bytes, max_msgs: int) -> None:
        """Ignore UNSUB."""

    def proto_ping(self) -> None:
        """Ignore PING."""

    def proto_pong(self) -> None:
        """Ignore PONG."""

    def proto_error(self, text: str | None) -> None:
        """A benchmark stream must never produce a protocol error."""
        raise AssertionError(f"protocol error: {text!r}")


class CountingHandler(NullHandler):
    """Counts PUBs so a run can check that every message was parsed."""

    def __init__(self) -> None:
        self.count = 0

    def proto_pub(self, subject: bytes, reply: bytes, payload: bytes) -> None:
        """Count one PUB."""
        self.count += 1


def make_stream(kind: str, count: int) -> bytes:
    """``count`` pipelined PUBs: ``fixed``, ``nats-py`` framing or ``unique`` subjects."""
    if kind == "fixed":
        return (b"PUB foo.bar 16\r\n" + PAYLOAD + b"\r\n") * count
    if kind == "nats-py":
        return (b"PUB foo.bar  16\r\n" + PAYLOAD + b"\r\n") * count
    return b"".join(b"PUB foo.%d 16\r\n%b\r\n" % (k, PAYLOAD) for k in range(count))


def run(chunks: list[bytes], handler: NullHandler) -> float:
    """Feed all chunks into a fresh parser; return the elapsed seconds."""
    parser = Parser(handler)
    feed = parser.feed
    t0 = time.perf_counter()
    for chunk in chunks:
        feed(chunk)
    return time.perf_counter() - t0


def main() -> None:
    """Parse arguments, run each stream, print msgs/s."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=1_000_000)
    ap.add_argument("--chunk", type=int, default=65536)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    for kind in ("fixed", "nats-py", "unique"):
        stream = make_stream(kind, args.count)
        chunks = [stream[i : i + args.chunk] for i in range(0, len(stream), args.chunk)]
        check = CountingHandler()
        run(chunks, check)
        assert check.count == args.count, (kind, check.count)
        best = min(run(chunks, NullHandler()) for _ in range(args.runs))
        rate = args.count / best
        print(f"parser {kind:8s}: {args.count:,} PUB x 16 B in {best:.3f} s = {rate:,.0f} msgs/s")


if __name__ == "__main__":
    main()
