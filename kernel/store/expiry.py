"""``max_age`` and per-message TTL expiry of a :class:`~natskern.kernel.store.base.LogStore`.

One loop timer (``call_later``) is armed for the next deadline: the oldest
message's time plus ``max_age`` (messages stored with ``ttl=-1`` are exempt), or
the earliest per-message TTL (a heap of ``(deadline, seq)``; entries of removed
messages are skipped lazily).  When it fires, everything due is removed through
the log in one go, the group is committed in the background and the timer is
armed again.  No write is needed for messages to expire.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from typing import TYPE_CHECKING

from natskern.kernel.store.api import StoreError
from natskern.kernel.store.index import MsgIndex

if TYPE_CHECKING:
    from natskern.kernel.store.commit import GroupCommitter

__all__ = ["Expiry"]

_time_ns = time.time_ns
#: After a failed expiry commit, the next attempt waits this long (ns).
_BACKOFF = 1_000_000_000


class Expiry:
    """The expiry timer (a mixin of ``LogStore``)."""

    _idx: MsgIndex
    _commit: GroupCommitter
    _closed: bool
    _max_age: int
    _never: set[int]
    _heap: list[tuple[int, int]]
    _timer: asyncio.TimerHandle | None
    _timer_at: int
    _expiring: asyncio.Task[None] | None
    _backoff_until: int

    if TYPE_CHECKING:  # provided by LogStore and its other mixins

        def _drop(self, seq: int, *, erase: bool = False, report: bool = True) -> bool:
            raise NotImplementedError

        def _drop_range(self, first: int, last: int, *, per_msg: bool) -> int:
            raise NotImplementedError

        async def _settle(self) -> None:
            raise NotImplementedError

    def _arm(self) -> None:
        """Schedule the next age/TTL expiry (if any and none is scheduled)."""
        if self._closed or self._timer is not None:
            return
        at = self._next_deadline()
        if not at:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._timer_at = at
        at = max(at, self._backoff_until)
        delay = max((at - _time_ns()) / 1e9, 0.0) + 0.001
        self._timer = loop.call_later(delay, self._fire)

    def _next_deadline(self) -> int:
        idx = self._idx
        at = 0
        if self._max_age and idx.msgs:
            seq = idx.first_seq()
            while seq and seq in self._never:
                seq = idx.next_seq("", seq + 1)
            if seq:
                at = idx.ts[seq - idx.base] + self._max_age
        heap = self._heap
        while heap and not idx.is_live(heap[0][1]):
            heapq.heappop(heap)
        if heap and (not at or heap[0][0] < at):
            at = heap[0][0]
        return at

    def _fire(self) -> None:
        self._timer = None
        if self._closed:
            return
        self._expire(_time_ns())
        self._arm()
        if self._commit.group.dirty and (self._expiring is None or self._expiring.done()):
            self._expiring = asyncio.get_running_loop().create_task(self._settle_quietly())

    async def _settle_quietly(self) -> None:
        try:
            await self._settle()
        except StoreError:  # the rollback is logged; the timer retries, not at once
            self._backoff_until = _time_ns() + _BACKOFF
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._arm()

    def _expire(self, now: int) -> None:
        idx = self._idx
        if self._max_age and idx.msgs:
            cut = idx.age_cut(now - self._max_age)
            first = idx.first_seq()
            if first and first < cut:
                keep = sorted(s for s in self._never if first <= s < cut and idx.is_live(s))
                lo = first
                for s in [*keep, cut]:
                    if lo < s:
                        self._drop_range(lo, s - 1, per_msg=True)
                    lo = s + 1
        heap = self._heap
        while heap and heap[0][0] <= now:
            _, seq = heapq.heappop(heap)
            if idx.is_live(seq):
                self._drop(seq)

    # the removals (remove_msg, purge, compact, truncate, _drop, _drop_range): Removals
