"""Removals of :class:`~natskern.kernel.store.base.LogStore`: delete, purge, compact, truncate.

Every removal goes through the log (``remove``/``remove_range``), is recorded in
the current commit group with what undoes it in the index, and is reported to
the removal callback once committed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from natskern.kernel.store.api import RemovalCallback, StoreError
from natskern.kernel.store.index import DEAD, MsgIndex

if TYPE_CHECKING:
    from natskern.kernel.store.commit import GroupCommitter
    from natskern.kernel.store.log import RecordLog

__all__ = ["Removals"]


def _all(filter_subject: str) -> bool:
    return filter_subject in ("", ">")


class Removals:
    """The removal half of the store (a mixin of ``LogStore``)."""

    _idx: MsgIndex
    _log: RecordLog
    _commit: GroupCommitter
    _cb: RemovalCallback | None
    _hw: int
    _last_seq: int
    _last_ts: int

    if TYPE_CHECKING:  # provided by LogStore and its other mixins

        def _open_check(self) -> None:
            raise NotImplementedError

        async def _settle(self) -> None:
            raise NotImplementedError

        def _save_seq(self) -> None:
            raise NotImplementedError

    def _drop(self, seq: int, *, erase: bool = False, report: bool = True) -> bool:
        """Remove live ``seq`` through the log and the index (the caller settles)."""
        idx = self._idx
        sid = idx.remove(seq)
        if sid == DEAD:
            return False
        self._log.remove(seq, erase=erase)
        g = self._commit.mark()
        g.undo.append((seq, sid))
        if seq < g.min_rm:
            g.min_rm = seq
        if report and self._cb is not None:
            g.removed.append((seq, idx.names[sid]))
        return True

    def _drop_range(self, first: int, last: int, *, per_msg: bool) -> int:
        """Remove every live message of ``first..last``; return how many."""
        idx = self._idx
        first = max(first, idx.base)
        last = min(last, idx.end - 1)
        if first > last:
            return 0
        removed: list[tuple[int, str]] = []
        if per_msg and self._cb is not None:
            base, sids, names = idx.base, idx.sid, idx.names
            removed = [(s, names[sids[s - base]]) for s in idx.live_seqs(first, last)]
        start, old_sids, old_live = idx.remove_range(first, last)
        n = old_live.count(1)
        if not n:
            return 0
        self._log.remove_range(first, last)
        g = self._commit.mark()
        g.undo.append((start, old_sids, old_live))
        if first < g.min_rm:
            g.min_rm = first
        if self._cb is not None:
            g.removed.extend(removed if per_msg else [(0, "")])
        return n

    async def remove_msg(self, seq: int, *, erase: bool = False) -> bool:
        """Remove one message (``erase`` overwrites its bytes); False when it is not there."""
        self._open_check()
        if not self._drop(seq, erase=erase):
            return False
        await self._settle()
        return True

    async def purge(self, subject: str = "", *, seq: int = 0, keep: int = 0) -> int:
        """Remove messages (all, matching ``subject``, below ``seq``, all but ``keep``)."""
        self._open_check()
        if seq and keep:
            raise StoreError("purge: seq and keep are exclusive")
        idx = self._idx
        if not idx.msgs:
            return 0
        if _all(subject):
            if keep:
                if keep >= idx.msgs:
                    return 0
                last = idx.nth_live(idx.msgs - keep)
            else:
                last = seq - 1 if seq else self._hw
            n = self._drop_range(idx.first_seq(), last, per_msg=False)
        else:
            seqs = idx.seqs_of(subject, below=seq)
            if keep:
                seqs = seqs[: max(len(seqs) - keep, 0)]
            for s in seqs:
                self._drop(s, report=False)
            n = len(seqs)
            if n and self._cb is not None:
                self._commit.group.removed.append((0, ""))
        if n:
            await self._settle()
        return n

    async def compact(self, seq: int) -> int:
        """Remove every message below ``seq``; the next first sequence is ``seq``."""
        self._open_check()
        if seq <= 0:
            return 0
        idx = self._idx
        n = self._drop_range(idx.base, seq - 1, per_msg=False) if idx.msgs else 0
        saved = (self._last_seq, self._last_ts)
        if seq > self._last_seq + 1:
            self._last_seq = seq - 1
            self._hw = max(self._hw, seq - 1)
            if not idx.msgs and not self._commit.group.undo:
                idx.reset(self._hw + 1)
            self._save_seq()
        await self._settle_or_restore(saved)
        return n

    async def _settle_or_restore(self, saved: tuple[int, int]) -> None:
        """Settle; when the commit fails, the last sequence/time go back (sequences stay used)."""
        try:
            await self._settle()
        except StoreError:
            self._last_seq, self._last_ts = saved
            raise

    async def truncate(self, seq: int) -> None:
        """Remove every message above ``seq``; the last sequence becomes ``seq``.

        Sequences above ``seq`` are not handed out again (the next message gets
        the sequence after the highest ever assigned; the gap counts as deleted).
        """
        self._open_check()
        if seq >= self._last_seq:
            return
        idx = self._idx
        saved = (self._last_seq, self._last_ts)
        self._drop_range(max(seq + 1, 1), self._hw, per_msg=False)
        self._last_seq = seq
        if idx.base <= seq < idx.end:
            self._last_ts = idx.ts[seq - idx.base]
        self._save_seq()
        await self._settle_or_restore(saved)
