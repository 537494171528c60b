"""The pending acks of a consumer in three sorted columns (24 bytes per message).

:class:`PendingSet` maps a stream sequence to ``(consumer seq of the first delivery,
delivery time)`` like a dict in stream order, but keeps ``array`` columns instead of one
dict entry and one list per message (about 230 bytes): deliveries append (stream
sequences only grow), acks leave a tombstone (consumer seq 0) that is skipped and
compacted away once tombstones are the majority.  Lookups are a bisection.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from typing import Final

__all__ = ["PendingSet"]

_COMPACT_MIN: Final = 1024


class _Entry:
    """A view of one pending message: ``[0]`` its first consumer seq, ``[1]`` its time."""

    __slots__ = ("_i", "_set")

    def __init__(self, owner: PendingSet, i: int) -> None:
        self._set = owner
        self._i = i

    def __getitem__(self, k: int) -> int:
        return self._set._d[self._i] if k == 0 else self._set._t[self._i]

    def __setitem__(self, k: int, value: int) -> None:
        if k == 0:
            self._set._d[self._i] = value
        else:
            self._set._t[self._i] = value


class PendingSet:
    """Stream seq -> ``(dseq, ts)`` of delivered, unacknowledged messages, in stream order."""

    __slots__ = ("_d", "_head", "_live", "_s", "_t")

    def __init__(self) -> None:
        self._s = array("Q")
        self._d = array("Q")  # 0: acknowledged (a tombstone)
        self._t = array("q")
        self._head = 0
        self._live = 0

    def _find(self, seq: int) -> int:
        s = self._s
        i = bisect_left(s, seq, self._head)
        if i < len(s) and s[i] == seq and self._d[i]:
            return i
        return -1

    def __contains__(self, seq: object) -> bool:
        return isinstance(seq, int) and self._find(seq) >= 0

    def __len__(self) -> int:
        return self._live

    def __bool__(self) -> bool:
        return self._live > 0

    def __setitem__(self, seq: int, value: tuple[int, int] | list[int]) -> None:
        dseq, ts = value
        s = self._s
        if not s or seq > s[-1]:
            s.append(seq)
            self._d.append(dseq)
            self._t.append(ts)
            self._live += 1
            return
        i = bisect_left(s, seq, self._head)
        if i < len(s) and s[i] == seq:
            if not self._d[i]:
                self._live += 1
            self._d[i], self._t[i] = dseq, ts
            return
        if i < self._head:
            self._head = i
        s.insert(i, seq)
        self._d.insert(i, dseq)
        self._t.insert(i, ts)
        self._live += 1

    def __getitem__(self, seq: int) -> _Entry:
        i = self._find(seq)
        if i < 0:
            raise KeyError(seq)
        return _Entry(self, i)

    def get(self, seq: int) -> _Entry | None:
        """The entry of ``seq``, or None."""
        i = self._find(seq)
        return _Entry(self, i) if i >= 0 else None

    def pop(self, seq: int, *default: None) -> tuple[int, int] | None:
        """Remove ``seq``; return its ``(dseq, ts)`` (or the default, else KeyError)."""
        i = self._find(seq)
        if i < 0:
            if default:
                return default[0]
            raise KeyError(seq)
        out = (self._d[i], self._t[i])
        self._d[i] = 0
        self._live -= 1
        d = self._d
        n = len(d)
        while self._head < n and not d[self._head]:
            self._head += 1
        if n > _COMPACT_MIN and self._live * 2 < n:
            self._compact()
        return out

    def pop_floor(self, seq: int, floor: int) -> tuple[int, int, int]:
        """Remove ``seq`` for an ack; return ``(dseq, next_seq, next_dseq)``.

        ``dseq`` is the removed entry's first consumer seq (0: ``seq`` was not pending).
        When ``dseq == floor + 1`` (the ack floor moves) ``next_seq``/``next_dseq`` are the
        first entry still pending after ``seq`` (0, 0: none); otherwise both are 0.
        """
        s, d = self._s, self._d
        n = len(s)
        h = self._head
        if h < n and s[h] == seq:  # in-order acks take the head
            i = h
        else:
            i = bisect_left(s, seq, h)
            if i >= n or s[i] != seq:
                return 0, 0, 0
        dseq = d[i]
        if not dseq:
            return 0, 0, 0
        d[i] = 0
        self._live -= 1
        ns = nd = 0
        if dseq == floor + 1:
            j = i + 1
            while j < n and not d[j]:
                j += 1
            if j < n:
                ns, nd = s[j], d[j]
        if i == h:
            h += 1
            while h < n and not d[h]:
                h += 1
            self._head = h
        if n > _COMPACT_MIN and self._live * 2 < n:
            self._compact()
        return dseq, ns, nd

    def first_after(self, seq: int) -> tuple[int, int]:
        """``(stream seq, first consumer seq)`` of the first entry after ``seq``, or (0, 0)."""
        s, d = self._s, self._d
        n = len(s)
        j = bisect_right(s, seq, self._head)
        while j < n and not d[j]:
            j += 1
        return (s[j], d[j]) if j < n else (0, 0)

    def extend_run(self, seqs: list[int], dseq: int, ts: int) -> None:
        """Add first deliveries ``seqs`` (ascending) as consumer seqs ``dseq``, ``dseq + 1``,
        ... delivered at ``ts`` (appended in bulk when they lie above every entry)."""
        n = len(seqs)
        if self._s and n and seqs[0] <= self._s[-1]:
            for k, seq in enumerate(seqs):
                self[seq] = (dseq + k, ts)
            return
        self._s.extend(seqs)
        self._d.extend(range(dseq, dseq + n))
        self._t.extend([ts] * n)
        self._live += n

    def _compact(self) -> None:
        keep = [i for i in range(self._head, len(self._s)) if self._d[i]]
        self._s = array("Q", [self._s[i] for i in keep])
        self._d = array("Q", [self._d[i] for i in keep])
        self._t = array("q", [self._t[i] for i in keep])
        self._head = 0

    def __iter__(self) -> Iterator[int]:
        s, d = self._s, self._d
        for i in range(self._head, len(s)):
            if d[i]:
                yield s[i]

    def items(self) -> Iterator[tuple[int, _Entry]]:
        """``(seq, entry)`` in stream order (do not remove entries while iterating)."""
        s, d = self._s, self._d
        for i in range(self._head, len(s)):
            if d[i]:
                yield s[i], _Entry(self, i)
