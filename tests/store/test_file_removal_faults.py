"""A corrupted removal record never brings its removed messages back (file log).

Every removal is written twice in its group (the record in place, a ``FLAG_ECHO``
copy at the group's end), and a sealed block's sidecar lists its removals a third
time.  Seeded bit flips hit removal records of single sequences and of ranges,
in groups of their own and in groups with messages, in sealed and newest blocks;
after the crash recovery the removed messages must stay removed, whether it was
the first copy or the second that was hit.
"""

from __future__ import annotations

import os
import random

import pytest
from natskern.kernel.store.api import StoreConfig, StoredMsg
from natskern.plugins.storage.file import open_file_store
from natskern.plugins.storage.filelog import FileLog
from natskern.plugins.storage.filelog.codec import (
    DEL,
    FLAG_ECHO,
    HEADER,
    RANGE,
    SET,
    removal_set_members,
)

from tests.store import fault_tools as ft

BLOCK = 2048


def msg(seq: int) -> StoredMsg:
    return StoredMsg(f"s.{seq % 4}", seq, 1_000 + seq, None, b"payload-%05d" % seq)


async def crash(log: FileLog) -> None:
    """Leave as kill -9 does: no close, no block checkpoint (the next open scans)."""
    for b in log.blocks:
        b.close_fd()
    os.close(log._lockfd)


async def reopen(path: str) -> tuple[FileLog, object, list[int]]:
    log = FileLog(path, block_size=BLOCK)
    rec = await log.open()
    return log, rec, [m.seq for m in rec.records]  # type: ignore[attr-defined]


def removal_records(path: str) -> list[tuple[ft.Rec, int]]:
    """Every removal record with its flags byte, in log order."""
    out = []
    for r in ft.layout(path):
        if r.kind in (DEL, RANGE, SET):
            with open(r.path, "rb") as f:
                f.seek(r.off)
                flags = HEADER.unpack(f.read(HEADER.size))[2]
            out.append((r, flags))
    return out


async def build(path: str, rng: random.Random) -> set[int]:
    """A log with single and range removals mixed into its groups; returns the live set."""
    log = FileLog(path, block_size=BLOCK)
    await log.open()
    live: set[int] = set()
    seq = 0
    for _ in range(rng.randrange(12, 20)):
        for _ in range(rng.randrange(0, 9)):
            seq += 1
            log.append(msg(seq))
            live.add(seq)
        for _ in range(rng.randrange(0, 3)):
            if len(live) < 4:
                break
            if rng.random() < 0.5:
                s = rng.choice(sorted(live))
                log.remove(s)
                live.discard(s)
            else:
                lo = rng.choice(sorted(live))
                hi = min(lo + rng.randrange(1, 5), seq)
                log.remove_range(lo, hi)
                live -= set(range(lo, hi + 1))
        await log.commit()
    # a group of two single removals (one SET record), one holding only a single removal
    # and one holding only a range
    if len(live) >= 6:
        s = sorted(live)
        log.remove(s[-1])
        log.remove(s[-3])
        await log.commit()
        live -= {s[-1], s[-3]}
    if len(live) >= 4:
        s = sorted(live)
        log.remove(s[1])
        await log.commit()
        log.remove_range(s[2], s[3])
        await log.commit()
        live -= {s[1], s[2], s[3]}
    await crash(log)
    return live


def flip_record(rec: ft.Rec, rng: random.Random) -> None:
    """Flip one random bit anywhere in the record (header, hint, checksum)."""
    ft.flip_bit(rec.path, rec.off + rng.randrange(rec.total), rng.randrange(8))


def set_members(rec: ft.Rec) -> int:
    """How many sequences a (still intact) SET record names; 1 for DEL and RANGE."""
    if rec.kind != SET:
        return 1
    with open(rec.path, "rb") as f:
        f.seek(rec.off)
        return len(removal_set_members(f.read(rec.total), 0, rec.total))


@pytest.mark.parametrize("copy", ["first", "second"])
@pytest.mark.parametrize("kind", [DEL, RANGE, SET])
@pytest.mark.parametrize("seed", range(4))
async def test_one_corrupt_copy_of_each_removal_never_brings_a_message_back(
    tmp_path, seed, kind, copy
):
    rng = random.Random(seed * 31 + kind * 7 + (copy == "second"))
    path = str(tmp_path / "s")
    live = await build(path, rng)
    want_echo = FLAG_ECHO if copy == "second" else 0
    cands = [r for r, fl in removal_records(path) if r.kind == kind and fl & FLAG_ECHO == want_echo]
    assert cands, "the log holds removals of that kind"
    victims = rng.sample(cands, min(len(cands), rng.randrange(1, 4)))
    named = sum(set_members(v) for v in victims)  # (a SET's members are restored one by one)
    for v in victims:
        flip_record(v, rng)
    log, rec, present = await reopen(path)
    assert present == sorted(live), rec.problems  # type: ignore[attr-defined]
    assert rec.corrupt == []  # type: ignore[attr-defined]  (no message was corrupt)
    for s in range(1, max(live, default=0) + 1):
        if s not in live:
            assert await log.read(s) is None, s
    problems = rec.problems  # type: ignore[attr-defined]
    assert len([p for p in problems if p.startswith("corrupt re")]) >= 1, problems
    if copy == "first":  # the restored removals are named
        restored = [p for p in problems if "restored from its other copy" in p]
        assert len(restored) == named, problems
    # a second recovery (after more writes and another crash) finds the same
    top = rec.last_seq  # type: ignore[attr-defined]
    log.append(msg(top + 1))
    await log.commit()
    await crash(log)
    log, rec, present = await reopen(path)
    assert present == sorted(live | {top + 1})
    await log.close()


async def test_both_copies_corrupt_in_a_sealed_block_fall_back_to_its_sidecar(tmp_path):
    path = str(tmp_path / "s")
    log = FileLog(path, block_size=BLOCK)
    await log.open()
    for seq in range(1, 11):
        log.append(msg(seq))
    await log.commit()
    log.remove(3)
    log.remove_range(5, 7)
    await log.commit()
    seq = 10
    while len(log.blocks) < 3:  # seal the block holding the removals (its sidecar is written)
        seq += 1
        log.append(msg(seq))
        await log.commit()
    await crash(log)
    first_block = ft.blocks(path)[0]
    assert os.path.exists(first_block[:-4] + ".idx")
    recs = [r for r, _fl in removal_records(path)]
    assert len(recs) == 4 and all(r.path == first_block for r in recs)
    rng = random.Random(7)
    for r in recs:  # every copy in the block is bad
        flip_record(r, rng)
    log, rec, present = await reopen(path)
    assert present == [s for s in range(1, seq + 1) if s not in (3, 5, 6, 7)], rec.problems
    assert sum("restored from its other copy" in p for p in rec.problems) == 2
    await log.close()


async def test_removals_through_the_store_stay_removed_after_a_flip(tmp_path):
    """remove_msg and purge(seq=) through LogStore; one copy of each flipped; the state holds."""
    d = str(tmp_path / "st")
    cfg = StoreConfig(name="S", subjects=["s.>"], options={"block_size": BLOCK})
    store = await open_file_store(cfg, d, sync="always")
    for i in range(30):
        await store.store_msg(f"s.{i % 3}", None, b"x%d" % i)
    assert await store.remove_msg(12)
    await store.purge(seq=6)  # removes 1..5
    await crash(store._log)  # type: ignore[attr-defined]
    rng = random.Random(3)
    for r, fl in removal_records(d):
        if not fl & FLAG_ECHO:
            flip_record(r, rng)
    store = await open_file_store(cfg, d, sync="always")
    st = store.state()
    assert (st.messages, st.first_seq, st.last_seq, st.num_deleted) == (24, 6, 30, 1)
    assert await store.load_msg(12) is None and await store.load_msg(3) is None
    assert (await store.load_msg(13)).payload == b"x12"  # type: ignore[union-attr]
    await store.close()
