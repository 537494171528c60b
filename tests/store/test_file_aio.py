"""The file log's small commits written on the loop and synced by kernel AIO (aiosync)."""

from __future__ import annotations

import asyncio
import errno
import os
from pathlib import Path

import pytest
from natskern.kernel.store.api import StoredMsg
from natskern.plugins.storage.filelog import FileLog, aiosync

pytestmark = pytest.mark.skipif(aiosync._aio is None, reason="no kernel AIO module (caio)")


async def _sync_or_skip() -> aiosync.AioSync:
    sync = aiosync.syncer()
    if sync is None:
        pytest.skip("kernel AIO refused here")
    return sync


def msg(seq: int) -> StoredMsg:
    return StoredMsg("s.a", seq, 1_000 + seq, None, b"p%d" % seq)


async def test_small_groups_are_synced_by_aio_and_the_rest_by_the_threads(tmp_path: Path) -> None:
    await _sync_or_skip()
    path = str(tmp_path / "s")
    log = FileLog(path, block_size=8192)
    await log.open()
    log.append(msg(1))
    await log.commit()  # (a new block: created, synced and its directory synced by a thread)
    assert log.direct_commits == 0
    for seq in range(2, 12):
        log.append(msg(seq))
        await log.commit()
    assert log.direct_commits == 10  # (written into the space the block has)
    log.put_meta("config", b"cfg")
    log.append(msg(12))
    await log.commit()  # (metadata copies: other files, so the threads)
    assert log.direct_commits == 10
    seq = 12
    while len(log.blocks) == 1:  # up to a new block, which the threads open
        seq += 1
        log.append(msg(seq))
        await log.commit()
    for b in log.blocks:
        b.close_fd()
    os.close(log._lockfd)  # (a crash: no close, no checkpoint)
    again = FileLog(path, block_size=8192)
    rec = await again.open()
    assert [m.seq for m in rec.records] == list(range(1, seq + 1)) and rec.problems == []
    assert (await again.read(7)).payload == b"p7"  # type: ignore[union-attr]
    await again.close()


def _fdatasync(sync: aiosync.AioSync, fd: int) -> asyncio.Future[None] | None:
    """``sync.fdatasync_then`` as a future (None: the request was refused)."""
    fut = asyncio.get_running_loop().create_future()

    def done(err: OSError | None) -> None:
        if err is not None:
            fut.set_exception(err)
        else:
            fut.set_result(None)

    return fut if sync.fdatasync_then(fd, done) else None


async def test_an_aio_sync_that_the_kernel_refuses_turns_aio_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sync = await _sync_or_skip()
    monkeypatch.setattr(aiosync, "_disabled", False)
    f = tmp_path / "f"
    f.write_bytes(b"x")
    fd = os.open(f, os.O_RDWR)
    r, w = os.pipe()
    try:
        ok = _fdatasync(sync, fd)
        assert ok is not None
        assert await ok is None
        assert _fdatasync(sync, r) is None  # (a pipe has no fsync: io_submit says EINVAL)
        assert sync.inflight == 0
        assert aiosync.syncer() is None  # the commit threads sync from now on
        assert aiosync.unsupported(OSError(errno.EINVAL, "x"))
        assert not aiosync.unsupported(OSError(errno.EIO, "x"))
    finally:
        for x in (fd, r, w):
            os.close(x)


async def test_many_logs_share_one_context_per_loop(tmp_path: Path) -> None:
    sync = await _sync_or_skip()
    logs = [FileLog(str(tmp_path / f"s{i}"), block_size=8192) for i in range(20)]
    for log in logs:
        await log.open()
        log.append(msg(1))
        await log.commit()
    for seq in (2, 3):
        for log in logs:
            log.append(msg(seq))
        await asyncio.gather(*(log.commit() for log in logs))  # 20 syncs in flight at once
    assert aiosync.syncer() is sync and sync.inflight == 0
    assert all(log.direct_commits == 2 for log in logs)
    for log in logs:
        assert [(await log.read(s)).payload for s in (1, 2, 3)] == [b"p1", b"p2", b"p3"]  # type: ignore[union-attr]
        await log.close()


async def test_the_context_goes_with_the_last_log_of_its_loop(tmp_path: Path) -> None:
    await _sync_or_skip()
    loop = asyncio.get_running_loop()
    logs = [FileLog(str(tmp_path / f"s{i}")) for i in range(3)]
    for log in logs:
        await log.open()
        log.append(msg(1))
        await log.commit()
        log.append(msg(2))
        await log.commit()
    sync = aiosync._SYNCERS[loop]
    assert sync is not None and sync.users == 3
    await logs[0].close()
    await logs[1].destroy()
    assert aiosync._SYNCERS.get(loop) is sync and sync.users == 1
    await logs[2].close()
    assert loop not in aiosync._SYNCERS and sync._ctx is None  # (the kernel's context freed)
    again = FileLog(str(tmp_path / "s0"))  # a later log of the loop makes a new one
    await again.open()
    again.append(msg(3))
    await again.commit()
    again.append(msg(4))
    await again.commit()
    assert again.direct_commits == 1 and aiosync._SYNCERS[loop] is not sync
    await again.close()


def test_a_loop_dropped_without_closing_its_logs_takes_its_context_along(tmp_path: Path) -> None:
    import gc
    import weakref

    async def leave_open() -> weakref.ref[asyncio.AbstractEventLoop]:
        log = FileLog(str(tmp_path / "s"))
        await log.open()
        log.append(msg(1))
        await log.commit()
        log.append(msg(2))
        await log.commit()
        return weakref.ref(asyncio.get_running_loop())

    loop = asyncio.new_event_loop()
    ref = loop.run_until_complete(leave_open())
    loop.close()
    del loop
    gc.collect()
    assert ref() is None  # (the context held no strong reference to its loop)
