"""Fault tests of the file store's record log: kill -9, power cuts, torn tails, bit flips,
a full disk and a refused write.  Seeded and bounded; real files and a real process."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from natskern.kernel.store.api import CorruptRecordError, StoredMsg, StoreIOError
from natskern.plugins.storage.filelog import FileLog
from natskern.plugins.storage.filelog.codec import HEADER
from natskern.plugins.storage.filelog.meta import meta_paths

from tests.store import fault_tools as ft
from tests.store import fault_writer as writer


def msg(seq: int, subject: str | None = None) -> StoredMsg:
    return StoredMsg(subject or f"s.{seq % 5}", seq, 1_000 + seq, None, writer.payload_of(seq))


async def reopen(path: str, **kw) -> tuple[FileLog, object, list]:
    log = FileLog(path, **kw)
    rec = await log.open()
    return log, rec, list(rec.records)  # type: ignore[arg-type]


async def filled(path: str, n: int, group: int = 10, block_size: int = 4096) -> list[int]:
    """``n`` messages in groups; returns the synced block lengths after each commit."""
    log = FileLog(path, block_size=block_size)
    await log.open()
    for seq in range(1, n + 1):
        log.append(msg(seq))
        if seq % group == 0 or seq == n:
            await log.commit()
    ends = [b.size for b in log.blocks]
    await log.commit()
    os.close(log._lockfd)  # leave without a checkpoint: the next open scans
    for b in log.blocks:
        os.close(b.fd)
    return ends


async def check_all(log: FileLog, seqs: list[int]) -> None:
    for seq in seqs:
        m = await log.read(seq)
        assert m is not None and m.payload == writer.payload_of(seq), seq


# -- kill -9 ----------------------------------------------------------------------------------


def _harness(
    mode: str, path: str, in_flight: int = 48, block_size: int = 32768
) -> subprocess.Popen[str]:
    harness = Path(writer.__file__)
    env = {**os.environ, "PYTHONPATH": str(harness.parents[2])}
    return subprocess.Popen(
        [sys.executable, str(harness), mode, path, str(in_flight), str(block_size)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )


def _kill_after(proc: subprocess.Popen[str], lines: int) -> list[list[str]]:
    """Read ``lines`` lines of acks (fewer if it dies), then SIGKILL the harness."""
    assert proc.stdout is not None and proc.stderr is not None
    got = []
    for _ in range(lines):
        line = proc.stdout.readline().split()
        if not line:
            break
        got.append(line)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    proc.stderr.close()
    return got


# store-big: ~40 KB payloads from 16 writers in 4 MiB blocks, so that groups are
# written while the one before them syncs (the store's overlapping commits)
@pytest.mark.parametrize(
    ("mode", "in_flight", "block_size"), [("store", 48, 32768), ("store-big", 16, 4 << 20)]
)
def test_kill9_of_a_store_process_during_pipelined_appends_loses_no_ack(
    tmp_path, mode, in_flight, block_size
):
    rng = random.Random(1009)
    path = str(tmp_path / "s")
    acked: dict[int, bytes] = {}  # seq -> payload
    removed: set[int] = set()
    big = mode == "store-big"
    for _round in range(6):
        proc = _harness(mode, path, in_flight, block_size)
        assert proc.stdout is not None
        start = proc.stdout.readline().split()
        assert start and start[0] == "S", proc.stderr.read() if proc.stderr else ""
        assert int(start[1]) > max(acked, default=0)  # no acked sequence is handed out again
        for line in _kill_after(proc, rng.randrange(20, 400)):
            if line[0] == "A":
                acked[int(line[1])] = writer.store_payload(int(line[2]), int(line[3]), big)
            else:
                removed.add(int(line[1]))

        async def verify() -> None:
            store = await writer.open_store(path, block_size)
            st = store.state()
            assert st.last_seq >= max(acked)
            live = {}
            for seq in range(st.first_seq, st.last_seq + 1):
                m = await store.load_msg(seq)
                if m is not None:
                    live[seq] = m.payload
            assert st.messages == len(live)  # the state agrees with what is readable
            for seq, payload in acked.items():
                if seq in removed:
                    assert seq not in live
                elif not payload.startswith(b"w") or int(payload.split(b":")[1]) % 10:
                    assert live.get(seq) == payload, seq  # (every 10th may be removed, unacked)
            seq, _ = await store.store_msg("kill.parent", None, b"parent")
            assert seq > max(acked)
            acked[seq] = b"parent"
            await store.close()

        import asyncio

        asyncio.run(verify())


def test_kill9_of_a_raw_log_process_loses_no_ack(tmp_path):
    rng = random.Random(2027)
    path = str(tmp_path / "s")
    acked: set[int] = set()
    removed: set[int] = set()
    for _round in range(4):
        proc = _harness("log", path)
        assert proc.stdout is not None
        start = proc.stdout.readline().split()
        assert start and start[0] == "S", proc.stderr.read() if proc.stderr else ""
        assert int(start[1]) > max(acked | {0})
        for line in _kill_after(proc, rng.randrange(5, 120)):
            if line[0] == "A":
                acked.update(range(int(line[1]), int(line[2]) + 1))
            else:
                removed.add(int(line[1]))

        async def verify() -> None:
            log, rec, metas = await reopen(path)
            present = {m.seq for m in metas}
            # a removal may be committed before its ack line was read: only those acked count
            assert {s for s in acked if not writer.removed(s)} <= present
            assert not (present & removed)
            assert rec.last_seq >= max(acked)
            assert not rec.corrupt
            for seq in sorted(rng.sample(sorted(acked & present), 40)):
                m = await log.read(seq)
                assert m is not None and m.payload == writer.payload_of(seq)
                assert m.subject == writer.subject_of(seq)
            await log.close()

        import asyncio

        asyncio.run(verify())


# -- power cut: writes not yet fsynced are lost -------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
async def test_power_cut_loses_only_unsynced_writes(tmp_path, seed):
    rng = random.Random(seed)
    path = str(tmp_path / "s")
    log = FileLog(path, block_size=2048)
    await log.open()
    synced: list[tuple[int, dict[str, int]]] = []  # after each commit: last seq, block lengths
    seq = 0
    for _ in range(rng.randrange(5, 30)):
        for _ in range(rng.randrange(1, 12)):
            seq += 1
            log.append(msg(seq))
        log.put_meta("config", b"cfg-%d" % seq)
        await log.commit()
        synced.append((seq, {b.path: b.size for b in log.blocks}))
    # the last commit's writes "did not reach the disk": each of its files keeps a random
    # prefix of what it wrote (the rest cut off, or zeros where the file's length had
    # reached the disk: space allocated ahead), a block it created may be gone, a meta
    # copy may be torn
    acked, before = synced[-2]
    for b in log.blocks:
        old = before.get(b.path, 0)
        if b.path not in before and rng.random() < 0.4:
            os.unlink(b.path)
        elif b.size > old:
            cut = rng.randrange(old, b.size + 1)
            if rng.random() < 0.5:
                ft.truncate(b.path, cut)
            else:
                ft.zero(b.path, cut, b.size)
    copy = meta_paths(path, "config")[log.meta_gen["config"] % 2]
    ft.truncate(copy, rng.randrange(os.path.getsize(copy)))
    # block sidecars are never synced: any of them may be cut or garbled
    for f in sorted(os.listdir(path)):
        if f.endswith(".idx") and rng.random() < 0.5:
            side = os.path.join(path, f)
            if rng.random() < 0.5:
                ft.truncate(side, rng.randrange(os.path.getsize(side)))
            else:
                ft.flip_bit(side, rng.randrange(os.path.getsize(side)), rng.randrange(8))
    os.close(log._lockfd)
    log2, rec, metas = await reopen(path, block_size=2048)
    present = [m.seq for m in metas]
    assert present[:acked] == list(range(1, acked + 1))
    assert rec.last_seq >= acked
    await check_all(log2, list(range(1, acked + 1)))
    cfg = await log2.get_meta("config")
    assert cfg is not None and cfg.startswith(b"cfg-")
    assert int(cfg[4:]) >= acked
    log2.append(msg(rec.last_seq + 1))
    await log2.commit()
    await log2.close()


# -- torn tail ----------------------------------------------------------------------------------


async def test_torn_tail_at_random_offsets_is_truncated_and_reported(tmp_path):
    rng = random.Random(77)
    src = str(tmp_path / "src")
    await filled(src, 120, group=7, block_size=1 << 20)
    recs = ft.messages(src)
    last_block = ft.blocks(src)[-1]
    size = ft.data_end(last_block)
    assert os.path.getsize(last_block) > size  # (allocated ahead, not cut back: no close)
    for i in range(16):
        path = str(tmp_path / f"c{i}")
        shutil.copytree(src, path)
        cut = rng.randrange(size // 2, size)
        block = os.path.join(path, os.path.basename(last_block))
        whole = [r for r in recs if r.off + r.total <= cut]
        good_end = whole[-1].off + whole[-1].total
        if i % 2:  # the file's length was synced: the unsynced bytes read back as zeros
            ft.zero(block, cut, size)
            with open(block, "rb") as f:
                lost = len(f.read()[good_end:cut].rstrip(b"\0"))
        else:
            ft.truncate(block, cut)
            lost = cut - good_end
        log, rec, metas = await reopen(path)
        assert [m.seq for m in metas] == [r.seq for r in whole]
        assert os.path.getsize(block) == good_end
        if lost:
            assert any(f"torn record of {lost} bytes" in p for p in rec.problems), rec.problems
        else:
            assert rec.problems == []
        await check_all(log, [r.seq for r in whole])
        log.append(msg(whole[-1].seq + 1))
        await log.commit()
        await log.close()
        log, rec, metas = await reopen(path)
        assert rec.problems == [] and metas[-1].seq == whole[-1].seq + 1
        await log.close()


# -- bit flips ----------------------------------------------------------------------------------

REGIONS = ("payload", "subject", "total_len", "subject_len", "headers_len", "checksum", "seq")


def flip_in(rec: ft.Rec, region: str, rng: random.Random) -> None:
    fields = {"total_len": 4, "seq": 8, "subject_len": 32, "headers_len": 34}
    if region == "payload":
        off = rec.payload_at + rng.randrange(rec.off + rec.total - 8 - rec.payload_at)
    elif region == "subject":
        off = rec.subject_at + rng.randrange(rec.slen)
    elif region == "checksum":
        off = rec.off + rec.total - 8 + rng.randrange(8)
    else:
        width = {"total_len": 4, "seq": 8, "subject_len": 2, "headers_len": 4}[region]
        off = rec.off + fields[region] + rng.randrange(width)
    ft.flip_bit(rec.path, off, rng.randrange(8))


@pytest.mark.parametrize("region", REGIONS)
async def test_bit_flip_is_detected_reported_and_never_served(tmp_path, region):
    rng = random.Random(hash(region) & 0xFFFF)
    path = str(tmp_path / "s")
    await filled(path, 200, block_size=4096)
    recs = ft.messages(path)
    # a record in the middle of a block, one at a block's end, one at the very end
    victims = sorted(rng.sample(recs[1:-1], 3), key=lambda r: r.seq)
    for v in victims:
        flip_in(v, region, rng)
    bad = {v.seq for v in victims}
    log, rec, metas = await reopen(path, block_size=4096)
    assert [m.seq for m in metas] == [r.seq for r in recs if r.seq not in bad]
    assert set(rec.corrupt) == bad, rec.problems
    for s in bad:
        assert await log.read(s) is None
        assert any(str(s) in p for p in rec.problems)
    await check_all(log, [m.seq for m in metas])
    log.append(msg(201))
    await log.commit()
    assert (await log.read(201)) is not None
    await log.close()


async def test_bit_flip_after_a_clean_close_is_caught_on_read(tmp_path):
    path = str(tmp_path / "s")
    log = FileLog(path)
    await log.open()
    for seq in range(1, 51):
        log.append(msg(seq))
    log.put_meta("index", b"store checkpoint")
    await log.close()
    victim = ft.messages(path)[20]
    ft.flip_bit(victim.path, victim.payload_at + 1, 3)
    log, rec, metas = await reopen(path)
    assert rec.checkpoint_current and metas == []  # no scan
    with pytest.raises(CorruptRecordError) as e:
        await log.read(victim.seq)
    assert e.value.seq == victim.seq
    assert (await log.read(victim.seq + 1)) is not None
    await log.close()


async def test_flips_in_meta_copies_fall_back_or_rebuild(tmp_path):
    path = str(tmp_path / "s")
    log = FileLog(path)
    await log.open()
    log.append(msg(1))
    log.put_meta("config", b"v1")
    log.put_meta("index", b"ckpt-1")
    await log.commit()
    log.put_meta("config", b"v2")
    log.put_meta("index", b"ckpt-2")
    await log.close()
    rng = random.Random(5)

    def newest(key: str) -> str:
        return max(meta_paths(path, key), key=os.path.getmtime)

    # the newest "index" copy corrupt: the older copy is read, and it is not current
    p = newest("index")
    ft.flip_bit(p, rng.randrange(os.path.getsize(p)), rng.randrange(8))
    log, rec, metas = await reopen(path)
    assert await log.get_meta("index") == b"ckpt-1"
    assert not rec.checkpoint_current and [m.seq for m in metas] == [1]
    assert any("torn or corrupt" in p for p in rec.problems)
    await log.close()
    # the newest "config" copy corrupt: the data holds the newer value (v2)
    p = newest("config")
    ft.flip_bit(p, rng.randrange(os.path.getsize(p)), rng.randrange(8))
    log, rec, _ = await reopen(path)
    assert await log.get_meta("config") == b"v2"
    await log.close()
    # both copies bad: rebuilt from the data, and both copies are rewritten
    for p in meta_paths(path, "config"):
        ft.truncate(p, 7)
    log, rec, metas = await reopen(path)
    assert await log.get_meta("config") == b"v2"
    assert any("rebuilt from the copy kept in the data" in p for p in rec.problems)
    log.put_meta("index", b"ckpt-3")  # as the store does at every close
    await log.close()
    log, rec, _ = await reopen(path)
    assert await log.get_meta("config") == b"v2" and rec.problems == []
    assert rec.checkpoint_current
    await log.close()


# -- full disk, read-only disk --------------------------------------------------------------------


async def test_full_disk_fails_the_group_and_recovers(tmp_path):
    with ft.tmpfs(str(tmp_path / "mnt"), "256k") as mnt:
        if mnt is None:
            pytest.skip("cannot mount a tmpfs here (needs root)")
        path = os.path.join(mnt, "s")
        filler = os.path.join(mnt, "filler")
        with open(filler, "wb") as f:
            f.write(b"\0" * (96 << 10))
        log = FileLog(path, block_size=16 << 10)
        await log.open()
        acked: list[int] = []
        seq = 0
        failed = 0
        while failed == 0:
            group = []
            for _ in range(5):
                seq += 1
                log.append(msg(seq))
                group.append(seq)
            try:
                await log.commit()
                acked.extend(group)
            except StoreIOError:
                failed = group[0]
        assert acked and failed == acked[-1] + 1
        assert (await log.read(failed)) is None
        await check_all(log, acked)
        os.unlink(filler)
        for s in range(failed, failed + 5):  # the same sequences, once space returns
            log.append(msg(s))
        await log.commit()
        await log.close()
        log, rec, metas = await reopen(path)
        assert [m.seq for m in metas] == list(range(1, failed + 5))
        assert rec.problems == []
        await check_all(log, [m.seq for m in metas])
        await log.close()


async def test_write_error_on_a_read_only_file_fails_the_group_and_recovers(tmp_path):
    # (remounting a tmpfs read-only is refused while the log holds its files open, so
    # the block's descriptor is swapped for a read-only one: the kernel refuses the write)
    path = str(tmp_path / "s")
    log = FileLog(path)
    await log.open()
    for s in range(1, 11):
        log.append(msg(s))
    await log.commit()
    blk = log.blocks[-1]
    saved = os.dup(blk.fd)
    ro = os.open(blk.path, os.O_RDONLY)
    os.dup2(ro, blk.fd)
    os.close(ro)
    try:
        log.append(msg(11))
        with pytest.raises(StoreIOError):
            await log.commit()
        log.append(msg(12))
        with pytest.raises(StoreIOError):  # still refused: nothing half-done is kept
            await log.commit()
    finally:
        os.dup2(saved, blk.fd)
        os.close(saved)
    await check_all(log, list(range(1, 11)))
    assert await log.read(11) is None
    log.append(msg(13))
    await log.commit()
    await log.close()
    log, rec, metas = await reopen(path)
    assert [m.seq for m in metas] == [*range(1, 11), 13] and rec.problems == []
    await log.close()


def test_header_offsets_match_the_codec():
    # the flips above aim at these offsets
    packed = HEADER.pack(0x4B4E, 1, 0, 0x11111111, 0x2222222222222222, 0, 0, 0x3333, 0x44444444)
    assert packed[4:8] == b"\x11" * 4 and packed[8:16] == b"\x22" * 8
    assert packed[32:34] == b"\x33" * 2 and packed[34:38] == b"\x44" * 4
