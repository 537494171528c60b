"""Unit tests for natskern.kernel.subjects.sublist: matching, queue groups, removal, cache upkeep, stats."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from natskern.kernel.subjects.sublist import EMPTY_RESULT, Sublist, SublistResult


@dataclass(eq=True)
class Sub:
    """A subscription stand-in; eq=True makes it unhashable and equal to its twins."""

    subject: bytes
    queue: bytes | None = None


def ids(subs: tuple[object, ...] | list[object]) -> list[int]:
    """Identity multiset of subscriptions, sorted for comparison."""
    return sorted(id(s) for s in subs)


def queue_groups(result: SublistResult) -> dict[bytes, list[int]]:
    """Result queue groups keyed by name, asserting one group per name."""
    groups: dict[bytes, list[int]] = {}
    for group in result.qsubs:
        assert group, "empty queue group in result"
        name = group[0].queue
        assert all(s.queue == name for s in group)
        assert name not in groups, "queue name split over two groups"
        groups[name] = ids(group)
    return groups


def warm(sl: Sublist, *subjects: bytes) -> dict[bytes, SublistResult]:
    """Match each subject until it is served from the cache; return the cached results."""
    results = {}
    for subject in subjects:
        sl.match(subject)
        results[subject] = sl.match(subject)  # the second miss admits it to the cache
        assert sl.match(subject) is results[subject]
    return results


def test_literal_and_wildcard_matches() -> None:
    sl = Sublist()
    exact, star, tail, full = Sub(b"foo.bar"), Sub(b"foo.*"), Sub(b"foo.>"), Sub(b">")
    other = Sub(b"foo.baz.qux")
    for s in (exact, star, tail, full, other):
        sl.insert(s)
    assert ids(sl.match(b"foo.bar").psubs) == ids([exact, star, tail, full])
    assert ids(sl.match(b"foo.baz.qux").psubs) == ids([tail, full, other])
    assert ids(sl.match(b"foo").psubs) == ids([full])
    assert ids(sl.match(b"nothing.here").psubs) == ids([full])
    assert sl.count == 5


def test_no_interest_is_the_shared_empty_result() -> None:
    sl = Sublist()
    sl.insert(Sub(b"foo.bar"))
    assert sl.match(b"foo.baz") is EMPTY_RESULT
    assert sl.match(b"foo.baz") is EMPTY_RESULT  # also when served from the cache
    assert EMPTY_RESULT.psubs == () and EMPTY_RESULT.qsubs == ()


@pytest.mark.parametrize("subject", [b"", b".", b"foo..bar", b".foo", b"foo."])
def test_subjects_with_empty_tokens_match_nothing(subject: bytes) -> None:
    sl = Sublist()
    sl.insert(Sub(b">"))
    sl.insert(Sub(b"foo.*"))
    assert sl.match(subject) is EMPTY_RESULT


def test_wildcard_text_in_published_subject_is_literal_for_literal_subs() -> None:
    # Non-pedantic clients may publish to "foo.*": only wildcard subs match it, as in
    # nats-server (a literal sub on "foo.bar" does not).
    sl = Sublist()
    star, tail, lit = Sub(b"foo.*"), Sub(b"foo.>"), Sub(b"foo.bar")
    for s in (star, tail, lit):
        sl.insert(s)
    assert ids(sl.match(b"foo.*").psubs) == ids([star, tail])


def test_queue_subscriptions_are_grouped_by_name_across_patterns() -> None:
    sl = Sublist()
    a1, a2 = Sub(b"work.*", b"A"), Sub(b"work.one", b"A")
    b1 = Sub(b"work.>", b"B")
    plain = Sub(b"work.one")
    empty_queue = Sub(b"work.one", b"")  # b"" means no queue, like None
    for s in (a1, a2, b1, plain, empty_queue):
        sl.insert(s)
    result = sl.match(b"work.one")
    assert ids(result.psubs) == ids([plain, empty_queue])
    assert queue_groups(result) == {b"A": ids([a1, a2]), b"B": ids([b1])}
    assert queue_groups(sl.match(b"work.two")) == {b"A": ids([a1]), b"B": ids([b1])}


def test_results_are_immutable_tuples() -> None:
    sl = Sublist()
    sl.insert(Sub(b"foo", b"q"))
    sl.insert(Sub(b"foo"))
    result = sl.match(b"foo")
    assert isinstance(result.psubs, tuple)
    assert isinstance(result.qsubs, tuple) and all(isinstance(g, tuple) for g in result.qsubs)
    with pytest.raises(AttributeError):
        result.psubs = ()  # type: ignore[misc]
    with pytest.raises(AttributeError):
        EMPTY_RESULT.qsubs = ((Sub(b"x"),),)  # type: ignore[misc]


def test_subject_is_cached_from_its_second_miss() -> None:
    sl = Sublist()
    sl.insert(Sub(b"foo.*"))
    sl.insert(Sub(b"foo.lit"))  # (a literal sibling: the last token decides, no prefix cache)
    first = sl.match(b"foo.bar")
    assert sl.stats()["num_cache"] == 0
    second = sl.match(b"foo.bar")
    assert second is not first and second.psubs == first.psubs
    assert sl.stats()["num_cache"] == 1
    assert sl.match(b"foo.bar") is second


def test_subjects_seen_once_do_not_evict_hot_entries() -> None:
    sl = Sublist(cache_size=8)
    inbox = Sub(b"_INBOX.abc.*")
    sl.insert(inbox)
    sl.insert(Sub(b"_INBOX.abc.lit"))  # (the last token decides: no prefix cache)
    hot = warm(sl, b"_INBOX.abc.hot")[b"_INBOX.abc.hot"]
    for i in range(1000):  # request-reply: one unique reply subject per request
        assert sl.match(b"_INBOX.abc.%d" % i).psubs == (inbox,)
    assert sl.match(b"_INBOX.abc.hot") is hot
    assert sl.stats()["num_cache"] == 1
    assert len(sl._seen) <= 8  # the doorkeeper is bounded too


def test_remove_is_by_identity_and_leaves_equal_objects() -> None:
    sl = Sublist()
    one, twin = Sub(b"foo.bar"), Sub(b"foo.bar")
    q1, qtwin = Sub(b"foo.bar", b"q"), Sub(b"foo.bar", b"q")
    assert one == twin and one is not twin
    for s in (one, twin, q1, qtwin):
        sl.insert(s)
    warm(sl, b"foo.bar")  # so that removal must patch the cached result
    assert sl.remove(one)
    assert not sl.remove(one)
    assert not sl.remove(Sub(b"foo.bar"))  # equal but never inserted
    assert sl.remove(qtwin)
    result = sl.match(b"foo.bar")
    assert ids(result.psubs) == ids([twin])
    assert queue_groups(result) == {b"q": ids([q1])}
    assert sl.count == 2


def test_remove_of_unknown_subjects_and_queues() -> None:
    sl = Sublist()
    sub = Sub(b"foo.bar", b"q")
    sl.insert(sub)
    assert not sl.remove(Sub(b"foo.bar"))
    assert not sl.remove(Sub(b"foo.bar", b"other"))
    assert not sl.remove(Sub(b"foo.*"))
    assert not sl.remove(Sub(b"foo.bar.baz"))
    assert not sl.remove(Sub(b"nope"))
    assert sl.count == 1


def test_duplicate_insert_of_the_same_object_is_a_noop() -> None:
    sl = Sublist()
    sub = Sub(b"foo")
    sl.insert(sub)
    generation = sl.generation
    sl.insert(sub)
    assert sl.count == 1
    assert sl.generation == generation
    assert ids(sl.match(b"foo").psubs) == ids([sub])


@pytest.mark.parametrize("subject", [b"", b"foo..bar", b".foo", b"foo.", b">.foo", b"a.>.b"])
def test_insert_rejects_subjects_the_trie_cannot_hold(subject: bytes) -> None:
    sl = Sublist()
    with pytest.raises(ValueError):
        sl.insert(Sub(subject))
    assert sl.count == 0
    assert sl.subscriptions() == []


def test_remove_prunes_empty_nodes() -> None:
    sl = Sublist()
    subs = [Sub(b"a.b.c"), Sub(b"a.*.c"), Sub(b"a.>"), Sub(b"a.b", b"q")]
    for s in subs:
        sl.insert(s)
    for s in subs:
        assert sl.remove(s)
    root = sl._root
    assert root.nodes is None and root.pwc is None and root.fwc is None
    assert sl.count == 0


def test_generation_changes_on_every_effective_change() -> None:
    sl = Sublist()
    sub = Sub(b"foo")
    g0 = sl.generation
    sl.insert(sub)
    g1 = sl.generation
    assert not sl.remove(Sub(b"bar"))
    assert sl.generation == g1
    sl.remove(sub)
    assert g0 != g1 != sl.generation


def test_literal_insert_touches_only_its_own_cache_entry() -> None:
    sl = Sublist()
    sl.insert(Sub(b"svc.*"))
    sl.insert(Sub(b"svc.lit"))  # (the last token decides: no prefix cache)
    cached = warm(sl, b"svc.a", b"svc.b", b"svc.c")
    new = Sub(b"svc.b")
    sl.insert(new)
    assert sl.match(b"svc.a") is cached[b"svc.a"]
    assert sl.match(b"svc.c") is cached[b"svc.c"]
    assert any(x is new for x in sl.match(b"svc.b").psubs)
    assert sl.stats()["num_cache"] == 3


def test_unique_replies_under_one_wildcard_are_served_by_their_prefix() -> None:
    """``_INBOX.<id>.<token>`` under ``_INBOX.<id>.*``: the last token decides nothing, so
    every reply is one lookup of its prefix; the main cache and its doorkeeper stay empty."""
    sl = Sublist(cache_size=8)
    inbox, other = Sub(b"_INBOX.abc.*"), Sub(b"_INBOX.*.*")
    sl.insert(inbox)
    sl.insert(other)
    first = sl.match(b"_INBOX.abc.0")
    assert ids(first.psubs) == ids([other, inbox]) or ids(first.psubs) == ids([inbox, other])
    for i in range(1, 1000):
        assert sl.match(b"_INBOX.abc.%d" % i) is first
    assert sl.stats()["num_cache"] == 0 and not sl._seen
    assert ids(sl.match(b"_INBOX.xyz.1").psubs) == ids([other])
    assert sl.match(b"_INBOX.abc.0.deeper") is EMPTY_RESULT  # (more tokens: another prefix)
    # A literal sibling makes the last token count again, for this prefix.
    lit = Sub(b"_INBOX.abc.lit")
    sl.insert(lit)
    assert any(x is lit for x in sl.match(b"_INBOX.abc.lit").psubs)
    assert not any(x is lit for x in sl.match(b"_INBOX.abc.7").psubs)
    assert sl.remove(lit) and sl.remove(inbox)
    assert ids(sl.match(b"_INBOX.abc.7").psubs) == ids([other])
    assert sl.remove(other)
    assert sl.match(b"_INBOX.abc.7") is EMPTY_RESULT


def test_a_subject_served_by_its_prefix_that_comes_back_enters_the_cache() -> None:
    """A KV key under ``$KV.b.>``: served by its prefix until its second time, then from the
    per-subject cache, and kept exact there when a subscription changes its result."""
    sl = Sublist(cache_size=64)
    stream = Sub(b"$KV.b.>")
    sl.insert(stream)
    assert ids(sl.match(b"$KV.b.first").psubs) == ids([stream])  # (a walk: the prefix's)
    for i in range(3):
        assert ids(sl.match(b"$KV.b.k%d" % i).psubs) == ids([stream])
    assert sl.stats()["num_cache"] == 0  # (once each: still served by the prefix)
    for i in range(3):
        assert ids(sl.match(b"$KV.b.k%d" % i).psubs) == ids([stream])
    assert sl.stats()["num_cache"] == 3 and not sl._seen
    watcher = Sub(b"$KV.b.k1")
    sl.insert(watcher)
    assert ids(sl.match(b"$KV.b.k1").psubs) == ids([stream, watcher])
    assert ids(sl.match(b"$KV.b.k0").psubs) == ids([stream])
    assert sl.remove(stream)
    assert ids(sl.match(b"$KV.b.k1").psubs) == ids([watcher])
    assert sl.match(b"$KV.b.k0") is EMPTY_RESULT


def test_a_cached_result_keeps_walk_order_through_inserts_and_removes() -> None:
    # Whether a subject entered the cache before or after its subscriptions, its result is
    # in the same (nats-server's) order: so routing never depends on the cache's history.
    subs = [Sub(b"a.*"), Sub(b"a.x"), Sub(b">"), Sub(b"*.x"), Sub(b"a.*", b"q"), Sub(b"a.x", b"q")]
    early = Sublist()
    warm(early, b"a.x")
    for sub in subs:
        early.insert(sub)
    late = Sublist()
    for sub in subs:
        late.insert(sub)
    for sl in (early, late):
        result = sl.match(b"a.x")
        assert [s.subject for s in result.psubs] == [b">", b"*.x", b"a.x", b"a.*"]
        assert [[s.subject for s in g] for g in result.qsubs] == [[b"a.x", b"a.*"]]
    for sl in (early, late):
        assert sl.remove(subs[1])
        assert [s.subject for s in sl.match(b"a.x").psubs] == [b">", b"*.x", b"a.*"]


def test_wildcard_changes_patch_only_matching_cache_entries() -> None:
    sl = Sublist()
    base, user = Sub(b"orders.>"), Sub(b"users.*")
    sl.insert(base)
    sl.insert(user)
    sl.insert(Sub(b"users.lit"))  # (the last tokens decide: no prefix cache)
    sl.insert(Sub(b"orders.lit"))
    cached = warm(sl, b"users.1", b"orders.1")
    keep, hit = cached[b"users.1"], cached[b"orders.1"]
    star = Sub(b"orders.*")
    sl.insert(star)
    assert sl.match(b"users.1") is keep
    patched = sl.match(b"orders.1")
    assert patched is not hit
    assert ids(patched.psubs) == ids([base, star])
    assert sl.remove(star)
    assert sl.match(b"users.1") is keep
    assert ids(sl.match(b"orders.1").psubs) == ids([base])


@pytest.mark.parametrize(
    ("pattern", "matched"),
    [(b">", {b"a.x", b"b", b"c.d.e"}), (b"*.x", {b"a.x"}), (b"*", {b"b"})],
)
def test_wildcards_without_literal_prefix_keep_results_correct(
    pattern: bytes, matched: set[bytes]
) -> None:
    sl = Sublist()
    sl.insert(Sub(b"a.x"))
    subjects = (b"a.x", b"b", b"c.d.e")
    warm(sl, *subjects)
    wild = Sub(pattern)
    sl.insert(wild)
    assert {s for s in subjects if any(x is wild for x in sl.match(s).psubs)} == matched
    sl.remove(wild)
    assert not any(x is wild for s in subjects for x in sl.match(s).psubs)


def test_wildcard_changes_after_a_cache_clear() -> None:
    sl = Sublist()
    sl.insert(Sub(b"a.x"))
    warm(sl, b"a.x", b"a.y")
    full = Sub(b">")
    sl.insert(full)  # no literal prefix: the cache is cleared
    warm(sl, b"a.z")
    star = Sub(b"a.*")
    sl.insert(star)  # must not look for entries that the clear dropped
    sl.remove(star)
    assert sl.match(b"a.y").psubs == (full,)
    assert sl.match(b"a.z").psubs == (full,)
    assert sl.stats()["num_cache"] == 1


@pytest.mark.parametrize("wildcard", [b">", b"*"])
def test_wildcard_first_token_change_with_a_cached_literal_wildcard_subject(
    wildcard: bytes,
) -> None:
    # A non-pedantic PUB may publish to the literal subject ">" (or "*"); once it is
    # cached, a ">" subscription must still refresh every other cached subject (found by
    # tests/core/test_fuzz_differential.py: a closed client's ">" sub kept receiving "a").
    sl = Sublist()
    warm(sl, wildcard, b"a")
    sub = Sub(wildcard)
    sl.insert(sub)
    assert sl.match(b"a").psubs == (sub,)
    sl.remove(sub)
    assert sl.match(b"a") is EMPTY_RESULT
    assert sl.match(wildcard) is EMPTY_RESULT


def test_patched_queue_groups_stay_grouped() -> None:
    sl = Sublist()
    q1, other = Sub(b"jobs.*", b"w"), Sub(b"jobs.1", b"v")
    sl.insert(q1)
    sl.insert(other)
    warm(sl, b"jobs.1")  # cached with two groups; patches below must keep both
    q2, q3, third = Sub(b"jobs.1", b"w"), Sub(b"jobs.>", b"w"), Sub(b"jobs.>", b"x")
    for s in (q2, q3, third):
        sl.insert(s)
    assert queue_groups(sl.match(b"jobs.1")) == {
        b"w": ids([q1, q2, q3]),
        b"v": ids([other]),
        b"x": ids([third]),
    }
    sl.remove(q2)
    sl.remove(other)
    assert queue_groups(sl.match(b"jobs.1")) == {b"w": ids([q1, q3]), b"x": ids([third])}
    for s in (q1, q3, third):
        sl.remove(s)
    assert sl.match(b"jobs.1") is EMPTY_RESULT


def test_cache_is_bounded() -> None:
    sl = Sublist(cache_size=64)
    wild = Sub(b"_INBOX.abc.*")
    sl.insert(wild)
    sl.insert(Sub(b"_INBOX.abc.lit"))  # (the last token decides: no prefix cache)
    for i in range(5000):
        subject = b"_INBOX.abc.%d" % (i // 2)  # each subject twice: all get cached
        assert sl.match(subject).psubs == (wild,)
        assert sl.stats()["num_cache"] <= 64
    assert sl.stats()["num_cache"] > 32
    assert sl.match(b"_INBOX.abc.1").psubs == (wild,)


def test_cache_can_be_disabled() -> None:
    sl = Sublist(cache_size=0)
    sub = Sub(b"a.*")
    sl.insert(sub)
    for _ in range(3):
        assert sl.match(b"a.b").psubs == (sub,)
    assert sl.stats()["num_cache"] == 0
    sl.remove(sub)
    assert sl.match(b"a.b") is EMPTY_RESULT


def test_remove_batch() -> None:
    sl = Sublist()
    conn = [Sub(b"_INBOX.x.*"), Sub(b"orders.>"), Sub(b"orders.1"), Sub(b"q.1", b"g")]
    stay = [Sub(b"orders.1"), Sub(b"_INBOX.y.*")]
    for s in conn + stay:
        sl.insert(s)
    warm(sl, b"_INBOX.x.1", b"_INBOX.y.1", b"orders.1", b"orders.2", b"q.1")
    g = sl.generation
    assert sl.remove_batch([*conn, Sub(b"never.inserted")]) == len(conn)
    assert sl.generation != g
    assert sl.count == len(stay)
    assert sl.match(b"_INBOX.x.1") is EMPTY_RESULT
    assert sl.match(b"_INBOX.y.1").psubs == (stay[1],)
    assert sl.match(b"orders.1").psubs == (stay[0],)
    assert sl.match(b"orders.2") is EMPTY_RESULT
    assert sl.match(b"q.1") is EMPTY_RESULT
    assert sl.remove_batch([]) == 0


def test_remove_batch_with_full_wildcard_clears_affected_entries() -> None:
    sl = Sublist()
    full, lit = Sub(b">"), Sub(b"a")
    sl.insert(full)
    sl.insert(lit)
    warm(sl, b"a", b"b")
    assert sl.remove_batch([full]) == 1
    assert sl.match(b"a").psubs == (lit,)
    assert sl.match(b"b") is EMPTY_RESULT


def test_subscriptions_lists_everything_once() -> None:
    sl = Sublist()
    subs = [Sub(b"a"), Sub(b"a"), Sub(b"a.*"), Sub(b"a.>", b"q"), Sub(b">"), Sub(b"*.b", b"q")]
    for s in subs:
        sl.insert(s)
    assert ids(sl.subscriptions()) == ids(subs)


def test_stats_use_subsz_field_names_and_count() -> None:
    sl = Sublist()
    a, b, q = Sub(b"foo.*"), Sub(b"foo.bar"), Sub(b"foo.bar", b"q")
    for s in (a, b, q):
        sl.insert(s)
    sl.remove(b)
    for subject in (b"foo.bar", b"foo.baz", b"zzz"):
        sl.match(subject)  # miss, not cached yet
        sl.match(subject)  # miss, cached: fanouts 2 (1 plain + 1 group), 1, 0
    sl.match(b"foo.bar")  # hit
    sl.match(b"once")  # miss, not cached
    stats = sl.stats()
    assert set(stats) == {
        "num_subscriptions",
        "num_cache",
        "num_inserts",
        "num_removes",
        "num_matches",
        "cache_hit_rate",
        "max_fanout",
        "avg_fanout",
    }
    assert stats["num_subscriptions"] == 2
    assert stats["num_inserts"] == 3
    assert stats["num_removes"] == 1
    assert stats["num_matches"] == 8
    assert stats["num_cache"] == 3
    assert stats["cache_hit_rate"] == pytest.approx(1 / 8)
    assert stats["max_fanout"] == 2
    assert stats["avg_fanout"] == pytest.approx(1.0)


def test_fresh_sublist_stats_are_zero() -> None:
    stats = Sublist().stats()
    assert stats["num_matches"] == 0
    assert stats["cache_hit_rate"] == 0.0
    assert stats["max_fanout"] == 0
    assert stats["avg_fanout"] == 0.0
