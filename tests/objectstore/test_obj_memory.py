"""A 64 MiB object through a natskern broker process: its RSS growth stays bounded.

The broker runs as its own process (``natskern serve -c``) so that only its memory is
measured; nats-py streams the object from a file-like source and into a sink, one chunk at
a time.  The bound is on memory, not on time (``bench/`` has the 1 GiB run).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import sys
from pathlib import Path

import nats
import pytest

from tests.cli.conftest import cli_env, free_port, wait_for_port

MIB = 1 << 20
SIZE = 64 * MIB


class Pattern(io.RawIOBase):
    """``size`` bytes of a repeating pattern, generated as read (no 64 MiB buffer)."""

    def __init__(self, size: int) -> None:
        self.left = size
        self.block = hashlib.sha256(b"p").digest() * 4096  # 128 KiB

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[no-untyped-def,override]
        n = min(len(b), self.left, len(self.block))
        b[:n] = self.block[:n]
        self.left -= n
        return n


class Sink(io.RawIOBase):
    """Counts and hashes what is written."""

    def __init__(self) -> None:
        self.n = 0
        self.h = hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:  # type: ignore[no-untyped-def,override]
        self.n += len(b)
        self.h.update(b)
        return len(b)


def rss_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
async def test_64mib_object_bounded_broker_memory(tmp_path: Path) -> None:
    port = free_port()
    conf = tmp_path / "broker.json"
    conf.write_text(
        json.dumps(
            {
                "tcp": {"host": "127.0.0.1", "port": port},
                "jetstream": {"enabled": True, "store_dir": str(tmp_path / "js")},
            }
        )
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "natskern.cli", "serve", "-c", str(conf),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        env=cli_env(tmp_path),
    )  # fmt: skip
    try:
        await asyncio.get_running_loop().run_in_executor(None, wait_for_port, port)
        nc = await nats.connect(f"nats://127.0.0.1:{port}")
        js = nc.jetstream(timeout=30)
        for _ in range(100):  # the engine starts after the port is bound
            try:
                store = await js.create_object_store("big")
                break
            except Exception:
                await asyncio.sleep(0.1)
        await store.put("warmup", Pattern(4 * MIB))
        await store.get("warmup", writeinto=Sink())  # type: ignore[arg-type]
        baseline = rss_kib(proc.pid, "VmRSS")
        info = await store.put("blob", Pattern(SIZE))
        assert info.size == SIZE and info.chunks == SIZE // (128 * 1024)
        sink = Sink()
        await store.get("blob", writeinto=sink)  # type: ignore[arg-type]
        assert sink.n == SIZE
        peak = rss_kib(proc.pid, "VmHWM")
        await nc.close()
        growth_mib = (peak - baseline) / 1024
        print(f"broker RSS: baseline {baseline // 1024} MiB, peak {peak // 1024} MiB")
        assert growth_mib < 64, f"broker RSS grew {growth_mib:.1f} MiB (peak) over baseline"
    finally:
        proc.terminate()
        await proc.wait()
