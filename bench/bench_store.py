"""In-process stream-store benchmark: appends, reads, the disk's fsync rate, RSS, restart.

    python bench/bench_store.py [--count N] [--backends memory,file,rocksdb] [--dir DIR]
                                [--rss-msgs N] [--restart-msgs N] [--quick] [--loop asyncio]
    python bench/bench_store.py --profile file [--in-flight 256] [--count N] [--top 25]
                                [--pipelined | --batched]

Per backend (``file`` / ``rocksdb`` when their modules import): appends/s in
durable mode (``sync="always"``: acknowledged after the fsync; for memory, whose
log is not durable, writers never wait) with 1, 16 and 256 writes in flight (and
the messages per commit), lazy mode (``sync`` = 10 ms), sequential and random
``load_msg``, and per-subject ``load_last_msg``; for memory also ``store_batch``
(batches of 1,000).  Next to it the disk's plain fsync rate (4 KiB write +
fsync, for 2 s) and the ratio of durable-256 to it.  Then the index's RSS per
message for a stream of ``--rss-msgs`` messages on 1,000 subjects (index only,
over a log that keeps nothing, and the memory backend with its data), and the
RSS per pending ack of a consumer with ``--consumer-pending`` unacknowledged
deliveries, and the index part of restart for ``--restart-msgs`` messages: reopening from the index
checkpoint (clean stop) and indexing every recovered record (after a crash),
over a synthetic log that only yields records (the backend's own I/O is not in
it: see ``bench_store_restart.py`` for the file store end to end).

Two ways of having writes in flight: ``store_msg`` from that many tasks (each
write is a task's ``await``: the harness's own asyncio cost, ~2-3 us a write, is
in the figure), and ``pipelined``: one writer stages with ``stage_msg`` and keeps
that many writes staged but not yet durable, waiting for the oldest's commit when
the window is full, as the JetStream publish path does with a client's pipelined
publishes (acknowledged in order as their commits complete).  A third,
``batched`` ("256 in flight, staged as batches, as the publish path does"): one
writer stages ``stage_batch`` calls of 64 messages each (what
``kernel/jetstream/publish_run.py`` hands the store for a socket read's worth of
plain publishes) and keeps at most 256 messages (4 batches) staged but not yet
durable, waiting for the oldest batch's commit when the window is full.

The loop is uvloop's when it is installed (the server's loop; ``--loop asyncio``
for the standard one).  ``--quick``: small counts for every section (a smoke run).

``--profile BACKEND`` runs only the durable appends of that backend (``--in-flight``
writers, or ``--pipelined``, or ``--batched``) under cProfile and prints the
functions with the most own time, per append (us), the harness's own frames
included: what an append costs, by function.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import importlib
import os
import pstats
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

from natskern.kernel.store.api import StoreConfig, StoredMsg, StreamStoreFactory
from natskern.kernel.store.base import LogStore, record_size
from natskern.kernel.store.log import RecordMeta, Recovery
from natskern.plugins.storage.memory import MemoryLogFactory

PAYLOAD = b"x" * 128
SUBJECTS = [f"bench.s{i}" for i in range(100)]
LAZY = 10_000_000


def rss() -> int:
    """Resident set size of this process, in bytes."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def fsync_rate(directory: str, seconds: float) -> float:
    """Plain 4 KiB write + fsync per iteration, for ``seconds``: fsyncs per second."""
    path = os.path.join(directory, "fsync.probe")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    block = b"\0" * 4096
    n = 0
    t0 = time.perf_counter()
    try:
        while time.perf_counter() - t0 < seconds:
            os.write(fd, block)
            os.fsync(fd)
            n += 1
    finally:
        os.close(fd)
        os.remove(path)
    return n / (time.perf_counter() - t0)


def backends(names: list[str]) -> dict[str, StreamStoreFactory]:
    """The store factories of the backends asked for that import."""
    out: dict[str, StreamStoreFactory] = {}
    for name in names:
        if name == "memory":
            out[name] = LogStore.factory(MemoryLogFactory())
        elif name == "file":
            try:
                mod = importlib.import_module("natskern.plugins.storage.file")
                out[name] = LogStore.factory(mod.FileLogFactory)
            except ImportError as exc:
                print(f"file: not available ({exc})")
        elif name == "rocksdb":
            try:
                mod = importlib.import_module("natskern.plugins.storage.rocksdb")
                out[name] = LogStore.factory(mod.RocksLogFactory())
            except ImportError as exc:
                print(f"rocksdb: not available ({exc})")
    return out


async def store_msgs(store: Any, count: int, in_flight: int) -> float:
    """Messages/s of ``count`` store_msg calls, ``in_flight`` writers at a time."""
    per = max(count // in_flight, 1)

    async def writer(k: int) -> None:
        subj = SUBJECTS[k % len(SUBJECTS)]
        for _ in range(per):
            await store.store_msg(subj, None, PAYLOAD)

    t0 = time.perf_counter()
    if in_flight == 1:
        await writer(0)
    else:
        await asyncio.gather(*(writer(k) for k in range(in_flight)))
    await store.flush()
    return per * in_flight / (time.perf_counter() - t0)


async def pipelined(store: Any, count: int, in_flight: int) -> float:
    """Messages/s of ``count`` ``stage_msg`` calls, at most ``in_flight`` not yet durable.

    One writer, as the JetStream publish path: it stages, and when ``in_flight``
    writes wait for their commits it waits for the oldest one's (writes are
    acknowledged in order).
    """
    window: deque[Any] = deque()
    stage = store.stage_msg
    t0 = time.perf_counter()
    for i in range(count):
        window.append(stage(SUBJECTS[i % 100], None, PAYLOAD)[2])
        if len(window) >= in_flight:
            fut = window.popleft()
            if fut is not None and not fut.done():
                await fut
    await store.flush()
    return count / (time.perf_counter() - t0)


BATCH = 64


async def batched(store: Any, count: int, in_flight: int, batch: int = BATCH) -> float:
    """Messages/s of ``count`` messages staged with ``stage_batch`` calls of ``batch``.

    One writer, as the JetStream publish path with a socket read's worth of plain
    publishes: at most ``in_flight`` messages (``in_flight // batch`` batches)
    staged but not yet durable; when the window is full it waits for the oldest
    batch's commit.
    """
    batch = min(batch, in_flight)
    items = [
        [(SUBJECTS[(k * batch + i) % 100], None, PAYLOAD) for i in range(batch)] for k in range(16)
    ]
    window: deque[Any] = deque()
    stage = store.stage_batch
    depth = max(in_flight // batch, 1)
    n = max(count // batch, 1)
    t0 = time.perf_counter()
    for k in range(n):
        window.append(stage(items[k % 16])[2])
        if len(window) >= depth:
            fut = window.popleft()
            if fut is not None and not fut.done():
                await fut
    await store.flush()
    return n * batch / (time.perf_counter() - t0)


async def reads(store: Any, seqs: list[int]) -> float:
    """load_msg calls per second over ``seqs``."""
    t0 = time.perf_counter()
    for seq in seqs:
        await store.load_msg(seq)
    return len(seqs) / (time.perf_counter() - t0)


BATCHED = "always, 256 staged as batches of 64"


async def bench_backend(name: str, factory: StreamStoreFactory, root: str, count: int) -> dict:
    """Every append and read figure of one backend."""
    res: dict[str, float] = {}
    runs = 0

    async def fresh(sync: str | int = "always") -> Any:
        nonlocal runs
        runs += 1
        return await factory(
            StoreConfig(f"B{runs}"), os.path.join(root, f"{name}{runs}"), sync=sync
        )

    durable = name != "memory"
    for n in (1, 16, 256):
        s = await fresh()
        c = count if n > 1 or not durable else max(count // 10, 200)
        before = s._commit.commits
        res[f"always, {n:>3} in flight"] = await store_msgs(s, c, n)
        res[f"  msgs/commit at {n}"] = c / max(s._commit.commits - before, 1)
        await s.close()
    s = await fresh()
    before = s._commit.commits
    res["always, 256 pipelined"] = await pipelined(s, count, 256)
    res["  msgs/commit pipelined"] = count / max(s._commit.commits - before, 1)
    await s.close()
    s = await fresh()
    before = s._commit.commits
    res[BATCHED] = await batched(s, count, 256)
    res["  msgs/commit batched"] = count / max(s._commit.commits - before, 1)
    await s.close()
    s = await fresh(LAZY)
    res["lazy 10 ms, 1 in flight"] = await store_msgs(s, count, 1)
    await s.close()
    s = await fresh()
    if name == "memory":
        t0 = time.perf_counter()
        batch = [(SUBJECTS[i % 100], None, PAYLOAD) for i in range(1000)]
        for _ in range(max(count * 5 // 1000, 1)):
            await s.store_batch(batch)
        res["store_batch (1,000)"] = max(count * 5 // 1000, 1) * 1000 / (time.perf_counter() - t0)
    else:
        await store_msgs(s, count, 256)
    last = s.state().last_seq
    seqs = list(range(1, last + 1))[: min(last, 50_000)]
    res["sequential load_msg"] = await reads(s, seqs)
    random.Random(1).shuffle(seqs)
    res["random load_msg"] = await reads(s, seqs)
    t0 = time.perf_counter()
    k = 0
    for _ in range(max(len(seqs) // 100, 10)):
        for subj in SUBJECTS:
            await s.load_last_msg(subj)
            k += 1
    res["load_last_msg(subject)"] = k / (time.perf_counter() - t0)
    await s.close()
    return res


class NullLog:
    """A record log that keeps nothing (index-only RSS) or yields synthetic records."""

    durable = False

    def __init__(self, synthetic: int = 0, subjects: int = 1000) -> None:
        self.synthetic = synthetic
        self.subjects = [f"rss.s{i}" for i in range(subjects)]
        self.meta: dict[str, bytes] = {}
        self.current = False

    async def open(self) -> Recovery:
        """Synthetic records of 128-byte payloads (or the checkpoint, when current)."""
        if self.current:
            return Recovery((), self.synthetic, 0, checkpoint_current=True)
        subs, n, sizes = (
            self.subjects,
            len(self.subjects),
            [record_size(x, None, PAYLOAD) for x in self.subjects],
        )

        def gen() -> Iterator[RecordMeta]:
            for seq in range(1, self.synthetic + 1):
                i = seq % n
                yield RecordMeta(seq, seq, subs[i], sizes[i])

        return Recovery(gen(), self.synthetic, self.synthetic)

    def append(self, msg: StoredMsg, ttl: int = 0) -> None:
        """Discard."""

    def append_batch(self, first_seq: int, ts: int, items: Any) -> None:
        """Discard."""

    def remove(self, seq: int, *, erase: bool = False) -> None:
        """Discard."""

    def remove_range(self, first: int, last: int) -> None:
        """Discard."""

    async def commit(self) -> None:
        """Nothing to do."""

    async def read(self, seq: int) -> StoredMsg | None:
        """Nothing kept."""
        return None

    async def get_meta(self, key: str) -> bytes | None:
        """A kept metadata value."""
        return self.meta.get(key)

    def put_meta(self, key: str, value: bytes | None) -> None:
        """Keep a metadata value (the checkpoint makes the next open skip the records)."""
        if value is not None:
            self.meta[key] = value
            self.current = self.current or key == "index"

    def aux_log(self, name: str) -> Any:
        """Not used here."""
        raise NotImplementedError

    def aux_names(self) -> list[str]:
        """None."""
        return []

    def drop_aux(self, name: str) -> None:
        """Nothing."""

    async def close(self) -> None:
        """Nothing."""

    async def destroy(self) -> None:
        """Nothing."""


async def rss_per_msg(n: int) -> dict[str, float]:
    """Bytes of RSS per message: the index alone, and the memory backend with its data."""
    out: dict[str, float] = {}
    for label, make in (
        ("index only", lambda: NullLog()),
        ("memory backend (index + data)", lambda: MemoryLogFactory()("m", sync="always")),
    ):
        gc.collect()
        r0 = rss()
        s = await LogStore.open(make(), StoreConfig("R"))  # type: ignore[arg-type]
        subs = [f"rss.s{i}" for i in range(1000)]
        for start in range(0, n, 10_000):
            await s.store_batch(
                [(subs[i % 1000], None, PAYLOAD) for i in range(start, min(start + 10_000, n))]
            )
        gc.collect()
        out[label] = (rss() - r0) / n
        await s.close()
        del s
        gc.collect()
    return out


async def consumer_rss(n: int) -> float:
    """Bytes of RSS per pending ack: ``n`` deliveries, none acknowledged."""
    s = await LogStore.open(MemoryLogFactory()("c", sync="always"), StoreConfig("C"))  # type: ignore[arg-type]
    c = await s.consumer_store("C")
    await c.update_delivered(1, 1, 1, 1)
    gc.collect()
    r0 = rss()
    for i in range(2, n + 2):
        await c.update_delivered(i, i, 1, i)
    await s.flush()
    gc.collect()
    per = (rss() - r0) / n
    await s.close()
    return per


async def restart(n: int) -> dict[str, float]:
    """Seconds to reopen ``n`` messages' index: from the checkpoint, and by indexing records.

    The records are built before the clock starts (a backend's parsing is its own cost).
    """
    log = NullLog(synthetic=n)
    held = [list((await log.open()).records)]  # type: ignore[arg-type]
    log.open = lambda: _recovered(held.pop(), n)  # type: ignore[method-assign]
    gc.collect()
    t0 = time.perf_counter()
    s = await LogStore.open(log, StoreConfig("R"))  # type: ignore[arg-type]
    scan = time.perf_counter() - t0
    assert s.state().messages == n
    t0 = time.perf_counter()
    await s.close()
    save = time.perf_counter() - t0
    log.open = NullLog.open.__get__(log)  # type: ignore[method-assign]
    t0 = time.perf_counter()
    s = await LogStore.open(log, StoreConfig("R"))  # type: ignore[arg-type]
    load = time.perf_counter() - t0
    assert s.state().messages == n
    return {
        "index every record (after a crash)": scan,
        "checkpoint save (clean stop)": save,
        "checkpoint load (clean restart)": load,
    }


async def _recovered(records: list[RecordMeta], n: int) -> Recovery:
    return Recovery(records, n, n)


async def profile(
    name: str,
    root: str,
    count: int,
    in_flight: int,
    top: int,
    *,
    pipe: bool = False,
    batch: bool = False,
) -> None:
    """cProfile of ``count`` durable appends with ``in_flight`` writers: own time per append."""
    factory = backends([name])[name]
    store = await factory(StoreConfig("P"), os.path.join(root, f"{name}-profile"), sync="always")
    appends = batched if batch else pipelined if pipe else store_msgs
    await appends(store, min(count, 2000), in_flight)  # warm up (first block, caches)
    c0 = time.process_time()
    plain = await appends(store, count, in_flight)
    cpu = time.process_time() - c0  # (the commit threads' CPU included)
    print(
        f"{name}: without the profiler {plain:,.0f}/s, {cpu / count * 1e6:.1f} us of CPU per "
        f"append (the process: loop and commit threads)"
    )
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    rate = await appends(store, count, in_flight)
    prof.disable()
    wall = time.perf_counter() - t0
    await store.close()
    stats = pstats.Stats(prof)
    rows = []
    for (file, line, func), (_cc, ncalls, tottime, cumtime, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        where = f"{os.path.basename(file)}:{line}({func})" if line else func
        rows.append((tottime, cumtime, ncalls, where))
    rows.sort(reverse=True)
    total = sum(r[0] for r in rows)
    print(
        f"{name}: {count:,} durable appends, {in_flight} in flight: {rate:,.0f}/s under the "
        f"profiler ({wall:.2f} s); profiled time {total / count * 1e6:.1f} us per append"
    )
    print(f"  {'own us/append':>13} {'cum us/append':>13} {'calls/append':>12}  function")
    for tottime, cumtime, ncalls, where in rows[:top]:
        print(
            f"  {tottime / count * 1e6:13.2f} {cumtime / count * 1e6:13.2f} "
            f"{ncalls / count:12.2f}  {where}"
        )


def section(name: str, args: argparse.Namespace) -> None:
    """Run one RSS/restart section in a fresh process (RSS deltas are not muddied there)."""
    cmd = [sys.executable, __file__, "--section", name, "--rss-msgs", str(args.rss_msgs)]
    cmd += [
        "--restart-msgs",
        str(args.restart_msgs),
        "--consumer-pending",
        str(args.consumer_pending),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    print(done.stdout, end="")
    if done.returncode:
        print(done.stderr, end="")


async def run_section(args: argparse.Namespace) -> None:
    """The body of one ``--section``."""
    if args.section == "rss":
        show(
            f"RSS per message ({args.rss_msgs:,} msgs, 1,000 subjects):",
            await rss_per_msg(args.rss_msgs),
            "bytes",
            lambda v: f"{v:.1f}",
        )
    elif args.section == "consumer":
        per, n = await consumer_rss(args.consumer_pending), args.consumer_pending
        print(f"consumer state: {per:.1f} bytes of RSS per pending ack ({n:,} pending)")
    elif args.section == "restart":
        show(
            f"restart, LogStore index part ({args.restart_msgs:,} msgs, 1,000 subjects):",
            await restart(args.restart_msgs),
            "s",
            lambda v: f"{v:.2f}",
        )


def show(
    title: str,
    rows: dict[str, float],
    unit: str,
    fmt: Callable[[float], str] = lambda v: f"{v:,.0f}",
) -> None:
    print(title)
    for k, v in rows.items():
        print(f"  {k:<34} {fmt(v):>14} {unit if not k.startswith('  ') else ''}")


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=20_000)
    ap.add_argument("--backends", default="memory,file,rocksdb")
    ap.add_argument("--dir", default=None, help="where the durable stores go (default: a temp dir)")
    ap.add_argument("--rss-msgs", type=int, default=2_000_000)
    ap.add_argument("--restart-msgs", type=int, default=2_000_000)
    ap.add_argument("--fsync-seconds", type=float, default=2.0)
    ap.add_argument("--consumer-pending", type=int, default=100_000)
    ap.add_argument("--section", choices=["rss", "consumer", "restart"], help=argparse.SUPPRESS)
    ap.add_argument("--profile", metavar="BACKEND", help="cProfile the durable appends only")
    ap.add_argument("--in-flight", type=int, default=256, help="--profile: writers in flight")
    ap.add_argument("--top", type=int, default=25, help="--profile: functions shown")
    ap.add_argument("--pipelined", action="store_true", help="--profile: one stage_msg writer")
    ap.add_argument(
        "--batched", action="store_true", help="--profile: one writer of stage_batch calls of 64"
    )
    ap.add_argument("--quick", action="store_true", help="small counts (a smoke run)")
    args = ap.parse_args()
    if args.quick:
        args.count, args.rss_msgs, args.restart_msgs = 5_000, 100_000, 100_000
        args.consumer_pending, args.fsync_seconds = 10_000, 0.5
    if args.section:
        await run_section(args)
        return
    root = tempfile.mkdtemp(prefix="bench-store-", dir=args.dir)
    if args.profile:
        try:
            await profile(
                args.profile,
                root,
                args.count,
                args.in_flight,
                args.top,
                pipe=args.pipelined,
                batch=args.batched,
            )
        finally:
            shutil.rmtree(root, ignore_errors=True)
        return
    try:
        rate = fsync_rate(root, args.fsync_seconds)
        print(f"disk fsync rate (4 KiB write + fsync): {rate:,.0f}/s  [{root}]  loop: {LOOP}")
        for name, factory in backends(args.backends.split(",")).items():
            res = await bench_backend(name, factory, root, args.count)
            show(f"{name}:", res, "msgs/s")
            if name != "memory":
                for k in ("always, 256 in flight", "always, 256 pipelined", BATCHED):
                    print(f"  {k} / fsync rate: {res[k] / rate:.1f}x")
        for name, wanted in (
            ("rss", args.rss_msgs),
            ("consumer", args.consumer_pending),
            ("restart", args.restart_msgs),
        ):
            if wanted:
                section(name, args)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def install_loop(argv: list[str]) -> str:
    """uvloop's event loop policy unless ``--loop asyncio`` (or uvloop is missing)."""
    if "--loop" in argv and argv[argv.index("--loop") + 1 :][:1] == ["asyncio"]:
        argv[argv.index("--loop") : argv.index("--loop") + 2] = []
        return "asyncio"
    try:
        import uvloop
    except ImportError:
        return "asyncio"
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return "uvloop"


if __name__ == "__main__":
    LOOP = install_loop(sys.argv)
    asyncio.run(main())
