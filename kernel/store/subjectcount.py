"""Messages of a set of subjects in a sequence range, from lazy per-block summaries.

:class:`~natskern.kernel.store.index.MsgIndex` keeps per subject only its
count and first/last sequence, so "how many messages of these subjects are at
or after ``start``" for a ``start`` inside their span needs the subject-id
column.  Counting it with a ``Counter`` is linear in the range (a second for a
few million messages).  :class:`SubjectCounts` cuts the sequence space into
blocks of :data:`BLOCK` sequences (aligned on the sequence, so trimming the
index's front does not move them) and keeps, for each complete block a query
has touched, its per-subject counts.  A query then sums the blocks' counts and
counts only the partial blocks at its two ends in the column.

The summaries are a cache the index never tells about its changes (its append
and removal paths stay untouched): each use checks the block against the
column first — the same covered range, the same number of live entries and the
same CRC-32 of the subject ids (a removed message's id becomes ``DEAD``, so any
removal changes the live count; a rollback that brings messages back while
others are removed keeps the count but changes the CRC, short of a 1 in 2**32
collision) — and rebuilds the block when it differs.  Checking costs a CRC over
the block (about a nanosecond a message), rebuilding a ``Counter`` over it
(tens of nanoseconds a message, once).

A query for a few subjects (up to :data:`FEW`: a literal filter, ``s.*.5``)
builds no summary where there is none: the block's ids are decoded as UTF-32
(one character each while the index has fewer than 0xD800 subjects) and
counted with ``str.count``, about a nanosecond a message and subject.

Memory: a block with few subjects keeps a ``dict`` (a few bytes a message for
1,000 subjects over blocks of 65,536); one with many keeps two sorted
``array('I')`` columns (at most 8 bytes a message).
"""

from __future__ import annotations

import sys
import zlib
from array import array
from bisect import bisect_left
from collections import Counter
from collections.abc import Sequence
from itertools import repeat
from typing import Protocol

__all__ = ["BLOCK", "DEAD", "Columns", "SubjectCounts"]

#: The subject id of a sequence that holds no message (as :mod:`.index`).
DEAD = 0xFFFFFFFF
SHIFT = 16
#: Sequences per block.
BLOCK = 1 << SHIFT
#: Distinct subjects above which a block keeps sorted arrays rather than a dict.
DICT_MAX = 4096
#: Subjects at or below which a block without a summary is counted in place (no summary
#: made: ``str.count`` over the decoded ids costs ~1 ns an entry and subject, a summary ~70).
FEW = 24
#: Ids below this decode as one UTF-32 character each (no surrogates).
NARROW = 0xD800
_DEAD4 = b"\xff\xff\xff\xff"
#: What ``DEAD`` becomes before decoding: U+10FFFF, in the column's byte order.
_FILL4 = array("I", [0x10FFFF]).tobytes()
_CODEC = "utf-32-le" if sys.byteorder == "little" else "utf-32-be"


class Columns(Protocol):
    """What :class:`SubjectCounts` reads of the index."""

    base: int
    sid: array
    live: bytearray
    names: list[str]


class _Summary:
    """One block's per-subject counts and what they were taken from."""

    __slots__ = ("counts", "crc", "keys", "live", "lo", "vals")

    def __init__(self, col: array, live: bytearray, a: int, b: int, lo: int) -> None:
        self.lo = lo
        self.live = live.count(1, a, b)
        self.crc = zlib.crc32(memoryview(col)[a:b])
        c = Counter(col[a:b])
        c.pop(DEAD, None)
        self.counts: dict[int, int] | None = None
        self.keys = self.vals = None
        if len(c) <= DICT_MAX:
            self.counts = dict(c)
        else:
            keys = sorted(c)
            self.keys = array("I", keys)
            self.vals = array("I", [c[k] for k in keys])

    def valid(self, col: array, live: bytearray, a: int, b: int, lo: int) -> bool:
        """Whether the block still holds what it was summarised from."""
        return (
            self.lo == lo
            and self.live == live.count(1, a, b)
            and self.crc == zlib.crc32(memoryview(col)[a:b])
        )

    def count(self, sids: Sequence[int], sset: set[int]) -> int:
        """Messages of ``sids`` (``sset`` is the same as a set) in the block."""
        if self.counts is not None:
            return sum(map(self.counts.get, sids, repeat(0)))
        keys, vals = self.keys, self.vals
        assert keys is not None and vals is not None
        if len(sids) * 16 < len(keys):
            n = 0
            top = len(keys)
            for s in sids:
                i = bisect_left(keys, s)
                if i < top and keys[i] == s:
                    n += vals[i]
            return n
        return sum(v for k, v in zip(keys, vals, strict=True) if k in sset)


def _text(col: array, live: bytearray, a: int, b: int) -> str:
    """The ids at offsets ``a..b-1`` as a string, one character each (ids below 0xD800).

    ``DEAD`` (not a code point) becomes U+10FFFF first: every run of four 0xFF
    bytes is a whole ``DEAD`` entry, since a live id's most significant byte is 0.
    """
    mv = memoryview(col)[a:b]
    if live.count(1, a, b) == b - a:
        return str(mv, _CODEC)
    return mv.tobytes().replace(_DEAD4, _FILL4).decode(_CODEC)


def _direct(col: array, live: bytearray, sids: Sequence[int], a: int, b: int, narrow: bool) -> int:
    """Messages of ``sids`` in the column offsets ``a..b-1``, counted in place."""
    if a >= b:
        return 0
    if len(sids) <= FEW:
        if narrow:
            text = _text(col, live, a, b)
            return sum(text.count(chr(s)) for s in sids)
        part = col[a:b]
        return sum(part.count(s) for s in sids)
    c = Counter(col[a:b])
    return sum(map(c.__getitem__, sids))


class SubjectCounts:
    """Per-block subject counts of one index, built on demand and checked on use."""

    __slots__ = ("_blocks", "shift")

    def __init__(self, shift: int = 0) -> None:
        #: Blocks are ``1 << shift`` sequences long (default :data:`SHIFT`).
        self.shift = shift or SHIFT
        self._blocks: dict[int, _Summary] = {}

    def __len__(self) -> int:
        """How many block summaries are held."""
        return len(self._blocks)

    def clear(self) -> None:
        """Drop every summary."""
        self._blocks.clear()

    def count(self, idx: Columns, sids: Sequence[int], lo: int, hi: int) -> int:
        """Messages of the subject ids ``sids`` at the sequences ``lo..hi-1``."""
        base = idx.base
        col, live = idx.sid, idx.live
        end = base + len(live)
        lo, hi = max(lo, base), min(hi, end)
        if lo >= hi or not sids:
            return 0
        sh = self.shift
        k_lo = -(-lo >> sh)  # the first block starting at or after lo
        k_hi = hi >> sh  # blocks below k_hi end at or before hi
        narrow = len(idx.names) <= NARROW and col.itemsize == 4
        if k_lo >= k_hi:
            return _direct(col, live, sids, lo - base, hi - base, narrow)
        n = _direct(col, live, sids, lo - base, (k_lo << sh) - base, narrow)
        n += _direct(col, live, sids, (k_hi << sh) - base, hi - base, narrow)
        sset = set(sids)
        few = len(sids) <= FEW and narrow
        blocks = self._blocks
        for k in range(k_lo, k_hi):
            s_lo = k << sh
            a, b = s_lo - base, s_lo + (1 << sh) - base
            summ = blocks.get(k)
            if summ is None or not summ.valid(col, live, a, b, s_lo):
                if few:  # cheaper in place than a summary
                    n += _direct(col, live, sids, a, b, narrow)
                    continue
                summ = blocks[k] = _Summary(col, live, a, b, s_lo)
            n += summ.count(sids, sset)
        self._forget(base, end)
        return n

    def _forget(self, base: int, end: int) -> None:
        """Drop the summaries of blocks the index no longer covers whole."""
        blocks, sh = self._blocks, self.shift
        if blocks and (min(blocks) << sh < base or (max(blocks) + 1) << sh > end):
            for k in [k for k in blocks if k << sh < base or (k + 1) << sh > end]:
                del blocks[k]

    def count_from(
        self,
        idx: Columns,
        sids: Sequence[int],
        start: int,
        firsts: Sequence[int],
        lasts: Sequence[int],
        counts: Sequence[int],
    ) -> int:
        """Messages of ``sids`` at or after ``start``; each one's first is before it.

        ``firsts``/``lasts``/``counts`` are the index's per-subject columns: the
        shorter side of ``start`` is counted (after it, or before it taken from
        the subjects' totals).
        """
        first = min(firsts[s] for s in sids)
        stop = max(lasts[s] for s in sids) + 1
        if stop - start <= start - first:
            return self.count(idx, sids, start, stop)
        total = sum(counts[s] for s in sids)
        return total - self.count(idx, sids, first, start)
