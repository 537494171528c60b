"""The file log's read path for messages no longer in memory: page-cache reads and read-ahead.

``read_cached`` answers from memory or, failing that, from the page cache with a read that
never waits for the disk (``RWF_NOWAIT``); ``read`` goes to a thread.  Both verify every
record they decode and must agree: same messages, removed ones absent, a corrupt record
never served.
"""

from __future__ import annotations

import os

import pytest
from natskern.kernel.store.api import CorruptRecordError, StoredMsg
from natskern.plugins.storage.filelog import DEFAULT_BLOCK_SIZE, FileLog, memcache

from tests.store import fault_tools as ft

pytestmark = pytest.mark.skipif(
    not getattr(os, "RWF_NOWAIT", 0), reason="no RWF_NOWAIT reads on this platform"
)


def msg(seq: int) -> StoredMsg:
    headers = b"NATS/1.0\r\nN: %d\r\n\r\n" % seq if seq % 5 == 0 else None
    return StoredMsg(f"r.{seq % 7}", seq, 5_000 + seq, headers, b"payload %d" % seq)


async def written(path: str, msgs: list[StoredMsg], block_size: int, group: int = 50) -> None:
    """A log of ``msgs`` (committed ``group`` at a time), closed cleanly: its index
    checkpoint is current, so a reopen scans nothing."""
    log = FileLog(path, block_size=block_size)
    await log.open()
    for i, m in enumerate(msgs, 1):
        log.append(m)
        if i % group == 0:
            await log.commit()
    await log.commit()
    log.put_meta("index", b"store checkpoint")
    await log.close()


async def filled(path: str, n: int) -> FileLog:
    """A log of ``n`` messages over several blocks, closed and reopened: nothing in memory."""
    await written(path, [msg(seq) for seq in range(1, n + 1)], 4096)
    log = FileLog(path, block_size=4096)
    rec = await log.open()
    assert rec.checkpoint_current
    return log


async def test_page_cache_reads_serve_what_disk_reads_serve(tmp_path, monkeypatch):
    monkeypatch.setattr(memcache, "RECENT_BYTES", 0)  # nothing of it kept in memory
    log = await filled(str(tmp_path / "s"), 600)
    log.remove(123)
    log.remove_range(300, 340)
    await log.commit()
    log.cache.ahead = {}
    cached = [log.read_cached(s) for s in range(1, 601)]
    log.cache.ahead = {}
    read = [await log.read(s) for s in range(1, 601)]
    assert cached == read
    expected = [s for s in range(1, 601) if s != 123 and not 300 <= s <= 340]
    assert [m.seq for m in cached if m is not None] == expected
    assert all(m == msg(m.seq) for m in cached if m is not None)  # headers, subject, ts, payload
    await log.close()


async def test_a_corrupt_record_is_never_served_from_the_page_cache(tmp_path):
    path = str(tmp_path / "s")
    log = await filled(path, 200)
    await log.close()
    victim = ft.messages(path)[60]
    ft.flip_bit(victim.path, victim.payload_at + 2, 5)
    log = FileLog(path, block_size=4096)
    assert (await log.open()).checkpoint_current  # not found by a scan: found on read
    # Read sequentially up to it (its record arrives in the read-ahead of an earlier one),
    # and directly: neither returns it, its neighbours come back whole.
    for s in range(1, victim.seq):
        assert log.read_cached(s) == msg(s)
    assert log.read_cached(victim.seq) is None
    log.cache.ahead = {}
    assert log.read_cached(victim.seq) is None
    assert log.read_cached(victim.seq + 1) == msg(victim.seq + 1)
    with pytest.raises(CorruptRecordError):
        await log.read(victim.seq)
    await log.close()


@pytest.mark.parametrize("flt", ["", ">", "r.3", "r.*"])
async def test_peek_run_is_peek_next_msg_in_a_row(tmp_path, monkeypatch, flt):
    from natskern.kernel.store.api import StoreConfig
    from natskern.kernel.store.base import LogStore
    from natskern.plugins.storage.file import FileLogFactory

    monkeypatch.setattr(memcache, "RECENT_BYTES", 4096)
    factory = LogStore.factory(FileLogFactory)
    store = await factory(
        StoreConfig(name="S", subjects=["r.>"]), str(tmp_path / "S"), sync="always"
    )
    for seq in range(1, 401):
        m = msg(seq)
        await store.store_msg(m.subject, m.headers, m.payload)
    await store.remove_msg(10)
    for seq in (11, 12, 200):
        await store.remove_msg(seq)
    one_by_one, seq = [], 3
    while len(one_by_one) < 150:
        m = store.peek_next_msg(flt, seq)
        if m is False:
            m = await store.load_next_msg(flt, seq)
        if m is None:
            break
        one_by_one.append(m)
        seq = m.seq + 1
    run, seq = [], 3
    while len(run) < 150:
        got = store.peek_run(flt, seq, 150 - len(run))
        if not got:
            m = await store.load_next_msg(flt, seq)  # the I/O the run stopped before
            if m is None:
                break
            got = [m]
        run += got
        seq = got[-1].seq + 1
    assert [m.seq for m in run] == [m.seq for m in one_by_one] and run == one_by_one
    assert len(run) == 150 or flt == "r.3"
    assert store.peek_run(flt, 401, 10) == []
    # with a byte budget: up to the message that reaches it, never one past it
    full = store.peek_run(flt, 3, 40)
    sizes = [len(m.payload) + len(m.headers or b"") for m in full]
    for budget in (1, sizes[0], sizes[0] + 1, sum(sizes[:5]), sum(sizes[:5]) + 1):
        got = store.peek_run(flt, 3, 40, budget)
        count = next(i + 1 for i in range(len(sizes)) if sum(sizes[: i + 1]) >= budget)
        assert got == full[:count], budget
    assert store.peek_run(flt, 3, 40, 1 << 40) == full
    await store.close()


def chunk(seq: int) -> StoredMsg:
    """A message the size of an object chunk (longer than a sequential read's span)."""
    headers = b"NATS/1.0\r\nC: %d\r\n\r\n" % seq if seq % 2 else None
    return StoredMsg("obj.c", seq, 9_000 + seq, headers, bytes([seq % 251]) * (128 << 10))


async def test_large_records_from_the_page_cache_are_whole_and_verified(tmp_path, monkeypatch):
    """Object-chunk records read from the page cache (one read each, once the reader is
    sequential) equal what the thread's read gives; a corrupt one is never served."""
    monkeypatch.setattr(memcache, "RECENT_BYTES", 0)  # nothing of it kept in memory
    path = str(tmp_path / "s")
    await written(path, [chunk(seq) for seq in range(1, 9)], DEFAULT_BLOCK_SIZE)
    victim = ft.messages(path)[5]
    ft.flip_bit(victim.path, victim.payload_at + 100_000, 3)
    log = FileLog(path)
    assert (await log.open()).checkpoint_current  # (not found by a scan: found on read)
    cached = [log.read_cached(s) for s in range(1, 9)]
    assert cached[5] is None  # (left to read(), which reports it)
    assert [m for i, m in enumerate(cached) if i != 5] == [chunk(s) for s in (1, 2, 3, 4, 5, 7, 8)]
    assert all(type(m.payload) is bytes for m in cached if m is not None)
    for s in (1, 2, 3, 4, 5, 7, 8):
        assert await log.read(s) == chunk(s)
    with pytest.raises(CorruptRecordError):
        await log.read(6)
    await log.close()


@pytest.mark.parametrize("size", [10, 6000, 40_000])
async def test_load_msg_takes_no_thread_read_for_what_the_page_cache_holds(tmp_path, size):
    """After a reopen nothing is in memory; the blocks are in the page cache (just
    written): every load_msg is served by read_cached, the thread's read is never asked,
    also for records longer than a random read's span (6000) or than the read-ahead."""
    from natskern.kernel.store.api import StoreConfig
    from natskern.kernel.store.base import LogStore
    from natskern.plugins.storage.file import FileLogFactory

    factory = LogStore.factory(FileLogFactory)
    config = StoreConfig(name="S", subjects=["r.>"])
    store = await factory(config, str(tmp_path / "S"), sync="always")

    def sized(seq: int) -> StoredMsg:
        m = msg(seq)
        return StoredMsg(m.subject, seq, m.ts, m.headers, m.payload.ljust(size, b"."))

    for seq in range(1, 201):
        m = sized(seq)
        await store.store_msg(m.subject, m.headers, m.payload)
    await store.close()
    store = await factory(config, str(tmp_path / "S"), sync="always")

    async def no_thread_read(seq: int) -> StoredMsg | None:
        raise AssertionError(f"sequence {seq} was read by the thread")

    store._log.read = no_thread_read
    for seq in (150, 3, 200, 77, 1, 78, 79):
        got, want = await store.load_msg(seq), sized(seq)
        assert got is not None and (got.subject, got.payload) == (want.subject, want.payload)
    await store.close()
