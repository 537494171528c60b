"""The file store's record log on its own: format details the conformance suite cannot see."""

from __future__ import annotations

import os
from pathlib import Path

from natskern.kernel.store.api import StoredMsg
from natskern.plugins.storage.filelog import FileLog

from tests.store import fault_tools as ft


def msg(seq: int, payload: bytes | None = None, headers: bytes | None = None) -> StoredMsg:
    return StoredMsg(f"s.{seq % 3}", seq, 1_000 + seq, headers, payload or b"p%d" % seq)


async def crash(log: FileLog) -> None:
    """Leave as kill -9 does: no close, no checkpoint."""
    for b in log.blocks:
        b.close_fd()
    os.close(log._lockfd)


async def reopen(path: str, **kw):
    log = FileLog(path, **kw)
    rec = await log.open()
    return log, rec, list(rec.records)


async def fill(path: str, n: int, block_size: int = 2048, group: int = 7) -> FileLog:
    log = FileLog(path, block_size=block_size)
    await log.open()
    for seq in range(1, n + 1):
        log.append(msg(seq))
        if seq % group == 0:
            await log.commit()
    await log.commit()
    return log


async def test_staged_records_are_readable_before_commit_and_headers_round_trip(tmp_path):
    log = FileLog(str(tmp_path / "s"))
    await log.open()
    log.append(msg(1, headers=b""))
    log.append(msg(2, headers=b"NATS/1.0\r\nA: b\r\n\r\n"))
    log.append(msg(3))
    assert (await log.read(2)).headers.startswith(b"NATS")
    await log.commit()
    await crash(log)
    log, _rec, metas = await reopen(str(tmp_path / "s"))
    assert [m.seq for m in metas] == [1, 2, 3]
    assert (await log.read(1)).headers == b""
    assert (await log.read(3)).headers is None
    assert metas[1].size == 30 + 3 + 4 + 18 + 2  # nats-server's fileStoreMsgSize
    assert metas[0].size == 30 + 3 + 2  # empty headers: none counted, as nats-server
    await log.close()


async def test_crash_recovery_loads_sealed_blocks_from_sidecars(tmp_path):
    path = str(tmp_path / "s")
    log = await fill(path, 300)
    log.remove(5)
    log.remove_range(40, 90)
    await log.commit()
    nblocks = len(log.blocks)
    assert nblocks > 5
    await crash(log)
    log, rec, with_side = await reopen(path, block_size=2048)
    assert log.sidecars_used == nblocks - 1
    await crash(log)
    for f in os.listdir(path):
        if f.endswith(".idx"):
            os.unlink(os.path.join(path, f))
    log, rec2, scanned = await reopen(path, block_size=2048)
    assert log.sidecars_used == 0
    await crash(log)
    log, _rec3, again = await reopen(path, block_size=2048)
    assert log.sidecars_used == nblocks - 1 and again == scanned  # the scan wrote them back
    assert with_side == scanned and rec.last_seq == rec2.last_seq == 300
    assert [m.seq for m in scanned] == [s for s in range(1, 301) if s != 5 and not 40 <= s <= 90]
    await log.close()


async def test_a_sealed_block_lets_go_of_its_accumulator_once_its_sidecar_is_out(tmp_path):
    """Only the active block accumulates what its sidecar will hold (per slot: time,
    subject, size; every removal record): a sealed one's would stay as long as the log."""
    path = str(tmp_path / "s")
    log = await fill(path, 300)
    for seq in range(1, 200, 3):
        log.remove(seq)  # (removal records: what a KV bucket's puts add to every block)
        await log.commit()
    assert len(log.blocks) > 5
    assert [b.acc is None for b in log.blocks] == [True] * (len(log.blocks) - 1) + [False]
    nblocks = len(log.blocks)
    await crash(log)
    log, _rec, msgs = await reopen(path, block_size=2048)
    assert log.sidecars_used == nblocks - 1  # (every sidecar was written before its acc went)
    assert [m.seq for m in msgs] == [s for s in range(1, 301) if s >= 200 or (s - 1) % 3]
    await log.close()


async def test_a_flip_in_a_sealed_block_defeats_its_sidecar_and_is_found(tmp_path):
    path = str(tmp_path / "s")
    log = await fill(path, 200)
    await crash(log)
    victim = ft.messages(path)[30]
    ft.flip_bit(victim.path, victim.payload_at, 0)
    log, rec, metas = await reopen(path, block_size=2048)
    assert rec.corrupt == [victim.seq]
    assert victim.seq not in [m.seq for m in metas] and len(metas) == 199
    await log.close()


async def test_erase_overwrites_the_bytes_in_place(tmp_path):
    path = str(tmp_path / "s")
    log = await fill(path, 60)
    secret = b"top-secret-payload"
    log.append(msg(61, payload=secret))
    log.append(msg(62))
    await log.commit()
    for s in range(63, 120):
        log.append(msg(s))
    await log.commit()
    log.remove(61, erase=True)
    log.append(msg(120, payload=b"erased-before-its-commit"))
    log.remove(120, erase=True)
    await log.commit()
    assert await log.read(61) is None
    blob = b"".join(Path(p).read_bytes() for p in ft.blocks(path))
    assert secret not in blob and b"erased-before-its-commit" not in blob
    await crash(log)
    log, rec, metas = await reopen(path, block_size=2048)
    assert 61 not in [m.seq for m in metas] and rec.corrupt == [] and rec.problems == []
    assert rec.last_seq == 120 and 120 not in [m.seq for m in metas]
    assert (await log.read(62)).payload == b"p62"
    await log.close()


async def test_blocks_whose_messages_are_all_removed_are_deleted(tmp_path):
    path = str(tmp_path / "s")
    log = await fill(path, 400)
    first_blocks = ft.blocks(path)[:3]
    log.remove_range(1, 150)
    await log.commit()
    assert all(b.live for b in log.blocks[:-1])  # (out of the index once the commit returns)
    await log._io.run(int)  # (their files go in the write lane, after the commit)
    left = ft.blocks(path)
    assert not set(first_blocks) & set(left)
    assert all(b.live for b in log.blocks[:-1])
    await crash(log)
    log, rec, metas = await reopen(path, block_size=2048)
    assert [m.seq for m in metas] == list(range(151, 401)) and rec.last_seq == 400
    await log.close()


async def test_a_block_emptied_while_active_is_deleted_once_sealed(tmp_path):
    """The look for empty blocks runs after a block empties, not after every removal: one
    emptied while it was the active block (not deletable yet) still goes once a newer
    block seals it and a later group removes something."""
    path = str(tmp_path / "s")
    log = await fill(path, 40)
    active = log.blocks[-1]
    log.remove_range(active.first_seq, 40)  # (the active block is now empty)
    await log.commit()
    assert log.blocks[-1] is active and active.live == 0
    log.append(msg(41, payload=b"x" * (2048 - active.size + 10)))  # (fits a new block only)
    await log.commit()
    assert log.blocks[-1] is not active
    log.append(msg(42))
    await log.commit()
    assert active in log.blocks and active.live == 0  # (no removal since: not looked at)
    log.remove(42)  # (a removal that empties no block: the look still finds the old one)
    await log.commit()
    assert active not in log.blocks
    await log._io.run(int)  # (the file goes in the write lane)
    assert not os.path.exists(active.path)
    await log.close()


async def test_removals_that_empty_no_block_leave_the_blocks_be(tmp_path):
    path = str(tmp_path / "s")
    log = await fill(path, 200)
    blocks = list(log.blocks)
    for s in range(1, 200, 2):  # (half of every block: none empties)
        log.remove(s)
        await log.commit()
    assert log.blocks[: len(blocks)] == blocks and not log._maybe_empty
    log.remove_range(1, blocks[0].last_seq)
    await log.commit()
    assert log.blocks[: len(blocks) - 1] == blocks[1:]  # (the first went: the oldest)
    await log.close()


async def test_removing_the_newest_messages_keeps_last_seq(tmp_path):
    path = str(tmp_path / "s")
    log = await fill(path, 30)
    log.remove_range(1, 30)
    await log.commit()
    await crash(log)
    log, rec, metas = await reopen(path, block_size=2048)
    assert metas == [] and rec.last_seq == 30 and rec.last_ts == 1030
    log.append(msg(31))
    await log.commit()
    await log.close()


async def test_side_logs_share_one_journal_and_survive_a_torn_compaction(tmp_path):
    path = str(tmp_path / "s")
    log = FileLog(path)
    await log.open()
    c1, c2 = log.aux_log("c1"), log.aux_log("c2")
    c1.append(b"a")
    c2.append(b"x")
    c1.append(b"b")
    await log.commit()
    c1.rewrite([b"snap"])
    c1.append(b"c")
    await log.commit()
    assert await c1.replay() == [b"snap", b"c"] and await c2.replay() == [b"x"]
    c1.append(b"d")
    log.aux_log("gone").append(b"x")
    await log.commit()
    log.drop_aux("gone")
    await log.commit()
    assert [f for f in os.listdir(path) if f.startswith("aux")] == ["aux.journal.1"]
    await log.close()
    # a torn tail of appends is dropped
    journal = os.path.join(path, "aux.journal.1")
    with open(journal, "ab") as f:
        f.write(b"\x09\x00\x00\x00\x01\x02")
    log, rec, _ = await reopen(path)
    assert log.aux_names() == ["c1", "c2"]
    assert await log.aux_log("c1").replay() == [b"snap", b"c", b"d"]
    assert any("torn tail" in p for p in rec.problems)
    # compaction once the journal is mostly superseded deltas
    saved = Path(journal).read_bytes()
    big = os.urandom(4000)
    for i in range(300):
        log.aux_log("c2").rewrite([big, b"%d" % i])
        await log.commit()
    assert os.listdir(path).count("aux.journal.1") == 0
    gen = log.journal.gen
    assert gen > 1 and await log.aux_log("c2").replay() == [big, b"299"]
    await log.close()
    # a compaction torn by a crash: the new generation cut short, the old one still there
    newest = os.path.join(path, f"aux.journal.{gen}")
    head_only = Path(newest).read_bytes()[:40]
    Path(newest).write_bytes(head_only)
    Path(journal).write_bytes(saved)
    log, rec, _ = await reopen(path)
    assert await log.aux_log("c1").replay() == [b"snap", b"c", b"d"]
    assert any(f"generation {gen} is torn" in p for p in rec.problems)
    await log.close()


async def test_a_flip_in_a_removal_record_is_reported_and_its_copy_applied(tmp_path):
    path = str(tmp_path / "s")
    log = FileLog(path)
    await log.open()
    for seq in range(1, 6):
        log.append(msg(seq))
    log.remove(2)
    for seq in range(6, 9):
        log.append(msg(seq))
    await log.commit()
    await crash(log)
    tomb = next(r for r in ft.layout(path) if r.kind == 2)
    ft.flip_bit(tomb.path, tomb.off + 20, 1)
    log, rec, metas = await reopen(path)
    # the removal's second copy (at the group's end) still says 2 was removed
    assert [m.seq for m in metas] == [1, 3, 4, 5, 6, 7, 8] and rec.corrupt == []
    assert any("no message is missing: a removal or metadata record" in p for p in rec.problems)
    assert any("removal of sequence 2 in 00000001.blk" in p for p in rec.problems)
    assert await log.read(2) is None
    await log.close()


async def test_a_large_metadata_value_round_trips_and_falls_back(tmp_path):
    path = str(tmp_path / "s")
    big1, big2 = os.urandom(3 << 20), os.urandom(3 << 20)  # the crc32+adler32 flavour
    log = FileLog(path)
    await log.open()
    log.append(msg(1))
    log.put_meta("index", big1)
    await log.commit()
    log.put_meta("index", big2)
    await log.close()
    log, rec, _ = await reopen(path)
    assert rec.checkpoint_current and await log.get_meta("index") == big2
    await log.close()
    newest = max(
        (p for p in os.listdir(path) if p.startswith("meta.696e646578")),
        key=lambda p: os.path.getmtime(os.path.join(path, p)),
    )
    ft.flip_bit(os.path.join(path, newest), 1 << 20, 4)
    log, rec, _ = await reopen(path)
    assert not rec.checkpoint_current and await log.get_meta("index") == big1
    await log.close()


async def test_sequential_reads_from_disk_read_ahead_and_skip_removed(tmp_path):
    path = str(tmp_path / "s")
    log = await fill(path, 500)
    await log.close()
    log, _rec, _ = await reopen(path, block_size=2048)
    log.remove(250)
    log.remove_range(300, 310)
    await log.commit()
    got = [m.seq for s in range(1, 501) if (m := await log.read(s)) is not None]
    assert got == [s for s in range(1, 501) if s != 250 and not 300 <= s <= 310]
    assert (await log.read(77)).payload == b"p77"
    await log.close()


async def test_a_failed_side_log_write_fails_the_whole_group(tmp_path):
    from natskern.kernel.store.api import StoreIOError

    path = str(tmp_path / "s")
    log = FileLog(path)
    await log.open()
    log.append(msg(1))
    log.aux_log("c1").append(b"one")
    await log.commit()
    jfd = log.journal.fd
    saved = os.dup(jfd)
    ro = os.open(log.journal.path(log.journal.gen), os.O_RDONLY)
    os.dup2(ro, jfd)
    os.close(ro)
    log.append(msg(2))
    log.aux_log("c1").append(b"two")
    try:
        try:
            await log.commit()
            raise AssertionError("the commit should have failed")
        except StoreIOError:
            pass
    finally:
        os.dup2(saved, jfd)
        os.close(saved)
    assert await log.read(2) is None and await log.aux_log("c1").replay() == [b"one"]
    log.drop_aux("c1")
    log.aux_log("c1").append(b"fresh")  # dropped and created again in one group
    log.append(msg(3))
    await log.commit()
    await crash(log)
    log, _rec, metas = await reopen(path)
    assert [m.seq for m in metas] == [1, 3]
    assert await log.aux_log("c1").replay() == [b"fresh"]
    await log.close()


async def test_the_active_block_is_allocated_ahead_and_cut_back(tmp_path):
    path = str(tmp_path / "s")
    log = await fill(path, 2000, block_size=16 << 10)
    active = log.blocks[-1]
    assert os.path.getsize(active.path) > active.size  # allocated ahead of its data
    for b in log.blocks[:-1]:  # sealed blocks are cut back to their data
        assert os.path.getsize(b.path) == b.size
    log.put_meta("index", b"the store's checkpoint")
    await log.close()
    assert os.path.getsize(active.path) == ft.data_end(active.path)
    log, rec, _ = await reopen(path, block_size=16 << 10)
    assert rec.checkpoint_current  # the blocks end where the clean close's checkpoint says
    assert (await log.read(2000)).payload == b"p2000"
    await log.close()


async def test_zeros_allocated_ahead_are_no_torn_write_after_a_crash(tmp_path):
    path = str(tmp_path / "s")
    log = await fill(path, 300, block_size=8192)
    ends = {b.path: b.size for b in log.blocks}
    await crash(log)
    active = max(ends)
    assert os.path.getsize(active) > ends[active]
    # a crash between a seal and its cut: a sealed block that still has its zeros
    sealed = sorted(ends)[0]
    with open(sealed, "ab") as f:
        f.write(bytes(3000))
    log, rec, metas = await reopen(path, block_size=8192)
    assert rec.problems == [] and rec.corrupt == []
    assert [m.seq for m in metas] == list(range(1, 301))
    assert {p: os.path.getsize(p) for p in ends} == ends  # cut back to the data
    log.append(msg(301))
    await log.commit()
    assert (await log.read(301)).payload == b"p301"
    await crash(log)
    log, rec, metas = await reopen(path, block_size=8192)
    assert rec.problems == [] and [m.seq for m in metas][-2:] == [300, 301]
    await log.close()


async def test_allocation_ahead_starts_small_and_doubles(tmp_path):
    from natskern.plugins.storage.filelog.group import PREALLOC, PREALLOC_MIN

    log = FileLog(str(tmp_path / "s"))
    await log.open()
    log.append(msg(1))
    await log.commit()
    active = log.blocks[-1]
    assert active.alloc - active.size <= PREALLOC_MIN  # a stream that wrote once holds little
    steps = []
    seq = 1
    while active.ahead < PREALLOC and seq < 2000:
        seq += 1
        log.append(msg(seq, b"x" * 4000))
        await log.commit()
        if active.ahead not in steps:
            steps.append(active.ahead)
    assert steps == [PREALLOC_MIN << k for k in range(len(steps))] and steps[-1] == PREALLOC
    await log.close()
