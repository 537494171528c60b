"""Large groups written in slices with their write-back started early (writeback.py)."""

from __future__ import annotations

import os
import random
from pathlib import Path

from natskern.kernel.store.api import StoredMsg
from natskern.plugins.storage.filelog import FileLog, writeback
from natskern.plugins.storage.filelog.group import write_parts


def test_a_streamed_write_writes_what_one_pwritev_would(tmp_path: Path) -> None:
    rng = random.Random(5)
    parts = [rng.randbytes(rng.choice((7, 4096, 200_000, 1 << 20, 3 << 20))) for _ in range(30)]
    a, b = tmp_path / "a", tmp_path / "b"
    for path in (a, b):
        path.write_bytes(b"head")
    fa, fb = os.open(a, os.O_RDWR), os.open(b, os.O_RDWR)
    try:
        write_parts(fa, parts, 4)
        calls: list[int] = []

        def counting(fd: int, batch: list[bytes], off: int) -> None:
            calls.append(sum(map(len, batch)))
            write_parts(fd, batch, off)

        writeback.write_streaming(fb, parts, 4, counting)
    finally:
        os.close(fa)
        os.close(fb)
    assert a.read_bytes() == b.read_bytes() == b"head" + b"".join(parts)
    assert len(calls) > 5 and sum(calls) == sum(map(len, parts))
    assert all(c >= writeback.SLICE for c in calls[:-1])  # slices, each started once copied


async def test_a_large_group_round_trips_and_survives_a_crash(tmp_path: Path) -> None:
    path = str(tmp_path / "s")
    log = FileLog(path)
    await log.open()
    chunk = os.urandom(128 << 10)
    n = (2 * writeback.STREAMING_MIN) // len(chunk)
    for seq in range(1, n + 1):  # one group of object chunks, written in slices
        log.append(StoredMsg("o.c", seq, seq, None, chunk[seq:] + chunk[:seq]))
    await log.commit()
    for b in log.blocks:
        b.close_fd()
    os.close(log._lockfd)  # (a crash: the next open scans)
    again = FileLog(path)
    rec = await again.open()
    assert [m.seq for m in rec.records] == list(range(1, n + 1)) and rec.problems == []
    for seq in (1, n // 2, n):
        m = await again.read(seq)
        assert m is not None and m.payload == chunk[seq:] + chunk[:seq]
    await again.close()
