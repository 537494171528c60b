"""The broker's memory under the object store and KV bounds of issue 13 (RSS, not time).

Two measurements, each on a fresh ``natskern serve`` process (so only the broker's memory
counts) with its file store in a temporary directory:

``object``
    One object (1 GiB by default) put in 128 KiB chunks and got back through an ordered
    consumer, by the raw-socket workers of ``loadgen_js`` (nats.go's way).  Reports the
    broker's RSS before, its highest sampled RSS and its high-water mark (``VmHWM``)
    during the transfer; the bound is a growth under 64 MiB.

``keys``
    1 M keys with 128-byte values: once as a plain stream (one message on each of 1 M
    subjects: the stream index's own cost) and once as a KV bucket (``KV_b``, history 1,
    nats.go's config).  Reports each one's RSS growth per message and the difference,
    the bytes per key a bucket costs beyond the stream index (bound: 200).

    python bench/bench_store_memory.py object --size-mib 1024
    python bench/bench_store_memory.py keys --keys 1000000
"""

from __future__ import annotations

import asyncio
import base64
import gc
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import click
from js_scenarios import _natskern_argv
from loadgen_js import js_requester, obj_getter, obj_putter
from procs import Workers
from servers import Server

MIB = 1 << 20
GRACE = 1800.0


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


class Sampler:
    """The highest VmRSS of ``pid`` seen every ``interval`` seconds, on a thread."""

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        self.pid = pid
        self.interval = interval
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_kib = max(self.peak_kib, _status_kib(self.pid, "VmRSS"))
            self._stop.wait(self.interval)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _server(workdir: Path) -> tuple[Server, Path]:
    store = Path(tempfile.mkdtemp(prefix="store-", dir=workdir))
    return Server(
        "natskern", workdir, argv=lambda port: _natskern_argv(port, store, workdir, False)
    ), store


def _js(server: Server, body: Any) -> Any:
    import nats

    async def run() -> Any:
        nc = await nats.connect(f"nats://{server.host}:{server.port}")
        try:
            return await body(nc)
        finally:
            await nc.close()

    return asyncio.run(run())


def _run_worker(server: Server, worker: Any, *args: Any) -> dict[str, Any]:
    with Workers() as workers:
        w = workers.start(worker, server.host, server.port, *args)
        w.ready()
        w.send("go")
        result: dict[str, Any] = w.result(GRACE)
    return result


def measure_object(size: int, workdir: Path) -> dict[str, float]:
    """Put and get one ``size``-byte object; the broker's RSS figures in MiB."""
    server, store = _server(workdir)
    try:
        with server:
            _js(server, lambda nc: nc.jetstream().create_object_store("mem"))
            meta = "$O.mem.M." + base64.urlsafe_b64encode(b"big").decode()
            time.sleep(0.5)
            base = _status_kib(server.pid, "VmRSS")
            with Sampler(server.pid) as s:
                t0 = time.perf_counter()
                _run_worker(server, obj_putter, "mem", meta, "N" * 22, size, 32)
                t_put = time.perf_counter()
                got = _run_worker(server, obj_getter, "mem", meta, size)
                t_get = time.perf_counter()
            hwm = _status_kib(server.pid, "VmHWM")
            after = _status_kib(server.pid, "VmRSS")
    finally:
        shutil.rmtree(store, ignore_errors=True)
    assert got["bytes"] == size
    return {
        "size_mib": size / MIB,
        "rss_before_mib": base / 1024,
        "rss_peak_sampled_mib": s.peak_kib / 1024,
        "rss_hwm_mib": hwm / 1024,
        "rss_after_mib": after / 1024,
        "growth_sampled_mib": (s.peak_kib - base) / 1024,
        "growth_hwm_mib": (hwm - base) / 1024,
        "put_mb_s": size / 1e6 / (t_put - t0),
        "get_mb_s": size / 1e6 / (t_get - t_put),
    }


def _fill(server: Server, prefix: bytes, keys: int) -> None:
    subjects = [prefix + b"k%07d" % i for i in range(keys)]
    res = _run_worker(server, js_requester, subjects, 128, 256, GRACE, keys)
    if res["completed"] != keys:
        raise RuntimeError(f"stored {res['completed']} of {keys}")


def measure_keys(keys: int, workdir: Path, kind: str) -> dict[str, float]:
    """RSS growth of ``keys`` messages on distinct subjects, a plain stream or a bucket."""
    server, store = _server(workdir)
    try:
        with server:

            async def make(nc: Any) -> None:
                if kind == "stream":
                    await nc.jsm().add_stream(name="PLAIN", subjects=["p.>"])
                    return
                cfg = {
                    "name": "KV_b",
                    "subjects": ["$KV.b.>"],
                    "max_msgs_per_subject": 1,
                    "max_age": 0,
                    "duplicate_window": 120_000_000_000,
                    "max_msg_size": -1,
                    "max_bytes": -1,
                    "max_msgs": -1,
                    "max_consumers": -1,
                    "storage": "file",
                    "num_replicas": 1,
                    "allow_rollup_hdrs": True,
                    "deny_delete": True,
                    "allow_direct": True,
                    "discard": "new",
                }
                import json

                await nc.request("$JS.API.STREAM.CREATE.KV_b", json.dumps(cfg).encode())

            _js(server, make)
            time.sleep(0.5)
            base = _status_kib(server.pid, "VmRSS")
            t0 = time.perf_counter()
            _fill(server, b"p." if kind == "stream" else b"$KV.b.", keys)
            elapsed = time.perf_counter() - t0
            time.sleep(2.0)  # let the last group commit and any cache trimming finish
            after = _status_kib(server.pid, "VmRSS")
            hwm = _status_kib(server.pid, "VmHWM")
    finally:
        shutil.rmtree(store, ignore_errors=True)
    return {
        "keys": keys,
        "rss_before_mib": base / 1024,
        "rss_after_mib": after / 1024,
        "rss_hwm_mib": hwm / 1024,
        "bytes_per_key": (after - base) * 1024 / keys,
        "puts_per_s": keys / elapsed,
    }


@click.group()
def main() -> None:
    """Broker memory under a large object or many keys (issue 13's bounds)."""
    gc.collect()


@main.command("object")
@click.option("--size-mib", type=int, default=1024, show_default=True)
def object_cmd(size_mib: int) -> None:
    """Put and get one object; the broker's RSS growth (bound: 64 MiB)."""
    with tempfile.TemporaryDirectory(prefix="natskern-mem-") as tmp:
        r = measure_object(size_mib * MIB, Path(tmp))
    for k, v in r.items():
        print(f"{k:>22}: {v:,.1f}")
    worst = max(r["growth_sampled_mib"], r["growth_hwm_mib"])
    print(f"{'bound':>22}: growth {worst:,.1f} MiB {'<' if worst < 64 else '>='} 64 MiB")


@main.command("keys")
@click.option("--keys", type=int, default=1_000_000, show_default=True)
def keys_cmd(keys: int) -> None:
    """1 M keys as a plain stream and as a bucket; bytes per key beyond the index (< 200)."""
    with tempfile.TemporaryDirectory(prefix="natskern-mem-") as tmp:
        plain = measure_keys(keys, Path(tmp), "stream")
        kv = measure_keys(keys, Path(tmp), "kv")
    for label, r in (("plain stream", plain), ("KV bucket", kv)):
        print(label)
        for k, v in r.items():
            print(f"{k:>22}: {v:,.1f}")
    beyond = kv["bytes_per_key"] - plain["bytes_per_key"]
    print(
        f"bucket beyond the stream index: {beyond:,.1f} B/key ({'<' if beyond < 200 else '>='} 200)"
    )


if __name__ == "__main__":
    sys.exit(main())
