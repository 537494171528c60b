"""Counts of a filter from a middle sequence (per-block summaries) against a naive count.

The index is driven directly with short blocks (so a few thousand messages span
hundreds of them) and checked against a plain ``{seq: subject}`` model after
appends, single and range removals, rollbacks (restores), trims and resets; a
LogStore with the default 65,536-sequence blocks is checked through its
removal, purge and compact API.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from natskern.kernel.store import subjectcount
from natskern.kernel.store.api import StoreConfig
from natskern.kernel.store.base import LogStore
from natskern.kernel.store.index import MsgIndex
from natskern.kernel.store.subjectcount import SubjectCounts
from natskern.kernel.subjects.tokens import matches
from natskern.plugins.storage.memory import MemoryLogFactory

SUBJECTS = [f"s.{a}.{b}" for a in range(6) for b in range(7)] + [f"t.{i}" for i in range(4)]
FILTERS = ["s.3.*", "s.*.1", "s.2.5", "s.>", ">", "s.0.*", "s.*.*", "s.9.*", "t.*", "t.3"]


def _naive(model: dict[int, str], flt: str, start: int, last_per_subject: bool = False) -> int:
    """The filter's messages at or after ``start`` (or subjects whose last one is)."""
    pat = flt.encode()
    ok = {s for s in set(model.values()) if matches(pat, s.encode())}
    if not last_per_subject:
        return sum(1 for q, s in model.items() if q >= start and s in ok)
    lasts: dict[str, int] = {}
    for q, s in model.items():
        lasts[s] = max(lasts.get(s, 0), q)
    return sum(1 for s, q in lasts.items() if q >= start and s in ok)


class _Model:
    """A MsgIndex with short blocks and the ``{seq: subject}`` it should hold."""

    def __init__(self, rnd: random.Random, shift: int) -> None:
        self.rnd = rnd
        self.idx = MsgIndex()
        self.idx._counts = SubjectCounts(shift=shift)
        self.model: dict[int, str] = {}
        self.next = 1

    def append(self, n: int, subjects: list[str]) -> None:
        sids, sizes, first = [], [], self.next
        for i in range(n):
            subj = self.rnd.choice(subjects)
            sids.append(self.idx.intern(subj))
            sizes.append(10)
            self.model[first + i] = subj
        self.idx.add_run(first, [1] * n, sids, sizes)
        self.next += n

    def remove_some(self, k: int) -> None:
        for seq in self.rnd.sample(sorted(self.model), min(k, len(self.model))):
            assert self.idx.remove(seq) != subjectcount.DEAD
            del self.model[seq]

    def remove_range(self, lo: int, hi: int) -> None:
        self.idx.remove_range(lo, hi)
        for q in [q for q in self.model if lo <= q <= hi]:
            del self.model[q]

    def check(self, starts: int = 12) -> None:
        idx, rnd = self.idx, self.rnd
        lo, hi = idx.base, max(idx.end, idx.base + 1)
        for _ in range(starts):
            start = rnd.randrange(lo, hi + 1)
            for flt in FILTERS:
                got = idx.num_pending(start, flt, False)
                assert got == _naive(self.model, flt, start), (flt, start)
                st = idx.filtered(flt, start)
                pat = flt.encode()
                hits = [q for q, s in self.model.items() if q >= start and matches(pat, s.encode())]
                assert (st.msgs, st.first, st.last) == (
                    got,
                    min(hits, default=0),
                    max(hits, default=0),
                )
            flt = rnd.choice(FILTERS)
            assert idx.num_pending(start, flt, True) == _naive(self.model, flt, start, True)


@pytest.mark.parametrize("mode", ["default", "summaries", "wide"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_counts_from_any_start_match_a_naive_count(seed: int, mode: str, monkeypatch: Any) -> None:
    if mode == "summaries":  # every full block through a summary
        monkeypatch.setattr(subjectcount, "FEW", 0)
    elif mode == "wide":  # ids too big for the string path: array.count
        monkeypatch.setattr(subjectcount, "NARROW", 0)
    m = _Model(random.Random(seed), shift=5)
    m.append(3000, SUBJECTS)
    m.check()
    assert len(m.idx._counts) > 10  # summaries were used
    m.remove_some(400)  # removals inside summarised blocks
    m.check()
    m.append(500, SUBJECTS[:5])
    m.remove_range(700, 1300)
    m.check()


@pytest.mark.parametrize("few", [subjectcount.FEW, 0])
@pytest.mark.parametrize("seed", [4, 5])
def test_rollback_trim_and_reset_keep_counts_right(seed: int, few: int, monkeypatch: Any) -> None:
    monkeypatch.setattr(subjectcount, "FEW", few)
    rnd = random.Random(seed)
    m = _Model(rnd, shift=4)
    m.append(2000, SUBJECTS)
    m.check(6)
    # A rollback: removals then restores, with counts taken in between.
    gone = rnd.sample(sorted(m.model), 200)
    undo = [(q, m.idx.remove(q)) for q in gone]
    for q in gone:
        del m.model[q]
    m.check(6)
    for (q, sid), subj in zip(undo, [m.idx.names[s] for _, s in undo], strict=True):
        m.idx.restore(q, sid)
        m.model[q] = subj
    m.check(6)
    # A rollback while other removals go on: same live count per block, other ids.
    for q in range(1000, 1400, 16):
        if q in m.model and q + 1 in m.model:
            subj, sid = m.model.pop(q), m.idx.remove(q)
            m.check(2)
            m.idx.restore(q, sid)
            m.model[q] = subj
            m.idx.remove(q + 1)
            del m.model[q + 1]
    m.check(6)
    start, sids, live = m.idx.remove_range(300, 900)
    saved = {q: m.model.pop(q) for q in [q for q in m.model if 300 <= q <= 900]}
    m.check(6)
    m.idx.restore_range(start, sids, live)
    m.model.update(saved)
    m.check(6)
    # Purge the front and trim the dead columns: base moves into a block.
    m.remove_range(1, 1037)
    m.idx.trim(1038)
    assert m.idx.base == 1038
    m.check(6)
    # Everything gone, the columns reset past a gap; new messages counted afresh.
    m.remove_range(1, m.next)
    m.idx.reset(m.next + 100)
    m.next += 100
    m.append(700, SUBJECTS[-10:])
    m.check(6)


def test_blocks_with_many_subjects_keep_sorted_arrays(monkeypatch: Any) -> None:
    monkeypatch.setattr(subjectcount, "DICT_MAX", 8)
    m = _Model(random.Random(7), shift=6)
    many = [f"k.{i}.{j}" for i in range(4) for j in range(300)]
    m.append(4000, many)
    for start in (1, 900, 2100, 3999):
        for flt in ("k.2.*", "k.*.7", "k.1.150", ">", "k.*.*"):
            assert m.idx.num_pending(start, flt, False) == _naive(m.model, flt, start)
    assert any(b.keys is not None for b in m.idx._counts._blocks.values())
    m.remove_some(500)
    for start in (5, 1500, 3000):
        assert m.idx.num_pending(start, "k.3.*", False) == _naive(m.model, "k.3.*", start)


async def test_store_removals_purges_and_compact_match_a_naive_count() -> None:
    """Default blocks (65,536): a 200k stream's counts through LogStore's API."""
    fac = MemoryLogFactory({}, track=True, durable=True)
    s = await LogStore.factory(fac)(StoreConfig("C"), "d", sync="always")
    rnd = random.Random(11)
    model: dict[int, str] = {}
    n = 200_000
    for _ in range(0, n, 20_000):
        items = [rnd.choice(SUBJECTS) for _i in range(20_000)]
        first, _ = await s.store_batch([(subj, None, b"x") for subj in items])
        model.update({first + i: subj for i, subj in enumerate(items)})

    def check() -> None:
        for start in (1, 70_000, 100_001, 131_072, 150_000, 199_999):
            for flt in ("s.3.*", "s.2.5", "s.*.1", ">"):
                assert s.num_pending(start, flt) == _naive(model, flt, start), (flt, start)

    check()
    for q in rnd.sample(range(1, n + 1), 300):
        assert await s.remove_msg(q)
        del model[q]
    check()
    purged = await s.purge(subject="s.3.2", seq=150_000)
    assert purged == sum(1 for q, subj in model.items() if subj == "s.3.2" and q < 150_000)
    model = {q: subj for q, subj in model.items() if not (subj == "s.3.2" and q < 150_000)}
    check()
    await s.compact(80_000)
    model = {q: subj for q, subj in model.items() if q >= 80_000}
    check()
    await s.close()
