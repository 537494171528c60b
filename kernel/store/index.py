"""The stream index: columnar arrays per sequence and per-subject state (no object per message).

:class:`MsgIndex` keeps, for every sequence from ``base`` to the last one, the
timestamp (``int64``), the stored size (``uint32``), the subject id
(``uint32``, :data:`DEAD` once the message is gone) and a live byte, in
``array``/``bytearray`` columns indexed by ``seq - base``: 17 bytes a message
(about 19 with the arrays' over-allocation).  Subjects are interned to ids;
each id has its count and first/last sequence.  The searches run in C:
``bytearray.find`` for the next live message, ``array.index(sid, start, stop)``
for the next message of a subject, ``bisect`` over the (non-decreasing)
timestamps for age cuts.

The index knows nothing of the log, the limits or time; :mod:`.base` drives it.
This module changes it; its queries (what a filter matches, counts, next and
last sequences) are :mod:`.index_queries`.
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from itertools import compress

from natskern.kernel.store.index_queries import _LIVE, IndexQueries
from natskern.kernel.store.subjectcount import SubjectCounts
from natskern.kernel.subjects.tokens import matches

__all__ = ["DEAD", "MsgIndex"]

#: The subject id of a sequence that holds no message.
DEAD = 0xFFFFFFFF
#: ``MsgIndex._before`` when no count may be reused (a message was removed or restored).
_NO_COUNT: tuple[int, int, int, int, int] = (0, 0, 0, 0, 0)
_CHUNK = 4096


class MsgIndex(IndexQueries):
    """Per-sequence columns and per-subject state of one stream."""

    #: Subject-table size below which freed ids are not worth recycling.
    SWEEP_MIN = 1024

    __slots__ = (
        "_before",
        "_counts",
        "_free",
        "_match_cache",
        "_sweep_at",
        "base",
        "bytes",
        "live",
        "msgs",
        "names",
        "sid",
        "size",
        "sub_count",
        "sub_first",
        "sub_last",
        "subjects",
        "ts",
    )

    def __init__(self, base: int = 1) -> None:
        #: The sequence of offset 0.
        self.base = base
        self.ts = array("q")
        self.size = array("I")
        self.sid = array("I")
        self.live = bytearray()
        self.msgs = 0
        self.bytes = 0
        self.subjects: dict[str, int] = {}
        self.names: list[str] = []
        self.sub_count: list[int] = []
        self.sub_first: list[int] = []
        self.sub_last: list[int] = []
        self._match_cache: dict[str, tuple[int, list[int]]] = {}
        self._free: list[int] = []
        self._sweep_at = self.SWEEP_MIN
        self._counts = SubjectCounts()
        #: ``(base, len(live), msgs, offset, live before offset)`` of the last count taken
        #: (see :meth:`_live_from`).
        self._before = _NO_COUNT

    # -- positions ------------------------------------------------------------------------

    @property
    def end(self) -> int:
        """The sequence after the last one the columns cover."""
        return self.base + len(self.live)

    def first_seq(self) -> int:
        """The first live sequence, or 0 when there is none."""
        if not self.msgs:
            return 0
        return self.base + self.live.find(_LIVE)

    def last_seq(self) -> int:
        """The last live sequence, or 0 when there is none."""
        if not self.msgs:
            return 0
        return self.base + self.live.rfind(_LIVE)

    def is_live(self, seq: int) -> bool:
        """Whether ``seq`` holds a message."""
        off = seq - self.base
        return 0 <= off < len(self.live) and self.live[off] == 1

    def intern(self, subject: str) -> int:
        """The id of ``subject`` (created on first use, or a freed one reused)."""
        sid = self.subjects.get(subject)
        if sid is None:
            if self._free:
                sid = self._free.pop()
                self.names[sid] = subject
                raw = subject.encode()
                for flt, (done, sids) in self._match_cache.items():
                    if sid < done and matches(flt.encode(), raw):
                        sids.append(sid)
            else:
                sid = len(self.names)
                self.names.append(subject)
                self.sub_count.append(0)
                self.sub_first.append(0)
                self.sub_last.append(0)
            self.subjects[subject] = sid
        return sid

    def sweep_due(self) -> bool:
        """Whether the subject table has grown enough for :meth:`sweep` to run."""
        return len(self.names) - len(self._free) >= self._sweep_at

    def sweep(self, keep: set[int]) -> int:
        """Free the ids of subjects left without messages (not those in ``keep``).

        Runs only when the table has doubled since the last sweep (amortised O(1)),
        so a KV bucket whose keys come and go does not grow the table for ever.
        """
        if not self.sweep_due():
            return 0
        names, counts = self.names, self.sub_count
        freed = [i for i, c in enumerate(counts) if not c and names[i] and i not in keep]
        for i in freed:
            del self.subjects[names[i]]
            names[i] = ""
        self._free.extend(freed)
        if freed:
            self._match_cache.clear()
        self._sweep_at = max(self.SWEEP_MIN, 2 * (len(names) - len(self._free)))
        return len(freed)

    # -- changes --------------------------------------------------------------------------

    def reset(self, base: int) -> None:
        """Drop the (all dead) columns; the next sequence added is at least ``base``."""
        self.base = base
        self.ts = array("q")
        self.size = array("I")
        self.sid = array("I")
        self.live = bytearray()

    def add(self, seq: int, ts: int, sid: int, size: int) -> None:
        """Index a new message at ``seq`` (beyond every indexed sequence)."""
        gap = seq - self.base - len(self.live)
        if gap:
            if not self.msgs and gap > 0:
                self.reset(seq)
            else:
                self.pad(seq)
        self.ts.append(ts)
        self.size.append(size)
        self.sid.append(sid)
        self.live.append(1)
        self.msgs += 1
        self.bytes += size
        counts = self.sub_count
        n = counts[sid]
        if not n:
            self.sub_first[sid] = seq
        self.sub_last[sid] = seq
        counts[sid] = n + 1

    def add_batch(self, first: int, ts: int, sids: list[int], sizes: list[int]) -> None:
        """Index ``len(sids)`` new messages from ``first`` on, all at time ``ts``."""
        self.add_run(first, array("q", [ts]) * len(sids), sids, sizes)

    def add_run(self, first: int, ts: Sequence[int], sids: list[int], sizes: list[int]) -> None:
        """Index new messages at the consecutive sequences from ``first`` (columns given)."""
        n = len(sids)
        gap = first - self.base - len(self.live)
        if gap:
            if not self.msgs and gap > 0:
                self.reset(first)
            else:
                self.pad(first)
        self.ts.extend(ts)
        self.size.extend(sizes)
        self.sid.extend(sids)
        self.live.extend(b"\x01" * n)
        self.msgs += n
        self.bytes += sum(sizes)
        if not n:
            return
        counts, firsts, lasts = self.sub_count, self.sub_first, self.sub_last
        sid = sids[0]
        if sids.count(sid) == n:  # one subject (a C-speed check): three stores
            if not counts[sid]:
                firsts[sid] = first
            lasts[sid] = first + n - 1
            counts[sid] += n
            return
        seq = first  # many subjects: one pass (half the time of per-subject dicts)
        for sid in sids:
            if not counts[sid]:
                firsts[sid] = seq
            lasts[sid] = seq
            counts[sid] += 1
            seq += 1

    def pad(self, end: int) -> None:
        """Cover the sequences up to ``end - 1`` with dead entries."""
        n = end - self.base - len(self.live)
        if n <= 0:
            return
        last_ts = self.ts[-1] if self.ts else 0
        self.ts.extend(array("q", [last_ts]) * n)
        self.size.extend(array("I", [0]) * n)
        self.sid.extend(array("I", [DEAD]) * n)
        self.live.extend(bytes(n))

    def remove(self, seq: int) -> int:
        """Mark ``seq`` gone; return its subject id (:data:`DEAD` when it was not there)."""
        self._before = _NO_COUNT
        off = seq - self.base
        if not (0 <= off < len(self.live)) or not self.live[off]:
            return DEAD
        sid = self.sid[off]
        self.live[off] = 0
        self.sid[off] = DEAD
        self.msgs -= 1
        self.bytes -= self.size[off]
        n = self.sub_count[sid] - 1
        self.sub_count[sid] = n
        if n == 1:  # the one left is the other end (no scan: a KV bucket's every put)
            if self.sub_first[sid] == seq:
                self.sub_first[sid] = self.sub_last[sid]
            elif self.sub_last[sid] == seq:
                self.sub_last[sid] = self.sub_first[sid]
        elif n:
            if self.sub_first[sid] == seq:
                self.sub_first[sid] = self._next_of(sid, seq + 1)
            elif self.sub_last[sid] == seq:
                self.sub_last[sid] = self._prev_of(sid, seq - 1)
        return sid

    def remove_oldest(self, sids: Iterable[int], keep: int) -> tuple[list[int], list[int]]:
        """Remove each subject's oldest messages until it has ``keep`` (>= 1) left.

        :meth:`remove` of ``sub_first`` in a loop, inline (a KV bucket's history limit
        after a batch of puts); returns the removed sequences and their subject ids.
        """
        self._before = _NO_COUNT
        seqs: list[int] = []
        out: list[int] = []
        base, live, col, size = self.base, self.live, self.sid, self.size
        counts, firsts, lasts = self.sub_count, self.sub_first, self.sub_last
        freed = 0
        for sid in sids:
            n = counts[sid]
            if n <= keep:
                continue
            while n > keep:
                seq = firsts[sid]
                off = seq - base
                live[off] = 0
                col[off] = DEAD
                freed += size[off]
                n -= 1
                if n == 1:  # the one left is the newest
                    firsts[sid] = lasts[sid]
                else:
                    firsts[sid] = base + col.index(sid, off + 1)
                seqs.append(seq)
                out.append(sid)
            counts[sid] = n
        self.msgs -= len(seqs)
        self.bytes -= freed
        return seqs, out

    def restore(self, seq: int, sid: int) -> None:
        """Undo :meth:`remove` of ``seq`` (whose columns are intact)."""
        self._before = _NO_COUNT
        off = seq - self.base
        self.live[off] = 1
        self.sid[off] = sid
        self.msgs += 1
        self.bytes += self.size[off]
        if self.sub_count[sid]:
            self.sub_first[sid] = min(self.sub_first[sid], seq)
            self.sub_last[sid] = max(self.sub_last[sid], seq)
        else:
            self.sub_first[sid] = self.sub_last[sid] = seq
        self.sub_count[sid] += 1

    def remove_range(self, first: int, last: int) -> tuple[int, array, bytearray]:
        """Mark every live sequence in ``first..last`` gone; return ``(start, sids, live)``.

        The returned copies of the columns' old values undo it (:meth:`restore_range`).
        """
        self._before = _NO_COUNT
        a = max(first - self.base, 0)
        b = min(last - self.base + 1, len(self.live))
        if a >= b:
            return (self.base + a, array("I"), bytearray())
        old_sid = self.sid[a:b]
        old_live = self.live[a:b]
        n = b - a
        counts = Counter(old_sid)
        counts.pop(DEAD, None)
        if counts:
            self.bytes -= sum(compress(self.size[a:b], old_live))
            self.sid[a:b] = array("I", [DEAD]) * n
            self.live[a:b] = bytes(n)
            end_seq = self.base + b
            for sid, c in counts.items():
                self.msgs -= c
                left = self.sub_count[sid] - c
                self.sub_count[sid] = left
                if left:
                    if self.base + a <= self.sub_first[sid] < end_seq:
                        self.sub_first[sid] = self._next_of(sid, end_seq)
                    if self.sub_last[sid] < end_seq:
                        self.sub_last[sid] = self._prev_of(sid, self.base + a - 1)
        return (self.base + a, old_sid, old_live)

    def restore_range(self, start: int, old_sid: array, old_live: bytearray) -> None:
        """Undo :meth:`remove_range` with what it returned."""
        self._before = _NO_COUNT
        if not old_live:
            return
        a = start - self.base
        b = a + len(old_live)
        self.sid[a:b] = old_sid
        self.live[a:b] = old_live
        self.bytes += sum(compress(self.size[a:b], old_live))
        counts = Counter(old_sid)
        counts.pop(DEAD, None)
        for sid, c in counts.items():
            self.msgs += c
            fs = start + old_sid.index(sid)
            rev = old_sid[::-1]
            ls = start + len(old_sid) - 1 - rev.index(sid)
            if self.sub_count[sid]:
                self.sub_first[sid] = min(self.sub_first[sid], fs)
                self.sub_last[sid] = max(self.sub_last[sid], ls)
            else:
                self.sub_first[sid], self.sub_last[sid] = fs, ls
            self.sub_count[sid] += c

    def trim(self, below: int) -> None:
        """Free the columns of the (dead) sequences under ``below``."""
        n = min(below - self.base, len(self.live))
        if n <= 0:
            return
        if n == len(self.live):
            self.reset(below)
            return
        del self.ts[:n]
        del self.size[:n]
        del self.sid[:n]
        del self.live[:n]
        self.base += n

    # -- subject searches -----------------------------------------------------------------

    def _next_of(self, sid: int, seq: int) -> int:
        """The first sequence >= ``seq`` of subject ``sid`` (the subject has one there)."""
        return self.base + self.sid.index(sid, max(seq - self.base, 0))

    def _prev_of(self, sid: int, seq: int) -> int:
        """The last sequence <= ``seq`` of subject ``sid`` (the subject has one there)."""
        hi = seq - self.base + 1
        step = _CHUNK
        while hi > 0:
            lo = max(hi - step, 0)
            part = self.sid[lo:hi]
            part.reverse()
            try:
                return self.base + hi - 1 - part.index(sid)
            except ValueError:
                hi = lo
                step *= 2
        raise LookupError(sid)

    def _live_from(self, a: int) -> int:
        """Live messages at offset ``a`` and after (``a`` within the live column).

        The live column holds every message, so this counts the shorter side of ``a``
        — or only the stretch since the last count: while nothing was removed or
        restored (every removal and restore drops the count kept; and the column grew
        by exactly the messages added, its base unchanged) the messages before an
        offset at or past the last one are those before it plus the ones between. A
        consumer reading on recounts its ``num_pending`` every round.
        """
        live, msgs, n = self.live, self.msgs, len(self.live)
        base, end, msgs0, a0, before0 = self._before
        unchanged = base == self.base and a >= a0 and msgs - msgs0 == n - end
        if unchanged and a - a0 <= min(a, n - a):
            before = before0 + live.count(_LIVE, a0, a)
        elif a * 2 < n:
            before = live.count(_LIVE, 0, a)
        else:
            before = msgs - live.count(_LIVE, a)
        self._before = (self.base, n, msgs, a, before)
        return msgs - before
