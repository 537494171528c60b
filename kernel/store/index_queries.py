"""The stream index's queries: what matches a filter, counts, and where messages are.

:class:`IndexQueries` is the read side of :class:`~.index.MsgIndex` (which inherits
it): searches over the per-subject state and the columns, none of which changes the
index.  The searches run in C where they
can: ``bytearray.find``/``count`` over the live column, ``array.index`` over the
subject ids, ``bisect`` over the timestamps.
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Iterable
from contextlib import suppress
from itertools import compress
from typing import TYPE_CHECKING

from natskern.kernel.store.api import SimpleState
from natskern.kernel.subjects.tokens import is_literal, matches

if TYPE_CHECKING:
    from natskern.kernel.store.subjectcount import SubjectCounts

__all__ = ["IndexQueries"]

_LIVE = b"\x01"


def _all(filter_subject: str) -> bool:
    return filter_subject in ("", ">")


class IndexQueries:
    """The queries of :class:`~.index.MsgIndex` over its columns and subject state."""

    __slots__ = ()

    if TYPE_CHECKING:  # (the state and positions MsgIndex keeps)
        base: int
        ts: array[int]
        sid: array[int]
        live: bytearray
        msgs: int
        subjects: dict[str, int]
        names: list[str]
        sub_count: list[int]
        sub_first: list[int]
        sub_last: list[int]
        _match_cache: dict[str, tuple[int, list[int]]]
        _counts: SubjectCounts

        @property
        def end(self) -> int: ...

        def first_seq(self) -> int: ...

        def last_seq(self) -> int: ...

        def _live_from(self, a: int) -> int: ...

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
