"""In-process cost of the publish path: parser, session, router and frame building.

Feeds 64 KiB reads of pipelined 16-byte PUBs to a real broker session whose receivers sit
on sink transports (no sockets, no event-loop turns), flushing after every read as the
broker does, and prints nanoseconds per message (best of a few runs).  It isolates the
Python hot path from the kernel's socket costs that ``bench/run.py`` includes.

    python bench/bench_route.py [--count N] [--runs R] [SHAPE ...]

Shapes: ``pubsub`` (one subject, one subscriber: runs), ``rot`` (8 subjects in turn, one
``foo.*`` subscriber: batches), ``rot-lit`` (8 subjects in turn, one literal subscriber
each), ``req`` (a unique reply inbox per message: the per-message path), ``queue`` (a
queue group of 2), ``fanout`` (4 subscribers).
"""

from __future__ import annotations

import argparse
import asyncio
import time

from natskern import Broker

NO_CHECKS = b'CONNECT {"verbose":false,"pedantic":false}\r\n'
PAYLOAD = b"0123456789abcdef"
READ = 65536


class Sink:
    """The parts of an asyncio transport a session uses; writes are counted and dropped."""

    def __init__(self) -> None:
        self.written = 0

    def write(self, data: bytes) -> None:
        self.written += len(data)

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: object = None) -> object:
        return ("127.0.0.1", 0) if name == "peername" else default

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


SHAPES: dict[str, tuple[list[bytes], list[bytes]]] = {
    # shape: (SUB lines, one per subscriber session; one cycle of PUB frames)
    "pubsub": ([b"SUB foo.bar 1\r\n"], [b"PUB foo.bar 16\r\n%s\r\n" % PAYLOAD]),
    "rot": ([b"SUB foo.* 1\r\n"], [b"PUB foo.%d 16\r\n%s\r\n" % (k, PAYLOAD) for k in range(8)]),
    "rot-lit": (
        [b"SUB foo.%d %d\r\n" % (k, k) for k in range(8)],
        [b"PUB foo.%d 16\r\n%s\r\n" % (k, PAYLOAD) for k in range(8)],
    ),
    "req": (
        [b"SUB svc 1\r\n"],
        [b"PUB svc _INBOX.abcdefgh.%04d 16\r\n%s\r\n" % (k, PAYLOAD) for k in range(1000)],
    ),
    "queue": ([b"SUB foo.bar q 1\r\n"] * 2, [b"PUB foo.bar 16\r\n%s\r\n" % PAYLOAD]),
    "fanout": ([b"SUB foo.bar 1\r\n"] * 4, [b"PUB foo.bar 16\r\n%s\r\n" % PAYLOAD]),
}


async def measure(shape: str, count: int, runs: int) -> float:
    """Best nanoseconds per message for ``shape``."""
    subs, frames = SHAPES[shape]
    broker = Broker({})
    broker._loop = asyncio.get_running_loop()  # sessions without listening: no start()
    publisher = broker.accept(Sink())
    assert publisher is not None
    publisher.data_received(NO_CHECKS)
    sinks = []
    for line in subs:
        sink = Sink()
        session = broker.accept(sink)
        assert session is not None
        session.data_received(NO_CHECKS + line)
        sinks.append(sink)
    cycle = b"".join(frames)
    reads = []
    stream = cycle * max(1, (READ * 16) // len(cycle))
    for start in range(0, len(stream), READ):
        reads.append(stream[start : start + READ])
    per_pass = len(frames) * (len(stream) // len(cycle))
    best = float("inf")
    for _ in range(runs):
        done = 0
        t0 = time.perf_counter()
        while done < count:
            for data in reads:
                publisher.data_received(data)
                broker.flush_dirty()
            done += per_pass
        best = min(best, (time.perf_counter() - t0) / done)
    assert all(sink.written for sink in sinks), "a subscriber received nothing"
    return best * 1e9


def main() -> None:
    """Parse arguments, measure each shape, print ns/message."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("shapes", nargs="*", metavar="SHAPE", help=", ".join(SHAPES))
    ap.add_argument("--count", type=int, default=300_000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    unknown = [s for s in args.shapes if s not in SHAPES]
    if unknown:
        ap.error(f"unknown shape {unknown[0]!r} (choose from {', '.join(SHAPES)})")
    for shape in args.shapes or SHAPES:
        ns = asyncio.run(measure(shape, args.count, args.runs))
        print(f"{shape:8s}: {ns:6.0f} ns/msg  ({1e9 / ns:,.0f} msgs/s in-process)")


if __name__ == "__main__":
    main()
