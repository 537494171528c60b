"""RocksDB store micro-benchmark (in-process, no network): a benchmark, not a test.

    python bench/bench_store_rocksdb.py appends [--seconds 3]
    python bench/bench_store_rocksdb.py restart --messages 2000000 [--subjects 1000]

``appends``: the disk's plain fsync rate, then durable appends/s through the
shared store base (``LogStore`` over ``RocksLog``) with 1, 16 and 256 writes in
flight (128-byte payloads).  ``restart``: builds a stream of N messages with
random 128-byte payloads (so block compression does not shrink it), then in
fresh processes times the open after a crash (no current index checkpoint: the
log scans and verifies every record), the clean reopen (checkpoint), the scan
with checksums left to the reads, and reports the RSS each open added.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from natskern.kernel.store.api import StoreConfig, StoredMsg
from natskern.kernel.store.base import LogStore
from natskern.plugins.storage.rocksdb import RocksLog, RocksLogFactory

PAYLOAD = b"x" * 128
#: Random payloads for the large stream, so block compression does not shrink it.
PAYLOADS = [os.urandom(128) for _ in range(4096)]


def rss_kib() -> int:
    """The current resident set size in KiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def fsync_rate(directory: str, seconds: float) -> float:
    """Plain write(1 byte) + fsync per second on ``directory``'s disk."""
    path = os.path.join(directory, "fsync.probe")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    n, end = 0, time.perf_counter() + seconds
    start = time.perf_counter()
    while time.perf_counter() < end:
        os.write(fd, b"x")
        os.fsync(fd)
        n += 1
    os.close(fd)
    os.unlink(path)
    return n / (time.perf_counter() - start)


async def appends(directory: str, in_flight: int, seconds: float) -> float:
    """Durable appends/s with ``in_flight`` concurrent writers."""
    d = os.path.join(directory, f"a{in_flight}")
    store = await LogStore.factory(RocksLogFactory())(StoreConfig(name="B"), d, sync="always")
    done = 0
    stop = time.perf_counter() + seconds

    async def writer(i: int) -> None:
        nonlocal done
        subject = f"bench.{i % 16}"
        while time.perf_counter() < stop:
            await store.store_msg(subject, None, PAYLOAD)
            done += 1

    start = time.perf_counter()
    await asyncio.gather(*(writer(i) for i in range(in_flight)))
    rate = done / (time.perf_counter() - start)
    await store.close()
    shutil.rmtree(d, ignore_errors=True)
    return rate


async def build(directory: str, messages: int, subjects: int) -> None:
    """Write ``messages`` records straight through the log in large groups."""
    log = RocksLog(directory)
    rec = await log.open()
    seq = rec.last_seq
    ts = time.time_ns()
    names = [f"bench.s{i}" for i in range(subjects)]
    while seq < messages:
        for _ in range(min(20_000, messages - seq)):
            seq += 1
            log.append(StoredMsg(names[seq % subjects], seq, ts + seq, None, PAYLOADS[seq % 4096]))
        await log.commit()
    await log.close()


async def open_once(directory: str, verify: bool) -> None:
    """Open and close the store of ``directory``; print the open time and RSS added."""
    before = rss_kib()
    t0 = time.perf_counter()
    c0 = time.process_time()
    factory = LogStore.factory(RocksLogFactory(verify_scan=verify))
    store = await factory(StoreConfig(name="B"), directory, sync="always")
    took = time.perf_counter() - t0
    cpu = time.process_time() - c0
    added = rss_kib() - before
    state = store.state()
    t1 = time.perf_counter()
    await store.close()
    closing = time.perf_counter() - t1
    print(f"{took:.3f} {added} {state.messages} {closing:.3f} {cpu:.3f}", flush=True)


async def invalidate(directory: str) -> None:
    """Drop the index checkpoint: the next open scans, as after a crash."""
    log = RocksLog(directory)
    await log.open()
    log.put_meta("index", None)
    await log.close()


def _open_in_child(directory: str, verify: bool = True) -> tuple[float, int, int, float, float]:
    argv = [sys.executable, __file__, "open-once", directory] + ([] if verify else ["--no-verify"])
    out = subprocess.run(argv, capture_output=True, check=True).stdout.split()
    return float(out[0]), int(out[1]), int(out[2]), float(out[3]), float(out[4])


def main() -> None:
    """Run the chosen benchmark."""
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["appends", "restart", "open-once"])
    ap.add_argument("directory", nargs="?")
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--messages", type=int, default=2_000_000)
    ap.add_argument("--subjects", type=int, default=1000)
    ap.add_argument("--no-verify", action="store_true", help="open-once: verify on read only")
    args = ap.parse_args()
    if args.what == "open-once":
        asyncio.run(open_once(args.directory, not args.no_verify))
        return
    base = tempfile.mkdtemp(prefix="bench-rocks-", dir=args.directory or None)
    try:
        if args.what == "appends":
            print(f"disk fsync rate: {fsync_rate(base, 2.0):,.0f}/s")
            for k in (1, 16, 256):
                rate = asyncio.run(appends(base, k, args.seconds))
                print(f"durable appends, {k:3d} in flight: {rate:,.0f}/s")
        else:
            d = os.path.join(base, "big")
            t0 = time.perf_counter()
            asyncio.run(build(d, args.messages, args.subjects))
            print(f"built {args.messages:,} messages in {time.perf_counter() - t0:.1f} s")
            took, rss, n, closing, cpu = _open_in_child(d)
            print(
                f"open without checkpoint (scan, as after kill -9): {took:.2f} s "
                f"({cpu:.2f} s CPU), +{rss / 1024:.0f} MiB RSS "
                f"({rss * 1024 / max(n, 1):.0f} B/msg), "
                f"{n:,} msgs; close+checkpoint {closing:.2f} s"
            )
            took, rss, n, _, cpu = _open_in_child(d)
            print(
                f"clean reopen (checkpoint): {took:.2f} s ({cpu:.2f} s CPU), "
                f"+{rss / 1024:.0f} MiB RSS ({rss * 1024 / max(n, 1):.0f} B/msg)"
            )
            asyncio.run(invalidate(d))
            took, rss, n, _, cpu = _open_in_child(d, verify=False)
            print(
                f"open without checkpoint, checksums verified on read only: {took:.2f} s "
                f"({cpu:.2f} s CPU), +{rss / 1024:.0f} MiB RSS"
            )
            print(f"database: {sum(f.stat().st_size for f in Path(d).iterdir()) / 2**20:.0f} MiB")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
