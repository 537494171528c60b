"""LogStore against a naive model: random operations, then every query compared (hypothesis).

The model is a dict of live sequences; the store runs over the memory backend
with awaited commits, some of which fail (the operation must then leave the
messages as they were), and is now and then closed and reopened, or abandoned
and reopened (a crash: no checkpoint).
"""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from natskern.kernel.store.api import SimpleState, StoreConfig, StoreIOError
from natskern.kernel.store.base import LogStore
from natskern.kernel.subjects.tokens import matches
from natskern.plugins.storage.memory import MemoryLogFactory

SUBJECTS = ["a.x", "a.y", "b.x", "b.y.z", "c"]
FILTERS = ["", ">", "a.x", "a.*", "*.x", "b.>", "c", "zz", "*.y.*"]

op = st.one_of(
    st.tuples(st.just("store"), st.sampled_from(SUBJECTS), st.integers(0, 3)),
    st.tuples(st.just("batch"), st.lists(st.sampled_from(SUBJECTS), min_size=1, max_size=6)),
    st.tuples(st.just("remove"), st.integers(0, 40)),
    st.tuples(st.just("purge"), st.sampled_from(FILTERS), st.integers(0, 40), st.integers(0, 4)),
    st.tuples(st.just("compact"), st.integers(0, 45)),
    st.tuples(st.just("truncate"), st.integers(0, 40)),
    st.tuples(st.just("skip"), st.integers(1, 3)),
    st.tuples(st.just("fail")),
    st.tuples(st.just("restart")),
    st.tuples(st.just("crash")),
)


def _match(flt: str, subject: str) -> bool:
    return flt in ("", ">") or matches(flt.encode(), subject.encode())


class Model:
    """Live messages and the last sequence, the naive way."""

    def __init__(self) -> None:
        self.msgs: dict[int, str] = {}
        self.last = 0
        #: The highest sequence a successful operation used (never handed out again).
        self.used = 0

    def filtered(self, flt: str, start: int) -> SimpleState:
        seqs = [s for s, subj in self.msgs.items() if s >= start and _match(flt, subj)]
        return SimpleState(len(seqs), min(seqs), max(seqs)) if seqs else SimpleState()


async def _run(ops: list[tuple[Any, ...]]) -> None:
    fac = MemoryLogFactory({}, track=True, durable=True)
    cfg = StoreConfig("M")
    s = await LogStore.factory(fac)(cfg, "d", sync="always")
    m = Model()
    for o in ops:
        kind = o[0]
        failing = kind == "fail"
        if failing:
            fac.logs["d"].fail_commits = 1
            continue
        try:
            if kind == "store":
                seq, _ = await s.store_msg(o[1], None, b"p" * o[2])
                assert seq > m.used
                m.msgs[seq] = o[1]
                m.last = m.used = seq
            elif kind == "batch":
                first, ts = await s.store_batch([(x, None, b"b") for x in o[1]])
                assert first > m.used
                for i, x in enumerate(o[1]):
                    m.msgs[first + i] = x
                m.last = m.used = first + len(o[1]) - 1
                got = await s.load_msg(m.last)
                assert got is not None and (got.subject, got.ts) == (o[1][-1], ts)
            elif kind == "remove":
                assert await s.remove_msg(o[1]) == (o[1] in m.msgs)
                m.msgs.pop(o[1], None)
            elif kind == "purge":
                flt, seq, keep = o[1], o[2] if o[2] % 2 else 0, o[3] if not o[2] % 2 else 0
                victims = sorted(x for x, subj in m.msgs.items() if _match(flt, subj))
                if seq:
                    victims = [x for x in victims if x < seq]
                if keep:
                    victims = victims[: max(len(victims) - keep, 0)]
                assert await s.purge(flt, seq=seq, keep=keep) == len(victims)
                for x in victims:
                    del m.msgs[x]
            elif kind == "compact":
                await s.compact(o[1])
                m.msgs = {x: v for x, v in m.msgs.items() if x >= o[1]}
                m.last = max(m.last, o[1] - 1)
                m.used = max(m.used, m.last)
            elif kind == "truncate":
                await s.truncate(o[1])
                m.msgs = {x: v for x, v in m.msgs.items() if x <= o[1]}
                m.last = min(m.last, o[1])
            elif kind == "skip":
                await s.skip_msgs(0, o[1])
                m.last = m.used = s.state().last_seq
            elif kind == "restart":
                fac.logs["d"].fail_commits = 0
                await s.close()
                s = await LogStore.factory(fac)(cfg, "d", sync="always")
                m.last = _reopened_last(s, m)
            elif kind == "crash":  # abandon the store (everything was committed): no checkpoint
                fac.logs["d"].fail_commits = 0
                s = await LogStore.factory(fac)(cfg, "d", sync="always")
                m.last = _reopened_last(s, m)
        except StoreIOError:
            if kind in ("store", "batch"):
                m.last = s.state().last_seq  # the sequence is used up, the message is not there
        fac.logs["d"].fail_commits = 0
        _compare(s, m)
    fac.logs["d"].fail_commits = 0
    await s.close()


def _reopened_last(s: LogStore, m: Model) -> int:
    """After a reopen, sequences used up by failed writes only may be handed out again."""
    last = s.state().last_seq
    assert last <= m.last and (last >= m.used or last >= max(m.msgs, default=0))
    return last


def _compare(s: LogStore, m: Model) -> None:
    st_ = s.state(deleted_details=True)
    assert st_.messages == len(m.msgs)
    assert st_.last_seq == m.last
    if m.msgs:
        first = min(m.msgs)
        assert st_.first_seq == first
        assert st_.deleted == [x for x in range(first, m.last + 1) if x not in m.msgs]
    subjects = {subj: m.filtered(subj, 0) for subj in set(m.msgs.values())}
    assert s.subjects_state() == subjects
    for flt in FILTERS:
        for start in (0, 3, 9, 17):
            assert s.filtered_state(flt, start) == m.filtered(flt, start), (flt, start)
        lps = {subj for x, subj in m.msgs.items() if x >= 5 and _match(flt, subj)}
        assert s.num_pending(5, flt, last_per_subject=True) == len(
            {subj for subj in lps if max(x for x, v in m.msgs.items() if v == subj) >= 5}
        )


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op, max_size=40))
def test_store_matches_model(ops: list[tuple[Any, ...]]) -> None:
    asyncio.run(_run(ops))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(SUBJECTS), min_size=1, max_size=30), st.integers(0, 35))
def test_load_next_and_last_match_model(subjects: list[str], start: int) -> None:
    async def run() -> None:
        s = await LogStore.factory(MemoryLogFactory())(StoreConfig("N"), "d", sync="always")
        for subj in subjects:
            await s.store_msg(subj, None, b"")
        for i in range(0, len(subjects), 3):
            await s.remove_msg(i + 1)
        live = {i + 1: subj for i, subj in enumerate(subjects) if i % 3}
        for flt in FILTERS:
            want = [x for x in sorted(live) if x >= start and _match(flt, live[x])]
            got = await s.load_next_msg(flt, start)
            assert (got.seq if got else None) == (want[0] if want else None), flt
            last = [x for x in sorted(live) if _match(flt, live[x])]
            got = await s.load_last_msg(flt)
            assert (got.seq if got else None) == (last[-1] if last else None), flt
        await s.close()

    asyncio.run(run())


limits = st.fixed_dictionaries(
    {
        "max_msgs": st.sampled_from([-1, 3, 5]),
        "max_bytes": st.sampled_from([-1, 200, 320]),
        "max_msgs_per_subject": st.sampled_from([-1, 1, 2]),
        "discard": st.sampled_from(["old", "new"]),
        "discard_new_per_subject": st.booleans(),
    }
)


@settings(max_examples=150, deadline=None)
@given(
    limits,
    st.lists(
        st.one_of(
            st.tuples(st.sampled_from(SUBJECTS), st.integers(0, 40)),
            st.tuples(st.just("remove"), st.integers(1, 30)),
        ),
        max_size=30,
    ),
)
def test_limits_match_model(cfg: dict[str, Any], ops: list[tuple[Any, int]]) -> None:
    from natskern.kernel.store.api import DiscardNewError
    from natskern.plugins.storage.memory import memory_record_size

    async def run() -> None:
        s = await LogStore.factory(MemoryLogFactory())(StoreConfig("L", **cfg), "d", sync="always")
        msgs: dict[int, tuple[str, int]] = {}  # seq -> (subject, size)
        mm, mb, mps = cfg["max_msgs"], cfg["max_bytes"], cfg["max_msgs_per_subject"]
        for subj, n in ops:
            if subj == "remove":
                assert await s.remove_msg(n) == (n in msgs)
                msgs.pop(n, None)
                continue
            size = memory_record_size(subj, None, b"p" * n)
            of_subj = sorted(x for x, v in msgs.items() if v[0] == subj)
            total = sum(v[1] for v in msgs.values())
            refuse = False
            if cfg["discard"] == "new":
                asl = mps > 0 and len(of_subj) >= mps
                if (asl and cfg["discard_new_per_subject"]) or (
                    mm > 0 and len(msgs) >= mm and not asl
                ):
                    refuse = True
                elif mb > 0 and total + size > mb:
                    refuse = not asl or total - msgs[of_subj[0]][1] + size > mb
            try:
                seq, _ = await s.store_msg(subj, None, b"p" * n)
            except DiscardNewError:
                assert refuse
                continue
            assert not refuse
            msgs[seq] = (subj, size)
            while mps > 0 and sum(1 for v in msgs.values() if v[0] == subj) > mps:
                del msgs[min(x for x, v in msgs.items() if v[0] == subj)]
            while mm > 0 and len(msgs) > mm:
                del msgs[min(msgs)]
            while mb > 0 and msgs and sum(v[1] for v in msgs.values()) > mb:
                del msgs[min(msgs)]
            st_ = s.state()
            assert (st_.messages, st_.bytes) == (len(msgs), sum(v[1] for v in msgs.values()))
            assert st_.first_seq == min(msgs, default=st_.last_seq + 1)
            want = {}
            for x, (sj, _) in sorted(msgs.items()):
                w = want.setdefault(sj, SimpleState(0, x, x))
                w.msgs, w.last = w.msgs + 1, x
            assert s.subjects_state() == want
        await s.close()

    asyncio.run(run())


def test_store_matches_model_with_subject_ids_recycled(monkeypatch: Any) -> None:
    """The same model runs, with freed subject ids reused and the columns trimmed at every commit."""
    from natskern.kernel.store.index import MsgIndex
    from natskern.kernel.store.removals import Removals

    monkeypatch.setattr(MsgIndex, "SWEEP_MIN", 0)
    monkeypatch.setattr(Removals, "TRIM_MIN", 0)
    test_store_matches_model()
    test_load_next_and_last_match_model()
