"""Removals of :class:`~natskern.kernel.store.base.LogStore`: delete, purge, compact, truncate.

Every removal goes through the log (``remove``/``remove_range``), is recorded in
the current commit group with what undoes it in the index, and is reported to
the removal callback once committed.  The commit outcome lives here too:
:meth:`Removals._committed` reports removals, recycles subject ids and trims
the columns; :meth:`Removals._rollback` takes a failed group's appends and
removals back out of (or into) the index.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from natskern.kernel.store.api import RemovalCallback, StoreConfig, StoreError, StoreIOError
from natskern.kernel.store.index import DEAD, MsgIndex

if TYPE_CHECKING:
    from natskern.kernel.store.commit import Group, GroupCommitter
    from natskern.kernel.store.log import RecordLog

__all__ = ["Removals"]

logger = logging.getLogger("natskern.store")


def _all(filter_subject: str) -> bool:
    return filter_subject in ("", ">")


class Removals:
    """The removal half of the store (a mixin of ``LogStore``)."""

    #: Dead sequences under the first live one worth freeing from the columns.
    TRIM_MIN = 4096

    config: StoreConfig
    _idx: MsgIndex
    _log: RecordLog
    _ttl: dict[int, int]
    _never: set[int]
    _void: list[tuple[int, int]]
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

    _max_per: int

    def _drop(self, seq: int, *, erase: bool = False, report: bool = True) -> bool:
        """Remove live ``seq`` through the log and the index (the caller settles)."""
        idx = self._idx
        sid = idx.remove(seq)
        if sid == DEAD:
            return False
        self._log.remove(seq, erase=erase)
        g = self._commit.group
        if not g.dirty:  # (a dirty group's commit is scheduled already)
            g = self._commit.mark()
        g.undo.append((seq, sid))
        if seq < g.min_rm:
            g.min_rm = seq
        if report and self._cb is not None:
            g.removed.append((seq, idx.names[sid]))
        return True

    def _drop_oldest_of(self, sid: int) -> None:
        """Remove subject ``sid``'s oldest messages until it is at the per-subject limit.

        What :meth:`Limits._enforce` does for ``max_msgs_per_subject`` (a KV bucket's
        history: one removal per put), with :meth:`_drop` inline.
        """
        idx, log, commit = self._idx, self._log, self._commit
        counts, firsts = idx.sub_count, idx.sub_first
        report = self._cb is not None
        name = idx.names[sid]
        while counts[sid] > self._max_per:
            seq = firsts[sid]
            idx.remove(seq)
            log.remove(seq)
            g = commit.group
            if not g.dirty:
                g = commit.mark()
            g.undo.append((seq, sid))
            if seq < g.min_rm:
                g.min_rm = seq
            if report:
                g.removed.append((seq, name))

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

    # -- commit outcome ---------------------------------------------------------------------

    def _committed(self, g: Group) -> None:
        cb = self._cb
        if cb is not None and g.removed:
            for seq, subject in g.removed:
                try:
                    cb(seq, subject)
                except Exception:
                    logger.exception("removal callback failed")
        idx = self._idx
        staging = self._commit.group
        if idx.sweep_due() and not any(len(op) == 3 for op in staging.undo):
            idx.sweep({op[1] for op in staging.undo})
        if not idx.msgs:
            if not staging.undo:
                idx.reset(self._hw + 1)
            return
        first = idx.first_seq()
        dead = min(first, self._commit.group.min_rm) - idx.base
        if dead > self.TRIM_MIN and dead * 4 > len(idx.live):
            below = idx.base + dead
            idx.trim(below)
            self._ttl = {s: t for s, t in self._ttl.items() if s >= below}
            self._never = {s for s in self._never if s >= below}
            self._void = [v for v in self._void if v[1] >= below]

    def _rollback(self, g: Group, err: StoreIOError) -> None:
        idx = self._idx
        for op in reversed(g.undo):
            if len(op) == 2:
                seq, sid = op
                if seq >= idx.base and not idx.is_live(seq) and not self._voided(seq):
                    idx.restore(seq, sid)
            else:
                start, sids, live = op
                if start >= idx.base:
                    idx.restore_range(start, sids, live)
                    for lo, hi in self._void:
                        for s in list(idx.live_seqs(lo, hi)):
                            idx.remove(s)
        if g.add_lo:
            # (only this group's appends: a later group, staged meanwhile, commits on its own)
            later = self._commit.first_add_after(g)
            hi = later - 1 if later else self._hw
            for s in list(idx.live_seqs(g.add_lo, hi)):
                idx.remove(s)
            self._void.append((g.add_lo, hi))
        logger.error("stream %s: commit failed, writes rolled back: %s", self.config.name, err)

    def _voided(self, seq: int) -> bool:
        return any(lo <= seq <= hi for lo, hi in self._void)
