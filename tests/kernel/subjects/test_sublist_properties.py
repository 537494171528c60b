"""Property tests: Sublist.match against a naive oracle through interleaved changes.

The oracle is ``matches()`` over the list of live subscriptions. Three sublists receive the
same operations: a tiny cache (constant eviction), the default cache (patching of cached
entries) and no cache (pure trie walks). Every match must equal the oracle as multisets,
for a random subject after each change and for every subject of the (small) space.
"""

from __future__ import annotations

import itertools

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from natskern.kernel.subjects.sublist import EMPTY_RESULT, Sublist, SublistResult
from natskern.kernel.subjects.tokens import matches

# A small subject space, so that matches hit cached entries and patched queue groups often.
TOKENS = [b"a", b"b"]
literal_subjects = st.lists(st.sampled_from(TOKENS), min_size=1, max_size=3).map(b".".join)
ALL_SUBJECTS = [b".".join(t) for n in (1, 2, 3) for t in itertools.product(TOKENS, repeat=n)]


@st.composite
def patterns(draw: st.DrawFn) -> bytes:
    """A subscription subject over a small alphabet with ``*`` and a trailing ``>``."""
    tokens = draw(st.lists(st.sampled_from([*TOKENS, b"*"]), min_size=1, max_size=3))
    if draw(st.integers(0, 3)) == 0:
        tokens[-1] = b">"
    return b".".join(tokens)


queues = st.sampled_from([None, b"", b"q1", b"q2", b"q1", b"q2"])


class Sub:
    """A subscription; equal to any other with the same subject/queue (and unhashable)."""

    def __init__(self, subject: bytes, queue: bytes | None) -> None:
        self.subject = subject
        self.queue = queue

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sub) and (self.subject, self.queue) == (
            other.subject,
            other.queue,
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Sub({self.subject!r}, {self.queue!r})"


def expected(live: list[Sub], subject: bytes) -> tuple[list[int], dict[bytes, list[int]]]:
    """The oracle: identity multisets of plain subs and of each queue group."""
    plain: list[int] = []
    groups: dict[bytes, list[int]] = {}
    for sub in live:
        if matches(sub.subject, subject):
            if sub.queue:
                groups.setdefault(sub.queue, []).append(id(sub))
            else:
                plain.append(id(sub))
    return sorted(plain), {q: sorted(members) for q, members in groups.items()}


def observed(result: SublistResult) -> tuple[list[int], dict[bytes, list[int]]]:
    """The same view of a match result, checking its shape on the way."""
    groups: dict[bytes, list[int]] = {}
    for group in result.qsubs:
        assert group
        name = group[0].queue
        assert name and all(s.queue == name for s in group)
        assert name not in groups
        groups[name] = sorted(id(s) for s in group)
    if not result.psubs and not result.qsubs:
        assert result is EMPTY_RESULT
    return sorted(id(s) for s in result.psubs), groups


class SublistMachine(RuleBasedStateMachine):
    """Random inserts, removes, batch removes and matches on three differently cached lists."""

    def __init__(self) -> None:
        super().__init__()
        self.lists = [Sublist(cache_size=3), Sublist(), Sublist(cache_size=0)]
        self.live: list[Sub] = []

    @rule(pattern=patterns(), queue=queues)
    def insert(self, pattern: bytes, queue: bytes | None) -> None:
        sub = Sub(pattern, queue)
        for sl in self.lists:
            sl.insert(sub)
        self.live.append(sub)

    @precondition(lambda self: self.live)
    @rule(data=st.data())
    def insert_twin(self, data: st.DataObject) -> None:
        """Insert a new object equal to a live one: both must be kept."""
        twin_of = data.draw(st.sampled_from(self.live))
        self.insert(twin_of.subject, twin_of.queue)

    @precondition(lambda self: self.live)
    @rule(data=st.data())
    def remove(self, data: st.DataObject) -> None:
        sub = data.draw(st.sampled_from(self.live))
        for sl in self.lists:
            assert sl.remove(sub)
        self.live = [s for s in self.live if s is not sub]

    @rule(pattern=patterns(), queue=queues)
    def remove_absent(self, pattern: bytes, queue: bytes | None) -> None:
        stranger = Sub(pattern, queue)
        for sl in self.lists:
            assert not sl.remove(stranger)

    @precondition(lambda self: self.live)
    @rule(data=st.data())
    def remove_batch(self, data: st.DataObject) -> None:
        picked = data.draw(st.lists(st.sampled_from(self.live), unique_by=id, max_size=4))
        batch = [*picked, Sub(b"never.inserted", None)]
        for sl in self.lists:
            assert sl.remove_batch(batch) == len(picked)
        gone = {id(s) for s in picked}
        self.live = [s for s in self.live if id(s) not in gone]

    @rule(subject=literal_subjects)
    def match(self, subject: bytes) -> None:
        want = expected(self.live, subject)
        for sl in self.lists:
            for _ in range(3):  # miss, miss (now cached), hit
                assert observed(sl.match(subject)) == want

    @invariant()
    def every_subject_agrees(self) -> None:
        """After every step, all subjects of the space match the oracle on every list.

        This also keeps the caches full, so each change has entries to patch, and makes the
        tiny cache evict all the time.
        """
        for subject in ALL_SUBJECTS:
            want = expected(self.live, subject)
            for sl in self.lists:
                # Twice: the second miss admits the subject, so the tiny cache churns.
                assert observed(sl.match(subject)) == want, subject
                assert observed(sl.match(subject)) == want, subject

    @invariant()
    def counts_agree(self) -> None:
        for sl in self.lists:
            assert sl.count == len(self.live)

    @invariant()
    def first_token_index_matches_cache(self) -> None:
        """White-box: the index wildcard changes rely on lists exactly the cached keys."""
        for sl in self.lists:
            indexed = [(first, key) for first, keys in sl._by_first.items() for key in keys]
            assert all(keys for keys in sl._by_first.values())
            assert sorted(key for _, key in indexed) == sorted(sl._cache)
            assert all(key.split(b".")[0] == first for first, key in indexed)

    @invariant()
    def small_cache_stays_bounded(self) -> None:
        assert self.lists[0].stats()["num_cache"] <= 3


SublistMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)
TestSublistMachine = SublistMachine.TestCase


def test_subscriptions_after_machine_style_churn() -> None:
    """subscriptions() returns exactly the live objects after inserts and removes."""
    sl = Sublist()
    subs = [Sub(p, q) for p in (b"a", b"a.*", b"a.>", b">") for q in (None, b"q")]
    for s in subs:
        sl.insert(s)
    for s in subs[::2]:
        sl.remove(s)
    assert sorted(map(id, sl.subscriptions())) == sorted(map(id, subs[1::2]))
