"""CONSUMER.CREATE on a big stream through a real broker: time and ``num_pending`` (issue 12).

    python bench/bench_consumer_create.py [--messages 10000000] [--dir DIR] [--keep]
                                          [--nats-server]

1. Build: an embedded broker (file storage, in a temp dir or ``--dir``) gets the
   stream ``S`` (subjects ``s.>``) through nats-py, then its store is filled in
   process with ``store_batch`` (message ``i`` on subject ``s.{j // 100}.{j % 100}``,
   ``j = i % 1000``: 1,000 subjects round robin, 16-byte payloads); the broker stops.
2. A fresh ``natskern serve`` process opens that store directory (the open time is
   reported), and nats-py times raw ``$JS.API.CONSUMER.CREATE`` requests, each one
   twice (a fresh consumer each time: the first answer after the open, then again):
   a literal filter from the start, from the middle (``opt_start_seq``), a partial
   wildcard (``s.3.*``, 100 subjects) from the middle, the whole stream from the
   middle, and ``last_per_subject`` over the stream and over ``s.3.*``.  Every
   answer's ``num_pending`` is checked against the count the layout implies.
3. ``--nats-server``: the same requests against nats-server 2.15.1 after publishing
   the same messages to it (core publishes, at most 8,000 ahead of what it stored).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import nats

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from servers import free_port  # noqa: E402

SUBJECTS = [f"s.{j // 100}.{j % 100}" for j in range(1000)]
PAYLOAD = b"p" * 16
BATCH = 8192


def expected(n: int, start: int, flt: str, last_per_subject: bool = False) -> int:
    """Messages (or subjects, last_per_subject) matching ``flt`` at or after ``start``."""

    def hit(j: int) -> bool:
        subj = SUBJECTS[j]
        if flt in (">", "s.>"):
            return True
        if flt.endswith(".*"):
            return subj.startswith(flt[:-1])
        return subj == flt

    total = 0
    for j in range(1000):
        if not hit(j):
            continue
        # Sequences of subject j: j + 1, j + 1001, ... up to n.
        if j + 1 > n:
            continue
        last = j + 1 + (n - 1 - j) // 1000 * 1000
        if last_per_subject:
            total += last >= start
            continue
        first = j + 1 if start <= j + 1 else j + 1 + -(-(start - j - 1) // 1000) * 1000
        if first <= last:
            total += (last - first) // 1000 + 1
    return total


def cases(n: int) -> list[tuple[str, dict[str, Any], int]]:
    """``(label, consumer config, expected num_pending)`` of each measured creation."""
    mid = n // 2 + 7
    start = {"deliver_policy": "by_start_sequence", "opt_start_seq": mid}
    out = [
        ("literal s.3.7, from 1", {"filter_subject": "s.3.7"}, expected(n, 1, "s.3.7")),
        ("literal s.3.7, from middle", {"filter_subject": "s.3.7", **start}, 0),
        ("s.3.* (100 subj), from middle", {"filter_subject": "s.3.*", **start}, 0),
        ("s.*.5 (10 subj), from middle", {"filter_subject": "s.*.5", **start}, 0),
        ("whole stream, from middle", {"filter_subject": "s.>", **start}, 0),
        (
            "last_per_subject, s.>",
            {"deliver_policy": "last_per_subject", "filter_subject": "s.>"},
            1000,
        ),
        (
            "last_per_subject, s.3.*",
            {"deliver_policy": "last_per_subject", "filter_subject": "s.3.*"},
            100,
        ),
    ]
    fixed = []
    for label, cfg, want in out:
        if "opt_start_seq" in cfg:
            flt = cfg["filter_subject"]
            if flt == "s.*.5":
                want = sum(expected(n, mid, f"s.{a}.5") for a in range(10))
            else:
                want = expected(n, mid, flt)
        fixed.append((label, cfg, want))
    return fixed


async def build(directory: Path, n: int) -> float:
    """Fill stream ``S`` in ``directory`` with ``n`` messages; return the seconds it took."""
    from natskern import Broker

    port = free_port()
    cfg = {"tcp": {"port": port}, "jetstream": {"enabled": True, "store_dir": str(directory)}}
    t0 = time.perf_counter()
    async with Broker(cfg) as broker:
        nc = await nats.connect(broker.listen_urls[0])
        await nc.jetstream().add_stream(name="S", subjects=["s.>"], storage="file")
        await nc.close()
        store = broker.jetstream.accounts["$G"].streams["S"].store
        items = [(SUBJECTS[i % 1000], None, PAYLOAD) for i in range(BATCH * 125)]  # 1,024,000
        done = 0
        while done < n:
            k = min(BATCH, n - done)
            off = done % 1000  # the items list is a whole number of 1,000-subject rounds
            await store.store_batch(items[off : off + k])
            done += k
        await store.flush()
        assert store.state().messages == n
    return time.perf_counter() - t0


async def measure(url: str, n: int) -> list[tuple[str, int, int, float, float]]:
    """Each case's ``(label, num_pending, expected, first ms, second ms)``."""
    nc = await nats.connect(url)
    rows = []
    try:
        k = 0
        for label, cfg, want in cases(n):
            times, pend = [], []
            for _ in range(2):
                k += 1
                name = f"C{k}"
                body = {
                    "stream_name": "S",
                    "config": {"durable_name": name, "ack_policy": "explicit", **cfg},
                }
                t0 = time.perf_counter()
                msg = await nc.request(
                    f"$JS.API.CONSUMER.CREATE.S.{name}", json.dumps(body).encode(), timeout=120
                )
                times.append((time.perf_counter() - t0) * 1000)
                info = json.loads(msg.data)
                if "error" in info:
                    raise RuntimeError(f"{label}: {info['error']}")
                pend.append(info["num_pending"])
            if pend[0] != pend[1]:
                raise RuntimeError(f"{label}: num_pending {pend} differ")
            rows.append((label, pend[0], want, times[0], times[1]))
    finally:
        await nc.close()
    return rows


async def _quiet(_exc: Exception) -> None:
    """nats-py's error callback while the server is not up yet: nothing to say."""


async def wait_ready(url: str, n: int, timeout: float) -> float:
    """Seconds until the server answers STREAM.INFO with all ``n`` messages."""
    t0 = time.perf_counter()
    host, port = url.rsplit("/", 1)[-1].split(":")
    while True:  # a plain TCP probe first (a refused nats-py connect waits seconds)
        try:
            _, writer = await asyncio.open_connection(host, int(port))
            writer.close()
            break
        except OSError:
            if time.perf_counter() - t0 > timeout:
                raise
            await asyncio.sleep(0.02)
    while True:
        try:
            nc = await nats.connect(
                url, connect_timeout=1, max_reconnect_attempts=0, error_cb=_quiet
            )
        except Exception:
            if time.perf_counter() - t0 > timeout:
                raise
            await asyncio.sleep(0.05)
            continue
        try:
            while True:
                try:
                    msg = await nc.request("$JS.API.STREAM.INFO.S", b"", timeout=60)
                    info = json.loads(msg.data)
                    if info.get("state", {}).get("messages") == n:
                        return time.perf_counter() - t0
                except Exception:
                    pass
                if time.perf_counter() - t0 > timeout:
                    raise TimeoutError("stream not ready")
                await asyncio.sleep(0.05)
        finally:
            await nc.close()


async def fill_nats_server(url: str, n: int) -> float:
    """Publish the layout's ``n`` messages to a server's stream ``S``; seconds taken.

    Core publishes (no acknowledgement each) in chunks of 4,000, each chunk sent once
    the one before the last is stored: nats-server drops core publishes beyond its
    stream ingest queue (10,000 messages), so no more than 8,000 are in flight.
    """
    nc = await nats.connect(url)
    js = nc.jetstream()
    await js.add_stream(name="S", subjects=["s.>"], storage="file")
    t0 = time.perf_counter()
    chunk = 4000
    for lo in range(0, n, chunk):
        while lo > chunk and (await js.stream_info("S")).state.messages < lo - chunk:
            await asyncio.sleep(0.002)
        for i in range(lo, min(lo + chunk, n)):
            await nc.publish(SUBJECTS[i % 1000], PAYLOAD)
        await nc.flush(timeout=60)
    while (got := (await js.stream_info("S")).state.messages) < n:
        last = got
        await asyncio.sleep(0.5)
        if (await js.stream_info("S")).state.messages == last:
            raise RuntimeError(f"nats-server stored {last:,} of {n:,} messages (dropped some)")
    await nc.close()
    return time.perf_counter() - t0


def table(title: str, rows: list[tuple[str, int, int, float, float]]) -> bool:
    """Print the rows; return whether every ``num_pending`` was the expected one."""
    print(title)
    print(f"  {'case':32} {'num_pending':>12} {'expected':>12} {'1st ms':>9} {'2nd ms':>9}")
    ok = True
    for label, got, want, t1, t2 in rows:
        mark = "" if got == want else "  MISMATCH"
        ok &= got == want
        print(f"  {label:32} {got:>12,} {want:>12,} {t1:>9.1f} {t2:>9.1f}{mark}")
    return ok


def start_server(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    """Start a server process, its output to ``log``."""
    with log.open("wb") as out:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a server process started here."""
    proc.terminate()
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=10_000_000)
    ap.add_argument("--dir", default=None, help="store directory (default: a temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the store directory")
    ap.add_argument("--skip-build", action="store_true", help="--dir already holds the stream")
    ap.add_argument("--nats-server", action="store_true", help="also against nats-server")
    args = ap.parse_args()
    n = args.messages
    root = Path(args.dir or tempfile.mkdtemp(prefix="bench-cc-"))
    root.mkdir(parents=True, exist_ok=True)
    ok = True
    try:
        store = root / "natskern"
        if not args.skip_build:
            shutil.rmtree(store, ignore_errors=True)
            secs = await build(store, n)
            print(f"built {n:,} messages over 1,000 subjects in {secs:.1f}s ({store})")
        port = free_port()
        argv = [sys.executable, "-m", "natskern", "serve", "--host", "127.0.0.1"]
        argv += ["--port", str(port), "--store-dir", str(store)]
        proc = start_server(argv, root / "natskern.log")
        try:
            url = f"nats://127.0.0.1:{port}"
            ready = await wait_ready(url, n, timeout=600)
            print(f"natskern serve opened the store and answered STREAM.INFO in {ready:.1f}s")
            ok &= table(f"natskern, {n:,} messages:", await measure(url, n))
        finally:
            stop(proc)
        if args.nats_server:
            ok &= await against_nats_server(root, n)
    finally:
        if not args.keep and not args.dir:
            shutil.rmtree(root, ignore_errors=True)
    return 0 if ok else 1


async def against_nats_server(root: Path, n: int) -> bool:
    """The same creations on nats-server 2.15.1 (filled by publishing)."""
    from natskern.testing import find_nats_server

    binary = find_nats_server("2.15") or str(Path(sys.executable).parent / "nats-server")
    port = free_port()
    sd = root / "nats-server"
    shutil.rmtree(sd, ignore_errors=True)
    proc = start_server(
        [binary, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(sd)], root / "ns.log"
    )
    try:
        url = f"nats://127.0.0.1:{port}"
        await asyncio.sleep(0.5)
        secs = await fill_nats_server(url, n)
        print(f"nats-server: published {n:,} messages in {secs:.1f}s")
        return table(f"nats-server 2.15.1, {n:,} messages:", await measure(url, n))
    finally:
        stop(proc)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
