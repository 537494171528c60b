"""The prefix ("deep") cache for subjects longer than ``DEEP_TOKENS`` tokens.

Long unique subjects (acks: ``$JS.ACK.<stream>.<consumer>.<n>.<n>.<n>.<ts>.<pending>``) are
served by the result of their first ``DEEP_TOKENS`` tokens when no subscription looks
deeper.  A property test drives inserts, removes and matches of long subjects over a small
alphabet (so that subscriptions reaching past the prefix are common) and compares every
match with the naive oracle; two examples pin the ack case and its invalidation.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from natskern.kernel.subjects.sublist import DEEP_TOKENS, Sublist

from tests.kernel.subjects.test_sublist_properties import Sub, expected, observed

# Mostly "a" (weighted: sampled_from does not weight repeats): subjects and patterns then
# overlap far past the prefix, and many subjects share a prefix.
token = st.integers(0, 9).map(lambda i: b"a" if i < 6 else b"b")
long_subjects = st.lists(token, min_size=DEEP_TOKENS - 1, max_size=DEEP_TOKENS + 3).map(b".".join)


@st.composite
def patterns(draw: st.DrawFn) -> bytes:
    size = draw(st.integers(1, DEEP_TOKENS + 3))
    tokens = draw(
        st.lists(
            st.integers(0, 9).map(lambda i: b"a" if i < 6 else b"b" if i < 8 else b"*"),
            min_size=size,
            max_size=size,
        )
    )
    if draw(st.booleans()):
        tokens[-1] = b">"
    return b".".join(tokens)


ops = st.lists(
    st.one_of(
        st.tuples(st.just("sub"), patterns()),
        st.tuples(st.just("unsub"), st.integers(0, 20)),
        st.tuples(st.just("match"), long_subjects),
        st.tuples(st.just("near"), st.tuples(st.integers(0, 20), st.integers(0, 8))),
        st.tuples(st.just("near"), st.tuples(st.integers(0, 20), st.integers(0, 8))),
    ),
    min_size=5,
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(ops)
def test_long_subjects_match_the_oracle(script: list[tuple[str, object]]) -> None:
    sublists = [Sublist(), Sublist(cache_size=2), Sublist(cache_size=0)]
    live: list[Sub] = []

    def check(subject: bytes) -> None:
        want = expected(live, subject)
        for sl in sublists:
            for _ in range(3):  # a miss, then whatever cache serves it
                assert observed(sl.match(subject)) == want

    for op, arg in script:
        if op == "sub":
            sub = Sub(arg, None)  # type: ignore[arg-type]
            live.append(sub)
            for sl in sublists:
                sl.insert(sub)
        elif op == "unsub" and live:
            sub = live.pop(arg % len(live))  # type: ignore[operator]
            for sl in sublists:
                assert sl.remove(sub)
        elif op == "match":
            check(arg)  # type: ignore[arg-type]
        elif op == "near" and live:
            which, flip = arg  # type: ignore[misc]
            # a subject the pattern matches, long enough, then one token changed
            tokens = live[which % len(live)].subject.replace(b"*", b"a").split(b".")
            if tokens[-1] == b">":
                tokens[-1:] = [b"a", b"b"]
            tokens += [b"a"] * (DEEP_TOKENS + 1 - len(tokens))
            check(b".".join(tokens))
            tokens[flip % len(tokens)] = b"b" if tokens[flip % len(tokens)] == b"a" else b"a"
            check(b".".join(tokens))


def test_acks_share_their_prefix_result_until_a_deeper_subscription() -> None:
    sl = Sublist()
    consumer = Sub(b"$JS.ACK.S.C.>", None)
    v2 = Sub(b"$JS.ACK.*.*.S.C.>", None)
    sl.insert(consumer)
    sl.insert(v2)
    first = sl.match(b"$JS.ACK.S.C.1.10.10.1700000000.5")
    assert first.psubs == (consumer,)
    # another ack of the same prefix: the very same result object, no walk
    assert sl.match(b"$JS.ACK.S.C.1.11.11.1700000001.4") is first
    assert len(sl._deep) == 1 and not sl._cache
    # a subscription looking past the prefix: the prefix result no longer applies
    spy = Sub(b"$JS.ACK.S.C.1.11.>", None)
    sl.insert(spy)
    assert not sl._deep
    assert sl.match(b"$JS.ACK.S.C.1.11.11.1700000001.4").psubs == (consumer, spy)
    assert sl.match(b"$JS.ACK.S.C.1.12.12.1700000002.3").psubs == (consumer,)
    sl.remove(spy)
    assert sl.match(b"$JS.ACK.S.C.1.11.11.1700000001.4").psubs == (consumer,)


def test_v2_ack_subjects_reach_the_domain_subscription() -> None:
    sl = Sublist()
    consumer = Sub(b"$JS.ACK.S.C.>", None)
    v2 = Sub(b"$JS.ACK.*.*.S.C.>", None)
    sl.insert(consumer)
    sl.insert(v2)
    subject = b"$JS.ACK.hub.ACCHASH.S.C.1.10.10.1700000000.5.tok"
    for _ in range(3):
        assert sl.match(subject).psubs == (v2,)
    everything = Sub(b">", None)
    sl.insert(everything)
    for _ in range(3):
        assert set(map(id, sl.match(b"$JS.ACK.S.C.1.1.1.1.0").psubs)) == {
            id(consumer),
            id(everything),
        }
