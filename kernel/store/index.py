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
"""

from __future__ import annotations

import bisect
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from contextlib import suppress
from itertools import compress

from natskern.kernel.store.api import SimpleState
from natskern.kernel.store.subjectcount import SubjectCounts
from natskern.kernel.subjects.tokens import is_literal, matches

__all__ = ["DEAD", "MsgIndex"]

#: The subject id of a sequence that holds no message.
DEAD = 0xFFFFFFFF
_LIVE = b"\x01"
#: ``MsgIndex._before`` when no count may be reused (a message was removed or restored).
_NO_COUNT: tuple[int, int, int, int, int] = (0, 0, 0, 0, 0)
_CHUNK = 4096


def _all(filter_subject: str) -> bool:
    return filter_subject in ("", ">")


class MsgIndex:
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

    def matching(self, filter_subject: str) -> list[int]:
        """Ids of the subjects (with messages or not) that ``filter_subject`` matches."""
        sid = self.subjects.get(filter_subject)
        if sid is not None:  # a stored subject: literal (a KV key, a consumer's filter)
            return [sid]
        if is_literal(filter_subject.encode()):
            sid = self.subjects.get(filter_subject)
            return [] if sid is None else [sid]
        done, sids = self._match_cache.get(filter_subject, (0, []))
        if done < len(self.names):
            pat = filter_subject.encode()
            sids = sids + [
                i for i in range(done, len(self.names)) if matches(pat, self.names[i].encode())
            ]
            if len(self._match_cache) > 256:
                self._match_cache.clear()
            self._match_cache[filter_subject] = (len(self.names), sids)
        return sids

    def next_seq(self, filter_subject: str, start: int) -> int:
        """The first live sequence >= ``start`` matching the filter, or 0."""
        start = max(start, self.base)
        if _all(filter_subject):
            off = self.live.find(_LIVE, start - self.base)
            return 0 if off < 0 else self.base + off
        best = 0
        for sid in self.matching(filter_subject):
            if not self.sub_count[sid] or self.sub_last[sid] < start:
                continue
            if self.sub_first[sid] >= start:
                cand = self.sub_first[sid]
            else:
                stop = (best or self.end) - self.base
                try:
                    cand = self.base + self.sid.index(sid, start - self.base, stop)
                except ValueError:
                    continue
            if not best or cand < best:
                best = cand
        return best

    def last_seq_of(self, filter_subject: str) -> int:
        """The newest live sequence matching the filter, or 0."""
        if _all(filter_subject):
            return self.last_seq()
        sid = self.subjects.get(filter_subject)
        if sid is not None:
            return self.sub_last[sid] if self.sub_count[sid] else 0
        best = 0
        for sid in self.matching(filter_subject):
            if self.sub_count[sid] and self.sub_last[sid] > best:
                best = self.sub_last[sid]
        return best

    def filtered(self, filter_subject: str, start: int = 0, *, ends: bool = True) -> SimpleState:
        """Count and first/last sequence of matching messages at or after ``start``.

        With ``ends=False`` only the count is exact (no search for the first one).
        """
        out = SimpleState()
        if _all(filter_subject):
            if not self.msgs:
                return out
            fs = self.first_seq()
            if start <= fs:
                return SimpleState(self.msgs, fs, self.last_seq())
            a = start - self.base
            if a >= len(self.live):
                return out
            n = self._live_from(a)
            if n:
                out.msgs = n
                out.first = self.next_seq("", start)
                out.last = self.last_seq()
            return out
        sids = self.matching(filter_subject)
        if len(sids) > 8 and sum(self.sub_count[sid] for sid in sids) == self.msgs:
            # Every stored message matches (a filter that is the stream's own subjects):
            # the live column counts them in C, no per-subject pass.
            return self.filtered("", start)
        partial: list[int] = []
        for sid in sids:
            if not self.sub_count[sid] or self.sub_last[sid] < start:
                continue
            if self.sub_first[sid] >= start:
                out.msgs += self.sub_count[sid]
                first = self.sub_first[sid]
            else:
                partial.append(sid)
                continue
            out.first = first if not out.first else min(out.first, first)
            out.last = max(out.last, self.sub_last[sid])
        if partial:
            out.msgs += self._counts.count_from(
                self, partial, start, self.sub_first, self.sub_last, self.sub_count
            )
            if ends:
                # Each search stops at the best so far (not the column's end per subject).
                a, best = start - self.base, len(self.sid)
                for sid in partial:
                    with suppress(ValueError):  # its next one is beyond the best
                        best = self.sid.index(sid, a, best)
                first = self.base + best
                out.first = first if not out.first else min(out.first, first)
                out.last = max(out.last, *(self.sub_last[sid] for sid in partial))
        return out

    def subjects_state(self, filter_subject: str = ">") -> dict[str, SimpleState]:
        """Per-subject state of the stored subjects matching the filter."""
        sids = range(len(self.names)) if _all(filter_subject) else self.matching(filter_subject)
        return {
            self.names[s]: SimpleState(self.sub_count[s], self.sub_first[s], self.sub_last[s])
            for s in sids
            if self.sub_count[s]
        }

    def num_subjects(self) -> int:
        """How many subjects have messages."""
        return len(self.sub_count) - self.sub_count.count(0)

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

    def num_pending(self, start: int, filter_subject: str, last_per_subject: bool) -> int:
        """Matching messages at or after ``start`` (or subjects whose last one is)."""
        if not last_per_subject:
            return self.filtered(filter_subject, start, ends=False).msgs
        sids = range(len(self.names)) if _all(filter_subject) else self.matching(filter_subject)
        return sum(1 for s in sids if self.sub_count[s] and self.sub_last[s] >= start)

    def deleted(self, first: int, last: int) -> list[int]:
        """The sequences in ``first..last`` holding no message."""
        out = list(range(first, min(last + 1, self.base)))
        a = max(first - self.base, 0)
        b = min(last - self.base + 1, len(self.live))
        live = self.live
        off = live.find(0, a, b)
        while off >= 0:
            out.append(self.base + off)
            off = live.find(0, off + 1, b)
        out.extend(range(max(self.end, first), last + 1))
        return out

    def age_cut(self, cutoff_ts: int) -> int:
        """The first sequence whose timestamp is above ``cutoff_ts`` (timestamps never decrease)."""
        return self.base + bisect.bisect_right(self.ts, cutoff_ts)

    def live_seqs(self, first: int, last: int) -> Iterable[int]:
        """The live sequences of ``first..last``, in order."""
        a = max(first - self.base, 0)
        b = min(last - self.base + 1, len(self.live))
        return compress(range(self.base + a, self.base + b), self.live[a:b])

    def nth_live(self, n: int) -> int:
        """The sequence of the ``n``-th live message (1-based, oldest first; n <= msgs)."""
        live = self.live
        pos = 0
        step = 1 << 16
        while True:
            c = live.count(1, pos, pos + step)
            if c >= n:
                break
            n -= c
            pos += step
        off = pos - 1
        for _ in range(n):
            off = live.find(1, off + 1)
        return self.base + off

    def seqs_of(self, filter_subject: str, below: int = 0) -> list[int]:
        """Every live sequence matching the filter (below ``below`` when given), in order."""
        out: list[int] = []
        sids = self.sid
        for sid in self.matching(filter_subject):
            n = self.sub_count[sid]
            if not n:
                continue
            off = self.sub_first[sid] - self.base
            stop = len(sids) if not below else max(min(below - self.base, len(sids)), 0)
            while n and off < stop:
                out.append(self.base + off)
                n -= 1
                if n:
                    try:
                        off = sids.index(sid, off + 1, stop)
                    except ValueError:
                        break
        out.sort()
        return out
