"""Groups written while an earlier one syncs (:mod:`...filelog.pipeline`), on real files.

The sync lane is held by a gate (kernel AIO off, so every sync goes to the lane): a
group committed meanwhile is written into the block at once and waits for the next
sync; a sync that fails takes back its groups and every group written after them.
Nothing here is decided by a timing: the gate decides what is in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from natskern.kernel.store.api import StoreConfig, StoredMsg, StoreIOError
from natskern.kernel.store.base import LogStore
from natskern.plugins.storage.file import FileLogFactory
from natskern.plugins.storage.filelog import FileLog, aiosync

from tests.store.test_file_log import crash, reopen

BIG = 300 << 10  # (past FileLog.write_ahead_min: the store commits it ahead)
GUARD = 30.0  # only against a hang


@pytest.fixture(autouse=True)
def _syncs_on_the_lane(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aiosync, "_disabled", True)


def big(seq: int) -> StoredMsg:
    return StoredMsg("obj.c", seq, 1_000 + seq, None, bytes([seq]) * BIG)


async def _spin(until, n: int = 2000) -> None:
    for _ in range(n):
        if until():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("never happened")


def _on_disk(log: FileLog, payload: bytes) -> bool:
    blk = log.blocks[-1]
    with open(blk.path, "rb") as f:
        return payload in f.read()


def _hold(log: FileLog) -> threading.Event:
    """Hold the log's sync lane until the returned gate opens."""
    gate = threading.Event()
    log._sync_lane.run(gate.wait)
    return gate


@contextlib.asynccontextmanager
async def _two_groups_under_a_held_sync(log: FileLog) -> AsyncIterator[list[asyncio.Future]]:
    """Commit ``big(2)`` then ``big(3)`` while the sync lane is held, each waited for until
    its bytes are in the block; yields both commits; the lane is let go on exit."""
    gate = _hold(log)
    try:
        commits: list[asyncio.Future] = []
        for seq in (2, 3):
            log.append(big(seq))
            commits.append(asyncio.ensure_future(log.commit()))
            await _spin(lambda seq=seq: _on_disk(log, big(seq).payload))
        yield commits
    finally:
        gate.set()


def _fail_the_first_sync(log: FileLog) -> list[int]:
    """Make the log's first sync from now on fail with EIO (the next ones sync); the
    list of the descriptors synced so far."""
    calls: list[int] = []

    def failing_once(fd: int) -> None:
        calls.append(fd)
        if len(calls) == 1:
            raise OSError(errno.EIO, "Input/output error (injected)")
        os.fdatasync(fd)

    log._pipe.fdatasync = failing_once
    return calls


async def test_a_group_is_written_while_the_one_before_it_syncs(tmp_path: Path) -> None:
    path = str(tmp_path / "s")
    log = FileLog(path)
    await log.open()
    log.append(big(1))
    await log.commit()  # (the block exists: the next groups take the write-ahead way)
    async with _two_groups_under_a_held_sync(log) as (first, second):
        # 3 was written while 2 still synced; neither is durable yet
        assert not first.done() and not second.done()
        assert await log.read(3) == big(3)  # (readable before it is durable)
    await asyncio.wait_for(asyncio.gather(first, second), GUARD)
    await log.commit()  # (nothing staged: returns at once)
    assert log.locate(3)[0] is not None
    await crash(log)
    log, rec, metas = await reopen(path)
    assert [m.seq for m in metas] == [1, 2, 3] and not rec.problems
    assert (await log.read(2)) == big(2)
    await log.close()


async def test_a_failed_sync_fails_its_group_and_every_group_written_after_it(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "s")
    log = FileLog(path)
    await log.open()
    log.append(big(1))
    await log.commit()
    end = log.blocks[-1].size
    _fail_the_first_sync(log)
    async with _two_groups_under_a_held_sync(log) as (first, second):
        pass
    results = await asyncio.wait_for(asyncio.gather(first, second, return_exceptions=True), GUARD)
    assert all(isinstance(r, StoreIOError) for r in results), results
    assert "Input/output error" in str(results[0])
    assert await log.read(2) is None and await log.read(3) is None
    assert log.blocks[-1].size == end  # the index never took them
    log.append(big(4))
    await log.commit()  # the block is cut back first, then the next group goes in
    assert os.path.getsize(log.blocks[-1].path) >= end + BIG
    assert not _on_disk(log, big(2).payload) and not _on_disk(log, big(3).payload)
    await crash(log)
    log, rec, metas = await reopen(path)
    assert [m.seq for m in metas] == [1, 4] and not rec.problems, rec.problems
    await log.close()


async def _store(root: Path) -> LogStore:
    return await LogStore.open(
        FileLogFactory(str(root / "s"), sync="always"), StoreConfig("W", subjects=["obj.>"])
    )


async def test_the_store_commits_large_groups_while_an_earlier_commit_syncs(
    tmp_path: Path,
) -> None:
    store = await _store(tmp_path)
    log: FileLog = store._log  # type: ignore[assignment]
    await store.store_msg("obj.c", None, b"x")  # (the block exists)
    gate = _hold(log)
    chunks = [bytes([i]) * BIG for i in range(1, 4)]
    try:
        writers = [asyncio.ensure_future(store.store_msg("obj.c", None, chunks[0]))]
        await _spin(lambda: _on_disk(log, chunks[0]))
        for c in chunks[1:]:  # one at a time: each is a group of its own
            writers.append(asyncio.ensure_future(store.store_msg("obj.c", None, c)))
            await _spin(lambda c=c: _on_disk(log, c))
        assert not any(w.done() for w in writers)  # all written, none durable yet
        assert store._commit.commits == 1
    finally:
        gate.set()
    seqs = [seq for seq, _ts in await asyncio.wait_for(asyncio.gather(*writers), GUARD)]
    assert seqs == [2, 3, 4] and store.state().messages == 4
    await store.close()
    again = await _store(tmp_path)
    assert [(await again.load_msg(s)).payload for s in seqs] == chunks  # type: ignore[union-attr]
    await again.close()


async def test_a_failed_sync_fails_every_writer_of_the_groups_it_takes_back(
    tmp_path: Path,
) -> None:
    store = await _store(tmp_path)
    log: FileLog = store._log  # type: ignore[assignment]
    await store.store_msg("obj.c", None, b"x")
    _fail_the_first_sync(log)
    gate = _hold(log)
    chunks = [bytes([i]) * BIG for i in range(1, 4)]
    try:
        writers = []
        for c in chunks:
            writers.append(asyncio.ensure_future(store.store_msg("obj.c", None, c)))
            await _spin(lambda c=c: _on_disk(log, c))
    finally:
        gate.set()
    results = await asyncio.wait_for(asyncio.gather(*writers, return_exceptions=True), GUARD)
    assert all(isinstance(r, StoreIOError) for r in results), results
    st = store.state()
    assert st.messages == 1 and st.last_seq == 4  # (their sequences are used up)
    seq, _ = await store.store_msg("obj.c", None, b"after")
    assert seq == 5 and (await store.load_msg(5)).payload == b"after"  # type: ignore[union-attr]
    await store.close()
    again = await _store(tmp_path)
    assert again.state().messages == 2
    assert [(await again.load_msg(s)) for s in (2, 3, 4)] == [None, None, None]
    await again.close()
