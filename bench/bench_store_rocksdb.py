"""RocksDB store micro-benchmark (in-process, no network): a benchmark, not a test.

    python bench/bench_store_rocksdb.py appends [DIR] [--seconds 3]
    python bench/bench_store_rocksdb.py restart [DIR] [--messages 2000000] [--subjects 1000]
                                        [--tail 1048575] [--removals 1000]

``appends``: the disk's plain fsync rate, then durable appends/s through the
shared store base (``LogStore`` over ``RocksLog``) with 1, 16 and 256 writes in
flight (128-byte payloads).

``restart`` (random 128-byte payloads, so block compression does not shrink the
stream; every step in a fresh process, RSS measured there):

1. build ``messages - tail`` messages through the store (``store_batch`` of
   1,000; periodic index checkpoints are written as it goes) and close it;
2. open it (clean), append ``tail`` more messages and remove ``removals`` older
   ones, then SIGKILL the process (kill -9).  The default tail is one record short
   of the default ``checkpoint_max``: the longest tail a crash can leave;
3. **crash restart**: open after the kill (checkpoint + tail + removal journal);
4. **clean restart**: open after the clean close of step 3;
5. **rebuild**: delete the checkpoint file and open (the full scan a missing or
   corrupt checkpoint costs), once with checksums verified, once without.

A DIR puts the temporary database there (default: the system's temp dir).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from natskern.kernel.store.api import StoreConfig
from natskern.kernel.store.base import LogStore
from natskern.plugins.storage import rocksdb_ckpt as ckptfile
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


async def build(directory: str, messages: int, subjects: int, *, crash: int = 0) -> None:
    """Store messages through the store until it holds ``messages``, in batches of 1,000.

    ``crash``: then remove that many older messages and SIGKILL this process.
    """
    store = await LogStore.factory(RocksLogFactory())(
        StoreConfig(name="B"), directory, sync="always"
    )
    names = [f"bench.s{i}" for i in range(subjects)]
    seq = store.state().last_seq
    while seq < messages:
        n = min(1000, messages - seq)
        items = [(names[(seq + i) % subjects], None, PAYLOADS[(seq + i) % 4096]) for i in range(n)]
        await store.store_batch(items)
        seq += n
    if crash:
        step = max(seq // crash, 1)
        await asyncio.gather(*(store.remove_msg(s) for s in range(step // 2, seq, step)[:crash]))
        log = store._log  # type: ignore[attr-defined]
        assert isinstance(log, RocksLog)
        print(f"{log.checkpoints_written}", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    await store.close()


async def open_once(directory: str, verify: bool) -> None:
    """Open and close the store of ``directory``; print the open time and RSS added.

    The RSS is taken once the open returned and any index checkpoint it asked for
    (after a long scan) is written: what the index costs, not its snapshot's
    transient copy (17 B/msg more while one is written).
    """
    before = rss_kib()
    t0 = time.perf_counter()
    c0 = time.process_time()
    factory = LogStore.factory(RocksLogFactory(verify_scan=verify))
    store = await factory(StoreConfig(name="B"), directory, sync="always")
    took = time.perf_counter() - t0
    cpu = time.process_time() - c0
    state = store.state()
    log = store._log  # type: ignore[attr-defined]
    assert isinstance(log, RocksLog)
    tail = log.recovered_tail
    for _ in range(2):
        await log._checkpoint_written()
        await store._commit.drain()  # type: ignore[attr-defined]
    await log._checkpoint_written()
    added = rss_kib() - before
    t1 = time.perf_counter()
    await store.close()
    closing = time.perf_counter() - t1
    print(f"{took:.3f} {added} {state.messages} {closing:.3f} {cpu:.3f} {tail}", flush=True)


def _open_in_child(
    directory: str, verify: bool = True
) -> tuple[float, int, int, float, float, int]:
    argv = [sys.executable, __file__, "open-once", directory] + ([] if verify else ["--no-verify"])
    out = subprocess.run(argv, capture_output=True, check=True).stdout.split()
    return float(out[0]), int(out[1]), int(out[2]), float(out[3]), float(out[4]), int(out[5])


def _build_in_child(directory: str, messages: int, subjects: int, crash: int = 0) -> str:
    argv = [sys.executable, __file__, "build", directory, f"--messages={messages}"]
    argv += [f"--subjects={subjects}", f"--removals={crash}"] + (["--crash"] if crash else [])
    done = subprocess.run(argv, capture_output=True)
    if done.returncode not in (0, -signal.SIGKILL):
        raise RuntimeError(done.stderr.decode())
    return done.stdout.decode().strip()


def _report(what: str, took: float, cpu: float, rss: int, n: int, extra: str = "") -> None:
    print(
        f"{what}: {took:.2f} s ({cpu:.2f} s CPU), +{rss / 1024:.0f} MiB RSS "
        f"({rss * 1024 / max(n, 1):.0f} B/msg), {n:,} msgs{extra}",
        flush=True,
    )


def main() -> None:
    """Run the chosen benchmark."""
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["appends", "restart", "open-once", "build"])
    ap.add_argument("directory", nargs="?")
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--messages", type=int, default=2_000_000)
    ap.add_argument("--subjects", type=int, default=1000)
    ap.add_argument(
        "--tail", type=int, default=(1 << 20) - 1, help="restart: messages after the checkpoint"
    )
    ap.add_argument("--removals", type=int, default=1000, help="restart: removals before the kill")
    ap.add_argument("--no-verify", action="store_true", help="open-once: verify on read only")
    ap.add_argument("--crash", action="store_true", help="build: remove, then SIGKILL itself")
    args = ap.parse_args()
    if args.what == "open-once":
        asyncio.run(open_once(args.directory, not args.no_verify))
        return
    if args.what == "build":
        crash = args.removals if args.crash else 0
        asyncio.run(build(args.directory, args.messages, args.subjects, crash=crash))
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
            tail = min(args.tail, args.messages)
            t0 = time.perf_counter()
            _build_in_child(d, args.messages - tail, args.subjects)
            t1 = time.perf_counter()
            print(f"built {args.messages - tail:,} messages in {t1 - t0:.1f} s, closed")
            written = _build_in_child(d, args.messages, args.subjects, crash=args.removals)
            print(
                f"reopened, {tail:,} more messages and {args.removals:,} removals in "
                f"{time.perf_counter() - t1:.1f} s ({written} periodic checkpoints), kill -9"
            )
            took, rss, n, closing, cpu, replayed = _open_in_child(d)
            extra = f" ({replayed:,} records after the checkpoint); close {closing:.2f} s"
            _report("crash restart (checkpoint + tail)", took, cpu, rss, n, extra)
            took, rss, n, _, cpu, _ = _open_in_child(d)
            _report("clean restart (checkpoint)", took, cpu, rss, n)
            ckpt = Path(d, ckptfile.FILE)
            size = ckpt.stat().st_size
            ckpt.unlink()
            took, rss, n, _, cpu, _ = _open_in_child(d)
            _report("rebuild (no checkpoint: full scan, verified)", took, cpu, rss, n)
            ckpt.unlink()
            took, rss, n, _, cpu, _ = _open_in_child(d, verify=False)
            _report("rebuild, checksums verified on read only", took, cpu, rss, n)
            total = sum(f.stat().st_size for f in Path(d).iterdir())
            print(f"database: {total / 2**20:.0f} MiB; checkpoint file: {size / 2**20:.0f} MiB")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
