"""The file log's in-memory records (``filelog.memcache.ReadCache``): what it keeps, what
it drops, and that its byte budget holds.

The cache is fed the way the file log feeds it: each committed group's messages with the
group as encoded (its record sizes and removals).  Through a real file log, the
conformance suite and ``test_file_reads`` check that reads return the same with or
without it.
"""

from __future__ import annotations

from array import array

from natskern.kernel.store.api import StoredMsg
from natskern.plugins.storage.filelog.group import EncodedGroup
from natskern.plugins.storage.filelog.memcache import READ_AHEAD, SMALL_READ, ReadCache

RECORD = 100


def group(
    cache: ReadCache,
    seqs: range,
    removals: list[tuple[int, int]] = (),  # type: ignore[assignment]
    rm_set: list[int] | None = None,
) -> dict[int, StoredMsg]:
    """Commit ``seqs`` (records of RECORD bytes) with those removals; the messages."""
    msgs = {s: StoredMsg("s", s, s, None, b"x" * 10) for s in seqs}
    g = EncodedGroup(seqs=list(seqs), sizes=[RECORD] * len(seqs))
    g.removals = [(a, b, b, 0) for a, b in removals]
    g.rm_set = array("Q", rm_set) if rm_set is not None else None
    cache.committed(msgs, g)
    return msgs


def test_the_oldest_groups_go_first_and_the_budget_holds() -> None:
    cache = ReadCache(budget=10 * RECORD)
    for lo in range(1, 40, 4):  # groups of 4 records, 10 of them
        group(cache, range(lo, lo + 4))
        assert cache.nbytes <= cache.budget
        assert len(cache.recent) * RECORD <= cache.budget
    # 8 records fit (two whole groups); the last two groups are the ones kept
    assert sorted(cache.recent) == list(range(33, 41))
    assert cache.recent[40].seq == 40


def test_a_group_larger_than_the_budget_is_not_kept() -> None:
    cache = ReadCache(budget=3 * RECORD)
    group(cache, range(1, 3))
    group(cache, range(3, 8))
    assert cache.recent == {} and cache.nbytes == 0


def test_removed_messages_leave_both_maps() -> None:
    cache = ReadCache(budget=1 << 20)
    group(cache, range(1, 201))
    cache.ahead = {s: StoredMsg("s", s, s, None, b"") for s in (5, 150, 199)}
    # a single removal, a long range (the scan path) and a set of single removals
    group(cache, range(201, 202), removals=[(5, 5), (100, 180)], rm_set=[7, 199])
    gone = {5, 7, 199, *range(100, 181)}
    assert set(cache.recent) == set(range(1, 202)) - gone
    assert cache.ahead == {}
    # the removed messages' bytes stay counted until their group goes (never more held)
    assert cache.nbytes == 201 * RECORD


def test_a_group_of_removals_only_keeps_nothing_new() -> None:
    cache = ReadCache(budget=1 << 20)
    group(cache, range(1, 11))
    group(cache, range(0), removals=[(1, 3)])
    assert sorted(cache.recent) == list(range(4, 11))
    assert cache.nbytes == 10 * RECORD


def test_clear_forgets_everything() -> None:
    cache = ReadCache(budget=1 << 20)
    group(cache, range(1, 11))
    cache.ahead = {11: StoredMsg("s", 11, 11, None, b"")}
    cache.clear()
    assert cache.recent == {} and cache.ahead == {} and cache.nbytes == 0
    group(cache, range(11, 13))  # (and keeps counting from nothing)
    assert cache.nbytes == 2 * RECORD


def test_reads_ahead_only_for_a_sequential_reader() -> None:
    cache = ReadCache()
    assert cache.span(10) == SMALL_READ
    cache.read_from_disk(10, 200)
    assert cache.span(11) == READ_AHEAD  # the next one
    assert cache.span(30) == SMALL_READ  # a jump
    cache.read_from_disk(30, 200)
    assert cache.span(11) == SMALL_READ


def test_a_reader_of_large_records_reads_the_next_one_whole() -> None:
    cache = ReadCache()
    chunk = (128 << 10) + 120  # an object chunk's record
    cache.read_from_disk(7, chunk)
    assert cache.span(8) == chunk  # (one read for the next chunk, not a short one then the rest)
    cache.read_from_disk(8, 300)
    assert cache.span(9) == READ_AHEAD
    assert cache.span(50) == SMALL_READ
