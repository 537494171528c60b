"""File store benchmark: checksum cost, group-commit rate, and restart at scale.

``python bench/bench_store_restart.py [--msgs 8000000] [--dir DIR] [--skip-build]``

1. checksums: blake2b(digest_size=8) vs two zlib.crc32 per 170-byte record;
2. the disk's plain fsync rate (pwrite 128 B + fdatasync) in DIR;
3. durable appends through ``LogStore`` over the file log with 1, 16 and 256
   writes in flight (messages/s, and messages per commit), and ``load_msg``
   rates: the tail (kept in memory), and sequential/random from disk (a thread
   hop and a ``pread`` each, page cache warm);
4. build a stream of ``--msgs`` 128-byte messages on 1,000 subjects (raw log,
   groups of 8,192), then, each in a fresh process (RSS measured there):
   * ``perrecord``: the verifying per-record scanner alone over every block (the
     cost of a block that has no sidecar), and ``logscan``: the log's crash
     recovery (sidecars for sealed blocks) with its records iterated, no store;
   * ``scan``: the first open through ``LogStore`` (no index checkpoint: every
     record is read and its checksum verified), then a clean close;
   * ``clean``: reopen after that clean close (checkpoints, no scan); then one
     more message is stored and the process exits without closing (as kill -9);
   * ``crash``: reopen after that (block-index checkpoint stale: full scan).
   Times are wall-clock seconds of ``open``; RSS/msg is (RSS after open - RSS
   before) / messages.  The page cache is warm (the data was just written).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zlib

from natskern.kernel.store.api import StoreConfig, StoredMsg
from natskern.kernel.store.base import LogStore
from natskern.plugins.storage.file import FileLogFactory
from natskern.plugins.storage.filelog import FileLog

CONFIG = StoreConfig(name="BENCH", subjects=["bench.>"])
PAYLOAD = b"x" * 128


def rss() -> int:
    """This process's resident set size in bytes."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def bench_checksums(n: int = 1_000_000) -> dict[str, float]:
    rec = os.urandom(170)
    b2 = hashlib.blake2b
    t = time.perf_counter()
    for _ in range(n):
        b2(rec, digest_size=8).digest()
    blake = (time.perf_counter() - t) / n * 1e9
    crc = zlib.crc32
    t = time.perf_counter()
    for _ in range(n):
        crc(rec)
        crc(rec, 0x5BD1E995)
    crcs = (time.perf_counter() - t) / n * 1e9
    return {"blake2b_ns_per_record": round(blake), "two_crc32_ns_per_record": round(crcs)}


def bench_fsync(directory: str, n: int = 2000) -> float:
    path = os.path.join(directory, "fsync.tmp")
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    t = time.perf_counter()
    for i in range(n):
        os.pwrite(fd, b"y" * 128, i * 128)
        os.fdatasync(fd)
    rate = n / (time.perf_counter() - t)
    os.close(fd)
    os.unlink(path)
    return rate


def _factory(d: str, *, sync: str | int) -> FileLog:
    return FileLogFactory(d, sync=sync)


async def bench_commits(directory: str, in_flight: int, total: int) -> dict[str, float]:
    path = os.path.join(directory, f"commit-{in_flight}")
    shutil.rmtree(path, ignore_errors=True)
    store = await LogStore.factory(_factory)(CONFIG, path, sync="always")
    log = store._log  # type: ignore[attr-defined]
    commits = [0]
    real = log.commit

    async def counted() -> None:
        commits[0] += 1
        await real()

    log.commit = counted
    per = total // in_flight

    async def writer(w: int) -> None:
        subject = f"bench.{w}"
        for _ in range(per):
            await store.store_msg(subject, None, PAYLOAD)

    t = time.perf_counter()
    await asyncio.gather(*(writer(w) for w in range(in_flight)))
    dt = time.perf_counter() - t
    await store.close()
    shutil.rmtree(path, ignore_errors=True)
    n = per * in_flight
    return {"msgs_per_s": round(n / dt), "msgs_per_commit": round(n / max(commits[0], 1), 1)}


async def bench_reads(directory: str, n: int) -> dict[str, float]:
    """load_msg rates: from disk after a reopen (sequential, random) and from the tail cache."""
    import random

    path = os.path.join(directory, "reads")
    shutil.rmtree(path, ignore_errors=True)
    store = await LogStore.factory(_factory)(CONFIG, path, sync="always")
    await asyncio.gather(*(store.store_msg(f"bench.{i % 10}", None, PAYLOAD) for i in range(n)))
    t = time.perf_counter()
    for seq in range(n - 2000, n + 1):
        await store.load_msg(seq)
    tail = 2000 / (time.perf_counter() - t)
    await store.close()
    store = await LogStore.factory(_factory)(CONFIG, path, sync="always")
    t = time.perf_counter()
    for seq in range(1, n + 1):
        await store.load_msg(seq)
    seq_rate = n / (time.perf_counter() - t)
    order = list(range(1, n + 1))
    random.Random(1).shuffle(order)
    t = time.perf_counter()
    for seq in order:
        await store.load_msg(seq)
    rnd = n / (time.perf_counter() - t)
    await store.close()
    shutil.rmtree(path, ignore_errors=True)
    return {"reads_tail_per_s": round(tail), "reads_seq_disk_per_s": round(seq_rate),
            "reads_random_disk_per_s": round(rnd)}  # fmt: skip


async def build(path: str, n: int) -> dict[str, float]:
    shutil.rmtree(path, ignore_errors=True)
    log = FileLog(path)
    await log.open()
    ts = time.time_ns()
    t = time.perf_counter()
    group = 8192
    for seq in range(1, n + 1):
        log.append(StoredMsg(f"bench.s{seq % 1000}", seq, ts + seq, None, PAYLOAD))
        if seq % group == 0:
            await log.commit()
    await log.commit()
    dt = time.perf_counter() - t
    size = sum(b.size for b in log.blocks)
    await log.close()
    return {"build_s": round(dt, 1), "bytes_on_disk": size, "blocks": len(log.blocks)}


async def phase(path: str, name: str) -> dict[str, float]:
    gc.collect()
    before = rss()
    t = time.perf_counter()
    store = await LogStore.factory(_factory)(CONFIG, path, sync="always")
    dt = time.perf_counter() - t
    gc.collect()
    after = rss()
    st = store.state()
    out = {"phase": name, "open_s": round(dt, 2), "messages": st.messages}
    out["rss_bytes_per_msg"] = round((after - before) / max(st.messages, 1), 1)
    if name == "clean":
        await store.store_msg("bench.after", None, PAYLOAD)
        print(json.dumps(out), flush=True)
        os._exit(0)  # no close: the next open finds what kill -9 leaves
    await store.close()
    return out


async def log_scan(path: str) -> dict[str, float]:
    """The log's own share of a scan: open + iterate the records, no store index."""
    log = FileLog(path)
    # hide the checkpoints from this one open by asking for the scan explicitly
    from natskern.plugins.storage.filelog import recovery

    t = time.perf_counter()
    log.take_lock()
    ids, _keys = recovery._listing(path)
    rec = recovery._scan(log, ids, [], set(), (0, 0), False)
    n = sum(1 for _ in rec.records)  # type: ignore[union-attr]
    dt = time.perf_counter() - t
    for b in log.blocks:
        b.close_fd()
    os.close(log._lockfd)
    return {"log_scan_s": round(dt, 2), "records": n, "records_per_s": round(n / dt)}


def per_record_scan(path: str) -> dict[str, float]:
    """The verifying per-record scanner over every block (what a block without sidecar costs)."""
    from natskern.plugins.storage.filelog.recovery import _size_fn
    from natskern.plugins.storage.filelog.scan import scan_block

    subjects: dict[bytes, int] = {}
    size = _size_fn()
    n = 0
    t = time.perf_counter()
    for fn in sorted(os.listdir(path)):
        if fn.endswith(".blk"):
            with open(os.path.join(path, fn), "rb") as f:
                n += len(scan_block(f.read(), subjects, size).offs)
    dt = time.perf_counter() - t
    return {"per_record_scan_s": round(dt, 2), "records": n, "records_per_s": round(n / dt)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--msgs", type=int, default=8_000_000)
    ap.add_argument("--dir", default="")
    ap.add_argument("--skip-build", action="store_true")
    ap.add_argument("--commit-msgs", type=int, default=20_000)
    ap.add_argument("--phase", default="")
    ap.add_argument("--no-restart", action="store_true", help="only sections 1-3")
    args = ap.parse_args()
    directory = args.dir or tempfile.mkdtemp(prefix="nk-bench-")
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "stream")
    if args.phase == "logscan":
        print(json.dumps(asyncio.run(log_scan(path))), flush=True)
        return
    if args.phase == "perrecord":
        print(json.dumps(per_record_scan(path)), flush=True)
        return
    if args.phase:
        print(json.dumps(asyncio.run(phase(path, args.phase))), flush=True)
        return
    print(json.dumps(bench_checksums()), flush=True)
    print(json.dumps({"fsync_per_s": round(bench_fsync(directory))}), flush=True)
    for k in (1, 16, 256):
        res = asyncio.run(bench_commits(directory, k, args.commit_msgs))
        print(json.dumps({"in_flight": k, **res}), flush=True)
    print(json.dumps(asyncio.run(bench_reads(directory, args.commit_msgs))), flush=True)
    if args.no_restart:
        return
    if not args.skip_build:
        print(json.dumps({"msgs": args.msgs, **asyncio.run(build(path, args.msgs))}), flush=True)
    me = [sys.executable, __file__, "--dir", directory]
    for name in ("perrecord", "logscan", "scan", "clean", "crash"):
        subprocess.run([*me, "--phase", name], check=True)


if __name__ == "__main__":
    main()
