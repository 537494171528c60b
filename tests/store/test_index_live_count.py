"""The index's count of live messages from a sequence on (every consumer round's exact
``num_pending`` recount) against a naive count, over random adds, gaps, removals,
restores, range removals, per-subject trims and column trims: the count it keeps between
calls must never outlive a change."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from natskern.kernel.store.index import MsgIndex

OPS = st.lists(
    st.tuples(
        st.sampled_from(
            ["add", "run", "gap", "remove", "range", "undo", "oldest", "trim", "count"]
        ),
        st.integers(0, 40),
        st.integers(0, 40),
    ),
    max_size=120,
)


@settings(max_examples=600, deadline=None)
@given(OPS)
def test_live_count_from_a_sequence_matches_a_naive_count(ops: list[tuple[str, int, int]]) -> None:
    idx = MsgIndex()
    sids = [idx.intern(f"s.{i}") for i in range(3)]
    live: set[int] = set()
    nxt = 1
    undo: list[tuple[str, object]] = []
    for op, a, b in ops:
        if op == "add":
            idx.add(nxt, nxt, sids[a % 3], 10)
            live.add(nxt)
            nxt += 1
            undo.clear()  # (the store undoes a failed group's removals before any later add)
        elif op == "run":
            k = a % 7 + 1
            idx.add_run(nxt, [nxt] * k, [sids[(a + i) % 3] for i in range(k)], [10] * k)
            live.update(range(nxt, nxt + k))
            nxt += k
            undo.clear()
        elif op == "gap":
            nxt += a % 5 + 1
        elif op == "remove" and live:
            seq = sorted(live)[a % len(live)]
            sid = idx.remove(seq)
            live.discard(seq)
            undo.append(("one", (seq, sid)))
        elif op == "range":
            first = a % max(nxt, 1) + 1
            last = first + b % 6
            start, old_sid, old_live = idx.remove_range(first, last)
            gone = {s for s in live if first <= s <= last}
            live -= gone
            undo.append(("range", (start, old_sid, old_live, gone)))
        elif op == "undo" and undo:
            kind, what = undo.pop()
            if kind == "one":
                seq, sid = what  # type: ignore[misc]
                idx.restore(seq, sid)
                live.add(seq)
            else:
                start, old_sid, old_live, gone = what  # type: ignore[misc]
                idx.restore_range(start, old_sid, old_live)
                live |= gone
        elif op == "oldest":
            seqs, _ = idx.remove_oldest([sids[a % 3]], b % 3 + 1)
            live -= set(seqs)
            undo.clear()  # (no undo of these: the store never undoes them one by one)
        elif op == "trim" and live:
            idx.trim(min(live))
            undo.clear()  # (trimmed columns are gone: nothing before them is restored)
        start = a % (nxt + 2)
        assert idx.filtered("", start).msgs == sum(1 for s in live if s >= start), (op, start)
