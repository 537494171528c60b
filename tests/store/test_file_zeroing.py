"""The file log's zeros ahead of the active block (``filelog/zeroing.py``), on real files.

Small groups committed on the loop make the write lane write and sync zeros past the
block's allocated end; the data then lands in written extents (FIEMAP shows none of
them unwritten where the file system reports extents), a crash leaves zeros that the
recovery scan takes for the end of the data, and a close never closes the block's
file under a zeroing job still running.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import os
import struct
import threading
from pathlib import Path

import pytest
from natskern.kernel.store.api import StoredMsg
from natskern.plugins.storage.filelog import log as log_module
from natskern.plugins.storage.filelog import zeroing
from natskern.plugins.storage.filelog.log import FileLog
from natskern.plugins.storage.filelog.zeroing import ZERO_MIN, zero_ahead

_FS_IOC_FIEMAP = 0xC020660B
_FIEMAP_EXTENT_UNWRITTEN = 0x800
_HEAD = struct.Struct("=QQIIII")  # fm_start, fm_length, flags, mapped, count, reserved
_EXTENT = struct.Struct("=QQQQQIIII")  # logical, physical, length, 2 reserved, flags, 3 reserved


def unwritten_ranges(fd: int, length: int) -> list[tuple[int, int]]:
    """The byte ranges of ``fd``'s unwritten extents (FIEMAP; skip where it is refused)."""
    count = 256
    buf = bytearray(_HEAD.pack(0, length, 1, 0, count, 0) + bytes(_EXTENT.size * count))
    try:
        fcntl.ioctl(fd, _FS_IOC_FIEMAP, buf)  # (FIEMAP_FLAG_SYNC: flushed first)
    except OSError as e:
        pytest.skip(f"no FIEMAP here: {e}")
    mapped = _HEAD.unpack_from(buf)[3]
    out = []
    for i in range(mapped):
        logical, _, size, _, _, flags, *_ = _EXTENT.unpack_from(buf, _HEAD.size + i * _EXTENT.size)
        if flags & _FIEMAP_EXTENT_UNWRITTEN:
            out.append((logical, logical + size))
    return out


def msg(seq: int) -> StoredMsg:
    return StoredMsg(f"k.{seq % 50}", seq, 1_000 + seq, None, b"v" * 120)


async def commit_groups(log: FileLog, first: int, groups: int, per_group: int = 40) -> int:
    """Commit ``groups`` groups of ``per_group`` messages from ``first``; the next seq."""
    seq = first
    for _ in range(groups):
        for _ in range(per_group):
            log.append(msg(seq))
            seq += 1
        await log.commit()
    return seq


async def test_small_groups_get_written_zeros_ahead_and_recover_after_a_crash(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "s")
    log = FileLog(path, block_size=8 << 20)
    await log.open()
    seq = await commit_groups(log, 1, 60)  # ~400 KB
    await log._io.run(lambda: None)  # (the lane's last job done)
    blk = log.blocks[-1]
    assert log.direct_commits >= 55
    assert blk.alloc > blk.size + ZERO_MIN // 4  # zeros ahead of the data
    assert os.fstat(blk.fd).st_size == blk.alloc
    # Past the first reservation (fallocated when the block was made), the data went into
    # written zeros: no unwritten extent is left below the allocated end.
    first_stretch = 2 * ZERO_MIN
    holes = [r for r in unwritten_ranges(blk.fd, blk.alloc) if r[1] > first_stretch]
    assert holes == []
    tail = os.pread(blk.fd, blk.alloc - blk.size, blk.size)
    assert tail == bytes(len(tail))
    # a crash: no close, no trim, no checkpoint
    for b in log.blocks:
        b.close_fd()
    os.close(log._lockfd)
    again = FileLog(path, block_size=8 << 20)
    rec = await again.open()
    assert rec.problems == []
    assert [m.seq for m in rec.records] == list(range(1, seq))
    nxt = await commit_groups(again, seq, 3)
    assert (await again.read(nxt - 1)).payload == b"v" * 120  # type: ignore[union-attr]
    await again.close()
    last = sorted(Path(path).glob("*.blk"))[-1]
    reopened = FileLog(path, block_size=8 << 20)
    rec = await reopened.open()
    assert [m.seq for m in rec.records][-1] == nxt - 1
    assert last.stat().st_size == reopened.blocks[-1].size  # a clean close cut the zeros
    await reopened.close()


async def test_a_close_waits_for_a_zeroing_job_before_closing_the_block(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = str(tmp_path / "s")
    log = FileLog(path, block_size=8 << 20)
    await log.open()
    started, release = threading.Event(), threading.Event()
    seen: list[int] = []

    def held_zero_ahead(blk, active, block_size):  # type: ignore[no-untyped-def]
        started.set()
        assert release.wait(10)
        seen.append(os.fstat(blk.fd).st_ino)  # (still the block's own file)
        zero_ahead(blk, active, block_size)

    monkeypatch.setattr(log_module, "zero_ahead", held_zero_ahead)
    seq = 1
    for _ in range(200):  # (up to the first zeroing job handed to the write lane)
        seq = await commit_groups(log, seq, 1)
        if log.blocks[-1].zeroing:
            break
    # (the lane's thread may start it a while later on a busy machine)
    assert await asyncio.get_running_loop().run_in_executor(None, started.wait, 30)
    blk = log.blocks[-1]
    inode = os.fstat(blk.fd).st_ino
    closing = asyncio.ensure_future(log.close())
    for _ in range(20):
        await asyncio.sleep(0.01)
    assert not closing.done() and blk.fd >= 0  # (the job holds the file)
    release.set()
    await closing
    assert seen == [inode] and blk.fd == -1
    again = FileLog(path, block_size=8 << 20)
    rec = await again.open()
    assert [m.seq for m in rec.records] == list(range(1, seq)) and rec.problems == []
    await again.close()


async def test_a_zeroing_job_that_fails_leaves_the_block_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk while zeros are written: the file is cut back to its allocated end, the
    block asks for no more zeros, and the data keeps going in (into space the commits
    allocate as before)."""
    path = str(tmp_path / "s")
    log = FileLog(path, block_size=8 << 20)
    await log.open()
    failures: list[int] = []
    real_pwrite = os.pwrite

    def full_disk(fd: int, data: bytes | memoryview, offset: int) -> int:
        if len(data) >= ZERO_MIN and not any(data[:64]):  # (a stretch of zeros)
            real_pwrite(fd, bytes(4096), offset)  # (a part got in before the disk filled)
            failures.append(offset)
            raise OSError(errno.ENOSPC, "No space left on device (injected)")
        return real_pwrite(fd, data, offset)

    monkeypatch.setattr(zeroing.os, "pwrite", full_disk)
    seq = await commit_groups(log, 1, 60)
    await log._io.run(lambda: None)
    blk = log.blocks[-1]
    assert len(failures) == 1  # (the job ran and failed; the block asks for no other)
    assert os.fstat(blk.fd).st_size == blk.alloc  # (cut back: no stray zeros past it)
    assert blk.alloc >= blk.size and blk.zeroing
    await log.close()
    again = FileLog(path, block_size=8 << 20)
    rec = await again.open()
    assert [m.seq for m in rec.records] == list(range(1, seq)) and rec.problems == []
    await again.close()
