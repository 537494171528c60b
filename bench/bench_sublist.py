"""Micro-benchmark of the routing trie: ``python bench/bench_sublist.py`` from the repo root.

Reports ns per cached match, per uncached match (a trie walk), per miss on a subject seen
once (request-reply inboxes), and the time of 100,000 literal and 100,000 wildcard
inserts/removes into a sublist whose cache holds 3,000 hot subjects. A wildcard change scans
the cached keys (it is O(cache), a literal one is O(1)). Numbers compare versions of the code
on one machine; they decide no test.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from natskern.kernel.subjects.sublist import Sublist


class Sub:
    """A minimal subscription."""

    __slots__ = ("queue", "subject")

    def __init__(self, subject: bytes, queue: bytes | None = None) -> None:
        self.subject = subject
        self.queue = queue


def _ns_per_op(fn, arg, n: int) -> float:
    """Best of three runs of ``n`` calls of ``fn(arg)``, in ns per call."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter_ns()
        for _ in range(n):
            fn(arg)
        best = min(best, (time.perf_counter_ns() - start) / n)
    return best


def _populated(cache_size: int) -> Sublist:
    """A sublist shaped like a busy server: 10k literal, 1k wildcard and 1k queue subs."""
    sl = Sublist(cache_size)
    for i in range(10_000):
        sl.insert(Sub(b"orders.%d.created" % i))
    for i in range(1_000):
        sl.insert(Sub(b"_INBOX.%d.*" % i))
        sl.insert(Sub(b"orders.%d.>" % i))
        sl.insert(Sub(b"work.%d" % (i % 10), b"workers"))
    sl.insert(Sub(b"orders.*.created"))
    return sl


def main() -> None:
    """Run every measurement and print one line each."""
    n = 200_000
    sl = _populated(4096)
    subject = b"orders.42.created"
    sl.match(subject)
    sl.match(subject)
    hits = _ns_per_op(sl.match, subject, n)
    print(f"cached match      : {hits:7.0f} ns/op  (fanout {len(sl.match(subject).psubs)})")

    walk = _populated(0)
    print(f"uncached match    : {_ns_per_op(walk.match, subject, n):7.0f} ns/op  (trie walk only)")

    unique = [b"_INBOX.%d.%d" % (i % 1000, i) for i in range(n)]
    start = time.perf_counter_ns()
    for s in unique:
        sl.match(s)
    per = (time.perf_counter_ns() - start) / n
    print(f"unique-subject miss: {per:6.0f} ns/op  (request-reply inboxes; never cached)")

    hot = [b"orders.%d.created" % i for i in range(3000)]
    for s in hot * 2:
        sl.match(s)
    print(f"hot cache entries : {sl.stats()['num_cache']}")
    for label, fmt in (("literal ", b"svc.%d.req"), ("wildcard", b"_INBOX.new%d.*")):
        subs = [Sub(fmt % i) for i in range(100_000)]
        start = time.perf_counter()
        for sub in subs:
            sl.insert(sub)
        ins = time.perf_counter() - start
        start = time.perf_counter()
        for sub in subs:
            sl.remove(sub)
        rem = time.perf_counter() - start
        print(
            f"100k {label} subs : insert {ins * 1e3:6.0f} ms, remove {rem * 1e3:6.0f} ms "
            f"(cache {sl.stats()['num_cache']} entries)"
        )


if __name__ == "__main__":
    main()
